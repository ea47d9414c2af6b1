"""Consensus messages, the validator set and commit certificates (CLP_SPEC §8).

Everything here is a value: frozen, integer-only, with a canonical binary sign encoding so
that every node signs and checks exactly the same bytes whatever JSON a peer sent.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeGuard

import msgspec

from clp_node.chain.keys import (
    PUBLIC_KEY_BYTES,
    SIGNATURE_BYTES,
    address_from_public_key,
    is_address,
    verify_signature,
)

HASH_BYTES = 32
VOTE_DOMAIN = b"clp.vote.v1"
PROPOSAL_DOMAIN = b"clp.proposal.v1"
U64_MAX = 2**64 - 1
_HEX = frozenset("0123456789abcdef")


class MalformedMessage(ValueError):
    """A vote or proposal whose wire form is not well formed; the one error the shell catches."""


class InvalidCertificate(ValueError):
    """A commit certificate that does not prove > 2/3 of the stake precommitted the block."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class VoteType(StrEnum):
    PREVOTE = "prevote"
    PRECOMMIT = "precommit"


_VOTE_TYPE_CODE = {VoteType.PREVOTE: 1, VoteType.PRECOMMIT: 2}


# --- canonical sign bytes -------------------------------------------------------------


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _u64(name: str, value: int) -> bytes:
    if not _is_int(value) or not 0 <= value <= U64_MAX:
        raise ValueError(f"{name} must be an integer in 0..2^64-1, got {value!r}")
    return struct.pack(">Q", value)


def _chain_id_field(chain_id: str) -> bytes:
    raw = chain_id.encode("utf-8")
    if len(raw) > 0xFFFF:
        raise ValueError("chain_id is longer than 65535 bytes")
    return struct.pack(">H", len(raw)) + raw


def _hash_field(block_hash: bytes | None) -> bytes:
    """Flag byte, u16be length, bytes: nil is ``00 0000`` so it can never equal a real hash."""
    if block_hash is None:
        return b"\x00" + struct.pack(">H", 0)
    if not isinstance(block_hash, bytes) or len(block_hash) != HASH_BYTES:
        raise ValueError(f"block_hash must be {HASH_BYTES} bytes or None")
    return b"\x01" + struct.pack(">H", HASH_BYTES) + block_hash


def vote_sign_bytes(
    chain_id: str, vote_type: VoteType, height: int, round: int, block_hash: bytes | None
) -> bytes:
    """The bytes a validator signs for a vote; chain id and type tag stop cross-replay."""
    return (
        VOTE_DOMAIN
        + _chain_id_field(chain_id)
        + bytes([_VOTE_TYPE_CODE[VoteType(vote_type)]])
        + _u64("height", height)
        + _u64("round", round)
        + _hash_field(block_hash)
    )


def proposal_sign_bytes(
    chain_id: str, height: int, round: int, block_hash: bytes, pol_round: int
) -> bytes:
    """The bytes a proposer signs; the block itself is bound only through its hash."""
    if block_hash is None:
        raise ValueError("a proposal always names a block")
    if not _is_int(pol_round) or pol_round < -1:
        raise ValueError(f"pol_round must be -1 or a round, got {pol_round!r}")
    pol = b"\x00" + _u64("pol_round", 0) if pol_round == -1 else b"\x01" + _u64("pol", pol_round)
    return (
        PROPOSAL_DOMAIN
        + _chain_id_field(chain_id)
        + _u64("height", height)
        + _u64("round", round)
        + _hash_field(block_hash)
        + pol
    )


# --- messages ------------------------------------------------------------------------


def _check_common(height: object, round: object, who: object, signature: object) -> None:
    if not _is_int(height) or not 0 <= height <= U64_MAX:
        raise ValueError(f"height must be a u64, got {height!r}")
    if not _is_int(round) or not 0 <= round <= U64_MAX:
        raise ValueError(f"round must be a u64, got {round!r}")
    if not is_address(who):
        raise ValueError(f"malformed validator address {who!r}")
    if not isinstance(signature, bytes) or len(signature) != SIGNATURE_BYTES:
        raise ValueError(f"signature must be {SIGNATURE_BYTES} bytes")


@dataclass(frozen=True)
class Vote:
    """A prevote or precommit; ``block_hash`` None is a vote for nil."""

    type: VoteType
    height: int
    round: int
    block_hash: bytes | None
    validator: str
    signature: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.type, VoteType):
            raise ValueError(f"vote type must be a VoteType, got {self.type!r}")
        _check_common(self.height, self.round, self.validator, self.signature)
        if self.block_hash is not None and (
            not isinstance(self.block_hash, bytes) or len(self.block_hash) != HASH_BYTES
        ):
            raise ValueError(f"block_hash must be {HASH_BYTES} bytes or None")

    @classmethod
    def create(
        cls,
        chain_id: str,
        vote_type: VoteType,
        height: int,
        round: int,
        block_hash: bytes | None,
        validator: str,
        signer: Callable[[bytes], bytes],
    ) -> Vote:
        sig = signer(vote_sign_bytes(chain_id, vote_type, height, round, block_hash))
        return cls(vote_type, height, round, block_hash, validator, sig)

    def sign_bytes(self, chain_id: str) -> bytes:
        return vote_sign_bytes(chain_id, self.type, self.height, self.round, self.block_hash)

    def verify(self, chain_id: str, public_key: bytes) -> bool:
        return verify_signature(public_key, self.sign_bytes(chain_id), self.signature)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": str(self.type),
            "height": self.height,
            "round": self.round,
            "block_hash": None if self.block_hash is None else self.block_hash.hex(),
            "validator": self.validator,
            "signature": self.signature.hex(),
        }

    @classmethod
    def from_json(cls, data: object) -> Vote:
        if isinstance(data, bytes | bytearray | str):
            return decode_vote_bytes(data)
        return _vote_from_wire(_convert(_as_object(data), VoteWire, "vote"))


@dataclass(frozen=True)
class Proposal:
    """A proposer's signed block for (height, round); ``block`` is opaque to consensus.

    ``block`` takes no part in equality or hashing: the signed ``block_hash`` is what
    identifies the value, and shell blocks need not be hashable.
    """

    height: int
    round: int
    block_hash: bytes
    block: object = field(compare=False)
    pol_round: int
    proposer: str
    signature: bytes

    def __post_init__(self) -> None:
        _check_common(self.height, self.round, self.proposer, self.signature)
        if not isinstance(self.block_hash, bytes) or len(self.block_hash) != HASH_BYTES:
            raise ValueError(f"block_hash must be {HASH_BYTES} bytes")
        if not _is_int(self.pol_round) or not -1 <= self.pol_round < self.round:
            raise ValueError(f"pol_round must be in -1..round-1, got {self.pol_round!r}")

    @classmethod
    def create(
        cls,
        chain_id: str,
        height: int,
        round: int,
        block_hash: bytes,
        block: object,
        pol_round: int,
        proposer: str,
        signer: Callable[[bytes], bytes],
    ) -> Proposal:
        sig = signer(proposal_sign_bytes(chain_id, height, round, block_hash, pol_round))
        return cls(height, round, block_hash, block, pol_round, proposer, sig)

    def sign_bytes(self, chain_id: str) -> bytes:
        return proposal_sign_bytes(
            chain_id, self.height, self.round, self.block_hash, self.pol_round
        )

    def verify(self, chain_id: str, public_key: bytes) -> bool:
        return verify_signature(public_key, self.sign_bytes(chain_id), self.signature)

    def to_json(self, encode_block: Callable[[object], Any] | None = None) -> dict[str, Any]:
        """``encode_block`` makes the shell's block JSON-able; without it the block is kept."""
        return {
            "height": self.height,
            "round": self.round,
            "block_hash": self.block_hash.hex(),
            "block": self.block if encode_block is None else encode_block(self.block),
            "pol_round": self.pol_round,
            "proposer": self.proposer,
            "signature": self.signature.hex(),
        }

    @classmethod
    def from_json(
        cls, data: object, decode_block: Callable[[Any], object] | None = None
    ) -> Proposal:
        """Any exception of ``decode_block`` is reported as MalformedMessage."""
        wire = _convert(_as_object(data), ProposalWire, "proposal")
        return _proposal_from_wire(wire, decode_block)


def encode_message(
    message: Proposal | Vote, encode_block: Callable[[object], Any] | None = None
) -> dict[str, Any]:
    """One JSON shape for the wire, tagged with ``kind`` so the receiver needs no context."""
    if isinstance(message, Vote):
        return {"kind": "vote", **message.to_json()}
    return {"kind": "proposal", **message.to_json(encode_block)}


def decode_message(
    data: object, decode_block: Callable[[Any], object] | None = None
) -> Proposal | Vote:
    d = _as_object(data)
    kind = d.get("kind")
    if kind == "vote":
        return Vote.from_json(d)
    if kind == "proposal":
        return Proposal.from_json(d, decode_block)
    raise MalformedMessage(f"unknown message kind {kind!r}")


# --- the wire schema (msgspec) --------------------------------------------------------
# One typed definition of the JSON shapes, checked in C while decoding: hex of exact
# lengths, u64 integers (never bools or floats). Unknown fields are ignored.

U64 = Annotated[int, msgspec.Meta(ge=0)]  # the upper bound: __post_init__ (int64 limit here)
Hash32Hex = Annotated[str, msgspec.Meta(pattern=f"^[0-9a-f]{{{2 * HASH_BYTES}}}$")]
SignatureHex = Annotated[str, msgspec.Meta(pattern=f"^[0-9a-f]{{{2 * SIGNATURE_BYTES}}}$")]
AddressHex = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{40}$")]


class VoteWire(msgspec.Struct, tag_field="kind", tag="vote"):
    type: Literal["prevote", "precommit"]
    height: U64
    round: U64
    block_hash: Hash32Hex | None
    validator: AddressHex
    signature: SignatureHex


class ProposalWire(msgspec.Struct, tag_field="kind", tag="proposal"):
    height: U64
    round: U64
    block_hash: Hash32Hex
    block: Any
    pol_round: int
    proposer: AddressHex
    signature: SignatureHex


def _convert(data: dict[str, Any], kind: Any, what: str) -> Any:
    try:
        return msgspec.convert(data, kind)
    except msgspec.ValidationError as exc:
        raise MalformedMessage(f"malformed {what}: {exc}") from exc


_VOTE_TYPES = {"prevote": VoteType.PREVOTE, "precommit": VoteType.PRECOMMIT}
_VOTE_DECODER = msgspec.json.Decoder(VoteWire)


def _vote_from_wire(w: VoteWire) -> Vote:
    try:
        return Vote(
            _VOTE_TYPES[w.type],
            w.height,
            w.round,
            None if w.block_hash is None else bytes.fromhex(w.block_hash),
            w.validator,
            bytes.fromhex(w.signature),
        )
    except ValueError as exc:
        raise MalformedMessage(f"malformed vote: {exc}") from exc


def _proposal_from_wire(
    w: ProposalWire, decode_block: Callable[[Any], object] | None = None
) -> Proposal:
    try:
        block = w.block if decode_block is None else decode_block(w.block)
    except Exception as exc:  # the caller's decoder: any failure means bad input
        raise MalformedMessage(f"undecodable block: {exc}") from exc
    try:
        return Proposal(
            w.height,
            w.round,
            bytes.fromhex(w.block_hash),
            block,
            w.pol_round,
            w.proposer,
            bytes.fromhex(w.signature),
        )
    except ValueError as exc:
        raise MalformedMessage(f"malformed proposal: {exc}") from exc


def decode_vote_bytes(raw: bytes | bytearray | str) -> Vote:
    """A vote from its JSON text, parsed and checked in one pass."""
    try:
        return _vote_from_wire(_VOTE_DECODER.decode(raw))
    except msgspec.DecodeError as exc:  # ValidationError included
        raise MalformedMessage(f"malformed vote: {exc}") from exc


def message_from_wire(
    w: VoteWire | ProposalWire, decode_block: Callable[[Any], object] | None = None
) -> Proposal | Vote:
    """The consensus value of an already decoded (typed) wire message."""
    if isinstance(w, VoteWire):
        return _vote_from_wire(w)
    return _proposal_from_wire(w, decode_block)


# --- JSON field helpers --------------------------------------------------------------


def _as_object(data: object) -> dict[str, Any]:
    if isinstance(data, str | bytes | bytearray):
        try:
            data = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise MalformedMessage(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise MalformedMessage("expected a JSON object")
    return data


def _get_str(d: Mapping[str, Any], key: str) -> str:
    value = d.get(key)
    if not isinstance(value, str):
        raise MalformedMessage(f"field {key!r} must be a string")
    return value


def _get_int(d: Mapping[str, Any], key: str) -> int:
    value = d.get(key)
    if not _is_int(value) or not 0 <= value <= U64_MAX:
        raise MalformedMessage(f"field {key!r} must be an integer in 0..2^64-1")
    return value


def _hex_value(key: str, value: object, length: int) -> bytes:
    """Strict lowercase hex of an exact length: ``bytes.fromhex`` alone accepts spaces."""
    if not isinstance(value, str) or len(value) != 2 * length or not set(value) <= _HEX:
        raise MalformedMessage(f"field {key!r} must be {2 * length} lowercase hex characters")
    return bytes.fromhex(value)


def _get_hex(d: Mapping[str, Any], key: str, length: int) -> bytes:
    return _hex_value(key, d.get(key), length)


# --- validator set -------------------------------------------------------------------


class ValidatorSet:
    """The stake-weighted committee of one height; immutable once built."""

    __slots__ = ("_addresses", "_members", "_total")

    def __init__(self, members: Mapping[str, tuple[bytes, int]]) -> None:
        if not members:
            raise ValueError("a validator set needs at least one member")
        checked: dict[str, tuple[bytes, int]] = {}
        for address in sorted(members):
            public_key, power = members[address]
            if not is_address(address):
                raise ValueError(f"malformed validator address {address!r}")
            if not isinstance(public_key, bytes) or len(public_key) != PUBLIC_KEY_BYTES:
                raise ValueError(f"{address}: public key must be {PUBLIC_KEY_BYTES} bytes")
            if address_from_public_key(public_key) != address:
                raise ValueError(f"{address}: address does not match its public key")
            if not _is_int(power) or power <= 0:
                raise ValueError(f"{address}: power must be a positive integer, got {power!r}")
            checked[address] = (public_key, power)
        self._members = checked
        self._addresses = tuple(checked)
        self._total = sum(p for _, p in checked.values())

    @classmethod
    def from_keys(cls, entries: Mapping[bytes, int]) -> ValidatorSet:
        """Build from public key -> power, deriving each address."""
        return cls({address_from_public_key(pk): (pk, p) for pk, p in entries.items()})

    @property
    def addresses(self) -> tuple[str, ...]:
        """Members in sorted order: the order proposer rotation uses."""
        return self._addresses

    @property
    def total_power(self) -> int:
        return self._total

    @property
    def quorum_power(self) -> int:
        """Smallest power strictly greater than 2/3 of the total: two quorums share > 1/3."""
        return self._total * 2 // 3 + 1

    @property
    def f_plus_one_power(self) -> int:
        """Smallest power strictly greater than 1/3: any such set holds an honest member."""
        return self._total // 3 + 1

    def power(self, address: str) -> int:
        member = self._members.get(address)
        return 0 if member is None else member[1]

    def public_key(self, address: str) -> bytes:
        return self._members[address][0]

    def contains(self, address: object) -> bool:
        return isinstance(address, str) and address in self._members

    def proposer(self, height: int, round: int) -> str:
        """Plain rotation so consecutive heights always have different proposers (§8 censorship)."""
        return self._addresses[(height + round) % len(self._addresses)]

    def __contains__(self, address: object) -> bool:
        return self.contains(address)

    def __len__(self) -> int:
        return len(self._addresses)

    def __iter__(self) -> Iterator[str]:
        return iter(self._addresses)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ValidatorSet) and self._members == other._members

    def __hash__(self) -> int:
        return hash(tuple((a, pk, p) for a, (pk, p) in self._members.items()))

    def __repr__(self) -> str:
        inner = ", ".join(f"{a[:8]}:{p}" for a, (_, p) in self._members.items())
        return f"ValidatorSet({inner})"

    def to_json(self) -> list[dict[str, Any]]:
        return [
            {"address": a, "public_key": pk.hex(), "power": p}
            for a, (pk, p) in self._members.items()
        ]

    @classmethod
    def from_json(cls, data: object) -> ValidatorSet:
        if isinstance(data, str | bytes | bytearray):
            try:
                data = json.loads(data)
            except (ValueError, RecursionError) as exc:
                raise ValueError(f"validator set is not JSON: {exc}") from exc
        if not isinstance(data, list):
            raise ValueError("validator set must be a JSON list")
        members: dict[str, tuple[bytes, int]] = {}
        for entry in data:
            if not isinstance(entry, dict):
                raise ValueError("validator entry must be an object")
            address = _get_str(entry, "address")
            if address in members:
                raise ValueError(f"validator {address} listed twice")
            power = entry.get("power")
            if not _is_int(power):
                raise ValueError(f"{address}: power must be an integer")
            members[address] = (_get_hex(entry, "public_key", PUBLIC_KEY_BYTES), power)
        return cls(members)


# --- commit certificate --------------------------------------------------------------


@dataclass(frozen=True)
class CommitCertificate:
    """> 2/3 of the stake precommitted ``block_hash`` at (height, round): proof of finality.

    A block carries one so that a node that was away can check the chain it missed.
    """

    height: int
    round: int
    block_hash: bytes
    votes: tuple[Vote, ...]

    @property
    def signers(self) -> tuple[str, ...]:
        return tuple(v.validator for v in self.votes)

    def verify(self, chain_id: str, validator_set: ValidatorSet) -> None:
        """Raise InvalidCertificate unless every vote is a good, distinct member precommit."""
        if not isinstance(self.block_hash, bytes) or len(self.block_hash) != HASH_BYTES:
            raise InvalidCertificate(f"block_hash must be {HASH_BYTES} bytes")
        if not isinstance(self.votes, tuple) or not self.votes:
            raise InvalidCertificate("a certificate needs votes")
        seen: set[str] = set()
        power = 0
        for vote in self.votes:  # cheap checks first, signatures last
            if not isinstance(vote, Vote):
                raise InvalidCertificate("a certificate entry is not a vote")
            if vote.type is not VoteType.PRECOMMIT:
                raise InvalidCertificate(f"vote of {vote.validator} is a {vote.type}")
            if vote.height != self.height:
                raise InvalidCertificate(f"vote of {vote.validator} is for height {vote.height}")
            if vote.round != self.round:
                raise InvalidCertificate(f"vote of {vote.validator} is for round {vote.round}")
            if vote.block_hash != self.block_hash:
                raise InvalidCertificate(f"vote of {vote.validator} is for another block")
            if vote.validator in seen:
                raise InvalidCertificate(f"validator {vote.validator} signed twice")
            if not validator_set.contains(vote.validator):
                raise InvalidCertificate(f"{vote.validator} is not in the validator set")
            seen.add(vote.validator)
            power += validator_set.power(vote.validator)
        if power < validator_set.quorum_power:
            raise InvalidCertificate(
                f"signers hold {power} of {validator_set.total_power} power; "
                f"need {validator_set.quorum_power}"
            )
        for vote in self.votes:
            if not vote.verify(chain_id, validator_set.public_key(vote.validator)):
                raise InvalidCertificate(f"bad signature from {vote.validator}")

    def to_json(self) -> dict[str, Any]:
        return {
            "height": self.height,
            "round": self.round,
            "block_hash": self.block_hash.hex(),
            "votes": [v.to_json() for v in self.votes],
        }

    @classmethod
    def from_json(cls, data: object) -> CommitCertificate:
        """Parse only; call verify() before trusting it."""
        try:
            d = _as_object(data)
            raw_votes = d.get("votes")
            if not isinstance(raw_votes, list):
                raise MalformedMessage("field 'votes' must be a list")
            return cls(
                height=_get_int(d, "height"),
                round=_get_int(d, "round"),
                block_hash=_get_hex(d, "block_hash", HASH_BYTES),
                votes=tuple(Vote.from_json(v) for v in raw_votes),
            )
        except MalformedMessage as exc:
            raise InvalidCertificate(f"malformed certificate: {exc}") from exc
