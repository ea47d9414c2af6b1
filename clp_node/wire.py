"""P2P message shapes of the node. Consensus messages travel inside a ``consensus``
envelope (their own ``type`` field names the vote type) and carry Blocks as JSON."""

from __future__ import annotations

from typing import Any

from clp_node.chain.block import Block
from clp_node.consensus.types import (
    CommitCertificate,
    MalformedMessage,
    Proposal,
    Vote,
    decode_message,
    encode_message,
)


def _encode_block(block: object) -> Any:
    assert isinstance(block, Block)
    return block.to_json()


def encode_consensus(message: Proposal | Vote) -> dict[str, Any]:
    return {"type": "consensus", "msg": encode_message(message, _encode_block)}


def decode_consensus(envelope: dict[str, Any]) -> Proposal | Vote:
    if "msg" not in envelope:
        raise MalformedMessage("consensus envelope without 'msg'")
    return decode_message(envelope["msg"], Block.from_json)


def encode_certificate(cert: CommitCertificate) -> dict[str, Any]:
    return cert.to_json()


def decode_certificate(data: object) -> CommitCertificate:
    return CommitCertificate.from_json(data)
