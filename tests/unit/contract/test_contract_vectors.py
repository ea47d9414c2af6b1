"""The worked test vector of docs/protocol.md §6, for both implementations."""

from __future__ import annotations

import re
from pathlib import Path

from clp_node.chain.keys import ValidatorKey as NodeKey
from clp_node.clp.challenge import ChallengeGenerator
from clp_node.clp.response import response_message
from harness.contract import formats as fmt
from harness.contract.keys import ValidatorKey

DOC = Path(__file__).resolve().parents[3] / "docs" / "protocol.md"
CHAIN_ID = "clp-testnet"
HEIGHT = 2
BLOCK_HASH = bytes(range(32))
SEED = bytes([7]) * 32


def documented(label: str) -> str:
    """The hex the document gives for ``label`` (continuation lines joined)."""
    text = DOC.read_text(encoding="utf-8")
    block = text[text.index("## 6. Worked test vector") :]
    block = block[: block.index("## 7.")]
    m = re.search(rf"^{re.escape(label)}[^\n]*\n((?:\s+[0-9a-f ]+\n)*)", block, re.MULTILINE)
    assert m is not None, label
    first = m.group(0).split("\n", 1)[0][len(label) :]
    first = first.split(")", 1)[-1] if "(" in first else first
    return "".join((first + m.group(1)).split())


def test_the_document_and_both_implementations_agree() -> None:
    value = fmt.challenge_value(CHAIN_ID, HEIGHT, BLOCK_HASH)
    node_value = ChallengeGenerator.compute_challenge_value(CHAIN_ID, HEIGHT, BLOCK_HASH)
    assert value == node_value
    assert value.hex() == documented("challenge value")
    pre = fmt.CHALLENGE_DOMAIN + fmt.chain_id_field(CHAIN_ID) + fmt.u64be(HEIGHT) + BLOCK_HASH
    assert pre.hex() == documented("challenge preimage")

    key = ValidatorKey(SEED)
    assert key.public_key.hex() == documented("public key")
    assert key.address == documented("address") == NodeKey(SEED).address
    digest = fmt.response_digest(CHAIN_ID, HEIGHT, value, key.address)
    assert digest == response_message(CHAIN_ID, HEIGHT, value, key.address)
    assert digest.hex() == documented("response digest")
    pre = (
        fmt.RESPONSE_DOMAIN
        + fmt.chain_id_field(CHAIN_ID)
        + fmt.u64be(HEIGHT)
        + value
        + bytes.fromhex(key.address)
    )
    assert pre.hex() == documented("response preimage")
    signature = key.sign_response(CHAIN_ID, HEIGHT, value)
    assert signature.hex() == documented("signature")
    assert fmt.verify(key.public_key, digest, signature)
