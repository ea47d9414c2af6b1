"""Blocks and their canonical encoding: the hash every node must compute identically."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from clp_node.chain.keys import address_bytes, is_address
from clp_node.clp.challenge import encode_chain_id, u64be
from clp_node.clp.types import ClpResponse, MalformedResponse

BLOCK_DOMAIN = b"clp.block.v1"
HASH_BYTES = 32
MAX_RESPONSES_PER_BLOCK = 10_000


class MalformedBlock(ValueError):
    """A block document that does not parse; the message names the field."""


@dataclass(frozen=True)
class Block:
    chain_id: str
    height: int
    parent_hash: bytes
    proposer: str
    responses: tuple[ClpResponse, ...] = ()
    time_ms: int = 0
    _hash: bytes = field(default=b"", compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", self._compute_hash())

    @property
    def hash(self) -> bytes:
        return self._hash

    def canonical_bytes(self) -> bytes:
        parts = [
            BLOCK_DOMAIN,
            encode_chain_id(self.chain_id),
            u64be(self.height),
            u64be(self.time_ms),
            self.parent_hash,
            address_bytes(self.proposer),
            len(self.responses).to_bytes(4, "big"),
        ]
        for r in self.responses:
            parts += [u64be(r.challenge_height), address_bytes(r.validator), r.signature]
        return b"".join(parts)

    def _compute_hash(self) -> bytes:
        return hashlib.blake2b(self.canonical_bytes(), digest_size=HASH_BYTES).digest()

    def to_json(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id,
            "height": self.height,
            "time_ms": self.time_ms,
            "parent_hash": self.parent_hash.hex(),
            "proposer": self.proposer,
            "responses": [r.to_json() for r in self.responses],
            "hash": self.hash.hex(),
        }

    @classmethod
    def from_json(cls, data: object) -> Block:
        """Parse an untrusted block; a ``hash`` field, if given, must match the content."""
        if not isinstance(data, dict):
            raise MalformedBlock("a block is a JSON object")
        chain_id = data.get("chain_id")
        if not isinstance(chain_id, str) or not chain_id or len(chain_id.encode()) >= 2**16:
            raise MalformedBlock("chain_id: a non-empty string is required")
        height = data.get("height")
        if not isinstance(height, int) or isinstance(height, bool) or not 1 <= height < 2**64:
            raise MalformedBlock("height: an integer >= 1 is required")
        time_ms = data.get("time_ms", 0)
        if not isinstance(time_ms, int) or isinstance(time_ms, bool) or not 0 <= time_ms < 2**64:
            raise MalformedBlock("time_ms: a non-negative integer is required")
        parent_hash = _hex_field(data, "parent_hash", HASH_BYTES)
        proposer = data.get("proposer")
        if not is_address(proposer):
            raise MalformedBlock("proposer: 40 lowercase hex characters are required")
        assert isinstance(proposer, str)
        raw_responses = data.get("responses", [])
        if not isinstance(raw_responses, list) or len(raw_responses) > MAX_RESPONSES_PER_BLOCK:
            raise MalformedBlock("responses: a list is required")
        try:
            responses = tuple(ClpResponse.from_json(r) for r in raw_responses)
        except MalformedResponse as exc:
            raise MalformedBlock(f"responses: {exc}") from exc
        block = cls(chain_id, height, parent_hash, proposer, responses, time_ms)
        if "hash" in data and data["hash"] != block.hash.hex():
            raise MalformedBlock("hash: does not match the block's content")
        return block


def _hex_field(data: dict[str, Any], name: str, length: int) -> bytes:
    value = data.get(name)
    try:
        raw = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != length:
        raise MalformedBlock(f"{name}: {length * 2} hex characters are required")
    return raw
