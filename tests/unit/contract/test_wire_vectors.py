"""The worked wire example of docs/protocol.md §16.9, against the reference node's encoder."""

from __future__ import annotations

import json
import re
from pathlib import Path

from clp_node.chain.genesis import Genesis
from clp_node.chain.keys import ValidatorKey, verify_signature
from clp_node.clp.types import ClpConfig
from clp_node.consensus.types import Vote, VoteType, proposal_sign_bytes
from clp_node.net.framing import KEEPALIVE_FRAME, decode_frame, encode_frame
from clp_node.net.handshake import auth_message, hello_message, sign_bytes
from clp_node.wire import decode_inbound, encode_consensus

DOC = Path(__file__).resolve().parents[3] / "docs" / "protocol.md"
CHAIN_ID = "clp-testnet"
DIALER = ValidatorKey(bytes([7]) * 32)
LISTENER = ValidatorKey(bytes([8]) * 32)
DIALER_NONCE = bytes([0x11]) * 32
LISTENER_NONCE = bytes([0x22]) * 32
BLOCK_HASH = bytes(range(32))


def example() -> str:
    """The text of §16.9, up to the next section if any."""
    text = DOC.read_text(encoding="utf-8")
    block = text[text.index("### 16.9 Worked example") :]
    end = block.find("\n## ")
    return block if end == -1 else block[:end]


def documented_hex(label: str) -> str:
    """The hex after ``label`` (a parenthesised note skipped), continuation lines joined."""
    m = re.search(rf"^{re.escape(label)}[^\n]*\n((?:\s+[0-9a-f ]+\n)*)", example(), re.M)
    assert m is not None, label
    first = m.group(0).split("\n", 1)[0][len(label) :]
    first = first.split(")", 1)[-1] if "(" in first else first
    return "".join((first + m.group(1)).split())


def documented_frame(label: str) -> bytes:
    """A frame as the example writes it: ``prefix XXXXXXXX`` then the payload's text."""
    m = re.search(
        rf"^{re.escape(label)}[^\n]*prefix ([0-9a-f]{{8}})[^\n]*\n  (\S+)\n", example(), re.M
    )
    assert m is not None, label
    return bytes.fromhex(m.group(1)) + m.group(2).encode("ascii")


def test_handshake_example_matches_the_encoder() -> None:
    hello = encode_frame(hello_message(CHAIN_ID, DIALER.public_key, DIALER_NONCE))
    assert hello == documented_frame("hello (dialer)")
    assert LISTENER.public_key.hex() == documented_hex("listener key")
    to_sign = sign_bytes(CHAIN_ID, DIALER_NONCE, LISTENER_NONCE, "dialer", DIALER.public_key)
    assert to_sign.hex() == documented_hex("dialer sign bytes")
    signature = DIALER.sign(to_sign)
    assert signature.hex() == documented_hex("dialer signature")
    listener_bytes = sign_bytes(
        CHAIN_ID, DIALER_NONCE, LISTENER_NONCE, "listener", LISTENER.public_key
    )
    listener_sig = bytes.fromhex(documented_hex("listener signature"))
    assert LISTENER.sign(listener_bytes) == listener_sig
    assert verify_signature(LISTENER.public_key, listener_bytes, listener_sig)
    auth, rest = decode_frame(encode_frame(auth_message(signature)))
    assert auth == {"type": "auth", "signature": signature.hex()} and rest == b""
    assert KEEPALIVE_FRAME.hex() == documented_hex("keepalive")


def test_prevote_example_matches_the_encoder_and_decodes() -> None:
    vote = Vote.create(CHAIN_ID, VoteType.PREVOTE, 7, 0, BLOCK_HASH, DIALER.address, DIALER.sign)
    assert vote.sign_bytes(CHAIN_ID).hex() == documented_hex("prevote sign bytes")
    frame = encode_frame(encode_consensus(vote))
    assert frame == documented_frame("prevote (by the dialer's key)")
    decoded = decode_inbound(frame[4:])
    assert getattr(decoded, "message", None) == vote
    assert vote.verify(CHAIN_ID, DIALER.public_key)


def test_proposal_sign_bytes_example() -> None:
    got = proposal_sign_bytes(CHAIN_ID, 7, 1, BLOCK_HASH, 0)
    assert got.hex() == documented_hex("proposal sign bytes")


def test_genesis_hash_example() -> None:
    document = {
        "chain_id": CHAIN_ID,
        "clp": ClpConfig.production().to_dict(),
        "validators": [{"name": "v0", "public_key": DIALER.public_key.hex(), "stake": 100000}],
    }
    genesis = Genesis.from_json(document)
    m = re.search(r"^canonical genesis\n  (\S+)\n", example(), re.M)
    assert m is not None
    canonical = json.dumps(genesis.to_json(), sort_keys=True, separators=(",", ":"))
    assert canonical == m.group(1)
    assert genesis.hash().hex() == documented_hex("genesis hash")
