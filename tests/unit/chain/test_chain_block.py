"""Blocks: canonical encoding and hash, JSON round trip, hostile input."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import replace
from typing import Any

import pytest

from clp_node.chain.block import MAX_RESPONSES_PER_BLOCK, Block, MalformedBlock
from clp_node.clp.types import ClpResponse

P = "ab" * 20
V1, V2 = "01" * 20, "02" * 20
R1 = ClpResponse(16, V1, bytes(range(64)))
R2 = ClpResponse(16, V2, bytes(range(64, 128)))
R3 = ClpResponse(18, V1, b"\x07" * 64)


def block(**kw: Any) -> Block:
    base: dict[str, Any] = {
        "chain_id": "t",
        "height": 17,
        "parent_hash": b"\x11" * 32,
        "proposer": P,
        "responses": (R1, R2),
        "time_ms": 1_700_000_000_123,
    }
    base.update(kw)
    return Block(**base)


def spec_bytes(b: Block) -> bytes:
    cid = b.chain_id.encode()
    out = b"clp.block.v1" + struct.pack(">H", len(cid)) + cid + struct.pack(">Q", b.height)
    out += struct.pack(">Q", b.time_ms)
    out += b.parent_hash + bytes.fromhex(b.proposer) + struct.pack(">I", len(b.responses))
    for r in b.responses:
        out += struct.pack(">Q", r.challenge_height) + bytes.fromhex(r.validator) + r.signature
    return out


def test_canonical_layout_and_hash() -> None:
    for b in (block(), block(responses=()), block(chain_id="é" * 3, height=2**64 - 1, time_ms=0)):
        assert b.canonical_bytes() == spec_bytes(b)
        assert b.hash == hashlib.blake2b(spec_bytes(b), digest_size=32).digest()


def test_hash_stable() -> None:
    assert block().hash == block().hash
    assert block() == block()


@pytest.mark.parametrize(
    "change",
    [
        {"chain_id": "u"},
        {"height": 18},
        {"time_ms": 1_700_000_000_124},
        {"time_ms": 0},
        {"parent_hash": b"\x11" * 31 + b"\x12"},
        {"proposer": "ac" * 20},
        {"responses": (R1,)},
        {"responses": (R1, R2, R3)},
        {"responses": (R2, R1)},
        {"responses": ()},
        {"responses": (R1, replace(R2, signature=b"\x00" * 64))},
        {"responses": (R1, replace(R2, challenge_height=14))},
        {"responses": (R1, replace(R2, validator="03" * 20))},
    ],
)
def test_hash_sensitive_to_each_field(change: dict[str, Any]) -> None:
    assert block(**change).hash != block().hash


def test_json_round_trip() -> None:
    for b in (block(), block(responses=())):
        j = b.to_json()
        assert j["hash"] == b.hash.hex()
        assert j["parent_hash"] == (b"\x11" * 32).hex()
        assert j["time_ms"] == 1_700_000_000_123
        assert j["responses"] == [r.to_json() for r in b.responses]
        b2 = Block.from_json(j)
        assert b2 == b and b2.hash == b.hash
        del j["hash"]
        assert Block.from_json(j).hash == b.hash


def test_from_json_optional_keys() -> None:
    j = block(responses=(), time_ms=0).to_json()
    del j["responses"], j["time_ms"]
    assert Block.from_json(j) == block(responses=(), time_ms=0)


def test_from_json_hash_mismatch() -> None:
    j = block().to_json()
    j["hash"] = "00" * 32
    with pytest.raises(MalformedBlock, match="hash"):
        Block.from_json(j)
    j = block().to_json()
    j["height"] = 18  # content changed, stale hash
    with pytest.raises(MalformedBlock, match="hash"):
        Block.from_json(j)


@pytest.mark.parametrize(
    ("fld", "value"),
    [
        ("chain_id", None),
        ("chain_id", ""),
        ("chain_id", 5),
        ("chain_id", "x" * 65536),
        ("height", 0),
        ("height", -1),
        ("height", True),
        ("height", "17"),
        ("height", 2**64),
        ("height", None),
        ("height", 17.0),
        ("time_ms", -1),
        ("time_ms", True),
        ("time_ms", 2**64),
        ("time_ms", "0"),
        ("time_ms", 1.0),
        ("parent_hash", None),
        ("parent_hash", "11" * 31),
        ("parent_hash", "zz" * 32),
        ("parent_hash", 5),
        ("parent_hash", "11" * 33),
        ("proposer", None),
        ("proposer", P.upper()),
        ("proposer", P[:-1]),
        ("responses", "x"),
        ("responses", {}),
        ("responses", [{"challenge_height": 16}]),
        ("responses", [5]),
    ],
)
def test_from_json_malformed(fld: str, value: object) -> None:
    j = block().to_json()
    del j["hash"]
    if value is None:
        del j[fld]
    else:
        j[fld] = value
    with pytest.raises(MalformedBlock, match=fld):
        Block.from_json(j)


def test_from_json_height_bounds_ok() -> None:
    j = block().to_json()
    del j["hash"]
    for h in (1, 2**64 - 1):
        j["height"] = h
        assert Block.from_json(j).height == h


def test_from_json_too_many_responses() -> None:
    j = block().to_json()
    del j["hash"]
    j["responses"] = [R1.to_json()] * (MAX_RESPONSES_PER_BLOCK + 1)
    with pytest.raises(MalformedBlock, match="responses"):
        Block.from_json(j)


@pytest.mark.parametrize("doc", [None, [], "block", 17])
def test_from_json_not_an_object(doc: object) -> None:
    with pytest.raises(MalformedBlock, match="object"):
        Block.from_json(doc)
