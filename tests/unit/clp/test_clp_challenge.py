"""ChallengeGenerator (CLP_SPEC §4)."""

from __future__ import annotations

import hashlib
import struct

import pytest

from clp_node.clp.challenge import ChallengeGenerator
from clp_node.clp.types import ClpConfig


def spec_value(chain_id: str, h: int, block_hash: bytes) -> bytes:
    """§4 written out independently of the module's helpers."""
    cid = chain_id.encode("utf-8")
    msg = b"alphaos.clp.challenge.v1" + struct.pack(">H", len(cid)) + cid
    msg += struct.pack(">Q", h) + block_hash
    return hashlib.blake2b(msg, digest_size=32).digest()


@pytest.fixture
def gen() -> ChallengeGenerator:
    return ChallengeGenerator(ClpConfig.test_profile(), "t")


@pytest.mark.parametrize(
    ("h", "due"),
    [
        (0, False),
        (1, False),
        (2, True),
        (3, False),
        (16, True),
        (17, False),
        (18, False),
        (19, False),
        (20, False),
        (21, False),
        (22, True),
        (36, True),
        (38, False),
        (40, False),
        (42, True),
    ],
)
def test_should_generate_edges(gen: ChallengeGenerator, h: int, due: bool) -> None:
    assert gen.should_generate(h) is due


def test_should_generate_matches_formula_everywhere() -> None:
    for c in (
        ClpConfig.test_profile(),
        ClpConfig(epoch_length=6, challenge_interval=1, response_window=5),
        ClpConfig.production(),
    ):
        g = ChallengeGenerator(c, "x")
        for h in range(0, 3 * c.epoch_length + 2):
            want = (
                h >= 1
                and h % c.challenge_interval == 0
                and (h - 1) // c.epoch_length == (h + c.response_window - 1) // c.epoch_length
            )
            assert g.should_generate(h) is want, h
        # E >= K + W guarantees at least one challenge per epoch.
        for e in range(3):
            heights = range(c.epoch_first_height(e), c.epoch_last_height(e) + 1)
            assert any(g.should_generate(h) for h in heights)


def test_eight_challenges_per_test_profile_epoch(gen: ChallengeGenerator) -> None:
    assert [h for h in range(0, 41) if gen.should_generate(h)] == [
        2,
        4,
        6,
        8,
        10,
        12,
        14,
        16,
        22,
        24,
        26,
        28,
        30,
        32,
        34,
        36,
    ]


@pytest.mark.parametrize("chain_id", ["t", "clp-testnet-1", "é-net", "x" * 300])
def test_challenge_value_matches_spec_layout(chain_id: str) -> None:
    bh = bytes(range(32))
    for h in (1, 2, 2**32 + 7, 2**64 - 1):
        assert ChallengeGenerator.compute_challenge_value(chain_id, h, bh) == spec_value(
            chain_id, h, bh
        )


def test_challenge_value_known_answer() -> None:
    # Fixed vector: the layout for chain "t", h=16, hash 0xaa*32 hashed by hand.
    msg = b"alphaos.clp.challenge.v1" + b"\x00\x01" + b"t" + (16).to_bytes(8, "big") + b"\xaa" * 32
    want = hashlib.blake2b(msg, digest_size=32).hexdigest()
    assert ChallengeGenerator.compute_challenge_value("t", 16, b"\xaa" * 32).hex() == want
    assert len(bytes.fromhex(want)) == 32


def test_challenge_value_sensitive_to_each_input() -> None:
    bh = b"\x01" * 32
    base = ChallengeGenerator.compute_challenge_value("t", 16, bh)
    variants = {
        ChallengeGenerator.compute_challenge_value("u", 16, bh),
        ChallengeGenerator.compute_challenge_value("tt", 16, bh),
        ChallengeGenerator.compute_challenge_value("t", 18, bh),
        ChallengeGenerator.compute_challenge_value("t", 16 + 2**32, bh),
        ChallengeGenerator.compute_challenge_value("t", 16, b"\x02" + b"\x01" * 31),
        ChallengeGenerator.compute_challenge_value("t", 16, b"\x01" * 31 + b"\x00"),
    }
    assert base not in variants
    assert len(variants) == 6


def test_chain_id_too_long_rejected() -> None:
    with pytest.raises(ValueError, match="65535"):
        ChallengeGenerator.compute_challenge_value("x" * 65536, 2, b"\x00" * 32)
    ok = ChallengeGenerator.compute_challenge_value("x" * 65535, 2, b"\x00" * 32)
    assert ok == spec_value("x" * 65535, 2, b"\x00" * 32)


def test_generate_fields() -> None:
    g = ChallengeGenerator(ClpConfig.test_profile(), "chain-7")
    bh = b"\x42" * 32
    committee = ["cc" * 20, "aa" * 20, "bb" * 20]
    ch = g.generate(22, bh, committee)
    assert ch.height == 22
    assert ch.epoch == 1
    assert ch.deadline == 26
    assert ch.expected == ("aa" * 20, "bb" * 20, "cc" * 20)
    assert ch.value == spec_value("chain-7", 22, bh)
    assert ch.to_json() == {
        "height": 22,
        "epoch": 1,
        "value": spec_value("chain-7", 22, bh).hex(),
        "deadline": 26,
        "expected": ["aa" * 20, "bb" * 20, "cc" * 20],
    }
    ch0 = g.generate(16, bh, committee)
    assert (ch0.epoch, ch0.deadline) == (0, 20)


def test_generate_uses_generator_chain_id() -> None:
    bh = b"\x42" * 32
    a = ChallengeGenerator(ClpConfig.test_profile(), "a").generate(2, bh, [])
    b = ChallengeGenerator(ClpConfig.test_profile(), "b").generate(2, bh, [])
    assert a.value != b.value
    assert a.expected == ()


@pytest.mark.parametrize("h", [0, 1, 18, 20])
def test_generate_refuses_when_not_due(gen: ChallengeGenerator, h: int) -> None:
    with pytest.raises(ValueError, match=str(h)):
        gen.generate(h, b"\x00" * 32, ["aa" * 20])
