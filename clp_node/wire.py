"""P2P message shapes of the node. Consensus messages travel inside a ``consensus``
envelope (their own ``type`` field names the vote type) and carry Blocks as JSON.

Inbound frames are decoded here, once, with msgspec: a consensus frame is parsed and
checked against its typed schema in one pass (``consensus.types.VoteWire`` /
``ProposalWire``); any other frame becomes a plain dict. Our encoding is canonical (one
writer, fixed key order), so the payload bytes of a consensus frame identify the message:
``frame_digest`` is what the node's duplicate filter and per-peer knowledge are keyed by.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import msgspec

from clp_node.chain.block import Block
from clp_node.consensus.types import (
    CommitCertificate,
    MalformedMessage,
    Proposal,
    ProposalWire,
    Vote,
    VoteWire,
    decode_message,
    encode_message,
    message_from_wire,
)
from clp_node.net.framing import decode_payload

# How every consensus frame we write begins (``encode_consensus`` puts ``type`` first).
CONSENSUS_PREFIX = b'{"type":"consensus",'
DIGEST_BYTES = 16


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


def frame_digest(payload: bytes) -> bytes:
    """Identity of a frame's payload: equal bytes, equal message."""
    return hashlib.blake2b(payload, digest_size=DIGEST_BYTES).digest()


def is_consensus_payload(payload: bytes) -> bool:
    return payload.startswith(CONSENSUS_PREFIX)


class _ConsensusFrame(msgspec.Struct, tag_field="type", tag="consensus"):
    msg: VoteWire | ProposalWire


_CONSENSUS_DECODER = msgspec.json.Decoder(_ConsensusFrame)
_ANY_DECODER = msgspec.json.Decoder()


@dataclass(frozen=True)
class Consensus:
    """A decoded consensus frame; ``digest`` is its payload's ``frame_digest``."""

    message: Proposal | Vote
    digest: bytes


@dataclass(frozen=True)
class Duplicate:
    """A consensus frame already handled (see ``gossip.SeenFrames``): not decoded again."""

    digest: bytes
    height: int


@dataclass(frozen=True)
class MalformedConsensus:
    """A JSON object in a consensus envelope that is not a well-formed vote or proposal."""

    detail: str


def decode_inbound(
    payload: bytes, digest: bytes | None = None
) -> Consensus | MalformedConsensus | dict[str, Any]:
    """One frame's payload -> a consensus message, a malformed one, or another message.

    Raises the framing's FrameError (the connection is closed) for a payload that is not a
    JSON object, exactly as ``decode_payload`` does; a JSON object that breaks a schema is
    the sender's bad message, not a broken frame. ``digest``: the payload's, if known.
    """
    if is_consensus_payload(payload):
        digest = digest if digest is not None else frame_digest(payload)
        try:
            wire = _CONSENSUS_DECODER.decode(payload)
        except msgspec.DecodeError:
            decode_payload(payload)  # FrameError unless it is a JSON object after all
            wire = None
        if wire is not None:
            try:
                message = message_from_wire(wire.msg, Block.from_json)
            except MalformedMessage as exc:
                return MalformedConsensus(str(exc))
            return Consensus(message, digest)
        try:
            return Consensus(decode_consensus(decode_payload(payload)), digest)
        except MalformedMessage as exc:
            return MalformedConsensus(str(exc))
    try:
        value = _ANY_DECODER.decode(payload)
    except msgspec.DecodeError:
        return decode_payload(payload)  # the framing's verdict (or a dict it accepts)
    if not isinstance(value, dict):
        return decode_payload(payload)  # raises FrameNotObject
    return value
