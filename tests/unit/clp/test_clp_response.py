"""ResponseHandler (CLP_SPEC §5): the signed message and the reason codes, in their order."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from nacl.signing import SigningKey, VerifyKey

from clp_node.chain.keys import ValidatorKey
from clp_node.clp.challenge import ChallengeGenerator
from clp_node.clp.response import ResponseHandler
from clp_node.clp.types import ClpChallenge, ClpConfig, ClpResponse, ResponseRejectReason

R = ResponseRejectReason
CHAIN = "clp-unit"
W = 4


def spec_message(chain_id: str, h: int, value: bytes, address: str) -> bytes:
    cid = chain_id.encode()
    raw = (
        b"alphaos.clp.response.v1"
        + struct.pack(">H", len(cid))
        + cid
        + struct.pack(">Q", h)
        + value
        + bytes.fromhex(address)
    )
    return hashlib.blake2b(raw, digest_size=32).digest()


def spec_sign(key: ValidatorKey, chain_id: str, h: int, value: bytes, address: str) -> bytes:
    return SigningKey(key.seed).sign(spec_message(chain_id, h, value, address)).signature


@dataclass
class Env:
    kit: SimpleNamespace
    handler: ResponseHandler
    challenges: dict[int, ClpChallenge]
    committee: list[str]
    outsider: ValidatorKey
    dups: set[tuple[int, str]] = field(default_factory=set)
    dup_calls: list[tuple[int, str]] = field(default_factory=list)
    keys: dict[str, bytes] = field(default_factory=dict)

    def verify(self, response: Any, b: int) -> ResponseRejectReason | None:
        def is_dup(h: int, v: str) -> bool:
            self.dup_calls.append((h, v))
            return (h, v) in self.dups

        return self.handler.verify_response(response, b, self.challenges.get, self.keys, is_dup)

    def respond(self, key: ValidatorKey, h: int = 16) -> ClpResponse:
        return self.handler.create_response(key, self.challenges[h])


@pytest.fixture
def env(kit: SimpleNamespace) -> Env:
    cfg = ClpConfig.test_profile()
    gen = ChallengeGenerator(cfg, CHAIN)
    committee = kit.addrs[:5]
    challenges = {
        14: gen.generate(14, b"\x14" * 32, committee),
        16: gen.generate(16, b"\x16" * 32, committee),
        # epoch 1: the first validator was ejected
        22: gen.generate(22, b"\x22" * 32, committee[1:]),
    }
    keys = {k.address: k.public_key for k in kit.keys}
    return Env(kit, ResponseHandler(cfg, CHAIN), challenges, committee, kit.keys[7], keys=keys)


def test_signature_is_ed25519_over_spec_message(env: Env) -> None:
    key = env.kit.keys[2]
    ch = env.challenges[16]
    r = env.respond(key)
    assert (r.challenge_height, r.validator) == (16, key.address)
    assert r.signature == spec_sign(key, CHAIN, 16, ch.value, key.address)
    VerifyKey(key.public_key).verify(spec_message(CHAIN, 16, ch.value, key.address), r.signature)
    assert env.verify(r, 17) is None


def test_valid_for_every_block_in_window(env: Env) -> None:
    r = env.respond(env.kit.keys[0])
    assert [env.verify(r, b) for b in range(17, 16 + W + 1)] == [None] * W
    assert env.verify(r.to_json(), 20) is None  # JSON from a client is accepted too


def test_independently_signed_response_accepted(env: Env) -> None:
    key = env.kit.keys[3]
    sig = spec_sign(key, CHAIN, 16, env.challenges[16].value, key.address)
    assert (
        env.verify({"challenge_height": 16, "validator": key.address, "signature": sig.hex()}, 18)
        is None
    )


# ---- 1. MALFORMED -----------------------------------------------------------------------


def _good(env: Env) -> dict[str, Any]:
    return env.respond(env.kit.keys[0]).to_json()


@pytest.mark.parametrize("doc", [None, [], "x", 16, b"{}", ("a", "b")])
def test_malformed_non_dict(env: Env, doc: object) -> None:
    assert env.verify(doc, 17) is R.MALFORMED


@pytest.mark.parametrize("missing", ["challenge_height", "validator", "signature"])
def test_malformed_missing_field(env: Env, missing: str) -> None:
    doc = _good(env)
    del doc[missing]
    assert env.verify(doc, 17) is R.MALFORMED


@pytest.mark.parametrize(
    ("fld", "value"),
    [
        ("challenge_height", "16"),
        ("challenge_height", 16.0),
        ("challenge_height", None),
        ("challenge_height", True),
        ("challenge_height", False),
        ("challenge_height", -1),
        ("challenge_height", 2**64),
        ("challenge_height", [16]),
        ("validator", None),
        ("validator", 5),
        ("validator", "AB" * 20),
        ("validator", "ab" * 19),
        ("validator", "ab" * 20 + "a"),
        ("validator", "g" * 40),
        ("validator", "0x" + "a" * 38),
        ("signature", None),
        ("signature", 5),
        ("signature", "ab" * 63),
        ("signature", "ab" * 65),
        ("signature", "ab" * 63 + "a"),
        ("signature", "zz" * 64),
        ("signature", b"\x00" * 64),
        ("signature", "ab" * 63 + " a"),
    ],
)
def test_malformed_field(env: Env, fld: str, value: object) -> None:
    doc = _good(env)
    assert env.verify(doc, 17) is None
    doc[fld] = value
    assert env.verify(doc, 17) is R.MALFORMED


def test_malformed_uppercase_signature_that_would_verify(env: Env) -> None:
    # Hex is lowercase (§0): the same signature bytes in uppercase hex are MALFORMED, not
    # accepted (the Rust core's differential test found the Python core taking them).
    doc = _good(env)
    doc["signature"] = doc["signature"].upper()
    assert env.verify(doc, 17) is R.MALFORMED


def test_malformed_uppercase_validator_of_real_member(env: Env) -> None:
    doc = _good(env)
    doc["validator"] = doc["validator"].upper()
    assert env.verify(doc, 17) is R.MALFORMED


def test_malformed_response_objects(env: Env) -> None:
    good = env.respond(env.kit.keys[0])
    bad = [
        ClpResponse(True, good.validator, good.signature),  # type: ignore[arg-type]
        ClpResponse(-1, good.validator, good.signature),
        ClpResponse(2**64, good.validator, good.signature),
        ClpResponse("16", good.validator, good.signature),  # type: ignore[arg-type]
        ClpResponse(16, good.validator.upper(), good.signature),
        ClpResponse(16, good.validator[:-2], good.signature),
        ClpResponse(16, good.validator, good.signature[:63]),
        ClpResponse(16, good.validator, good.signature + b"\x00"),
        ClpResponse(16, good.validator, good.signature.hex()),  # type: ignore[arg-type]
        ClpResponse(16, good.validator, None),  # type: ignore[arg-type]
    ]
    assert [env.verify(r, 17) for r in bad] == [R.MALFORMED] * len(bad)


def test_malformed_wins_over_every_later_rule(env: Env) -> None:
    # not a challenge height, outsider, would be expired, duplicate... and a short signature
    env.dups.add((15, env.outsider.address))
    doc = {"challenge_height": 15, "validator": env.outsider.address, "signature": "00" * 63}
    assert env.verify(doc, 100) is R.MALFORMED
    assert env.dup_calls == []


# ---- 2. UNKNOWN_CHALLENGE -----------------------------------------------------------------


@pytest.mark.parametrize("h", [0, 1, 15, 17, 18, 19, 20, 21])
def test_unknown_challenge_not_a_challenge_height(env: Env, h: int) -> None:
    r = ClpResponse(h, env.committee[0], b"\x00" * 64)
    assert env.verify(r, h + 1) is R.UNKNOWN_CHALLENGE


@pytest.mark.parametrize("b", [16, 15, 1])
def test_unknown_challenge_h_not_before_b(env: Env, b: int) -> None:
    r = env.respond(env.kit.keys[0])
    assert env.verify(r, b) is R.UNKNOWN_CHALLENGE
    assert env.verify(r, 17) is None


def test_unknown_challenge_when_no_challenge_was_issued(env: Env) -> None:
    # 24 is a challenge height, but this node never issued it (challenge_at -> None).
    r = ClpResponse(24, env.committee[1], b"\x00" * 64)
    assert env.verify(r, 25) is R.UNKNOWN_CHALLENGE


def test_unknown_challenge_wins_over_expired_and_later(env: Env) -> None:
    # h=18 is even but its window crosses the epoch: unknown, even long after (not EXPIRED).
    r = ClpResponse(18, env.outsider.address, b"\x00" * 64)
    env.dups.add((18, env.outsider.address))
    assert env.verify(r, 100) is R.UNKNOWN_CHALLENGE
    assert (
        env.verify(ClpResponse(17, env.outsider.address, b"\x00" * 64), 200) is R.UNKNOWN_CHALLENGE
    )
    assert env.dup_calls == []


# ---- 3. EXPIRED ---------------------------------------------------------------------------


def test_expired_boundary(env: Env) -> None:
    r = env.respond(env.kit.keys[1])
    assert env.verify(r, 16 + W) is None
    assert env.verify(r, 16 + W + 1) is R.EXPIRED
    assert env.verify(r, 10_000) is R.EXPIRED


def test_expired_wins_over_later_rules(env: Env) -> None:
    outsider = env.handler.create_response(env.outsider, env.challenges[16])
    assert env.verify(outsider, 21) is R.EXPIRED
    env.dups.add((16, env.committee[0]))
    assert env.verify(ClpResponse(16, env.committee[0], b"\x00" * 64), 21) is R.EXPIRED
    assert env.dup_calls == []


# ---- 4. NOT_IN_COMMITTEE ------------------------------------------------------------------


def test_not_in_committee(env: Env) -> None:
    r = env.handler.create_response(env.outsider, env.challenges[16])
    assert env.verify(r, 17) is R.NOT_IN_COMMITTEE


def test_not_in_committee_of_the_challenge_epoch(env: Env) -> None:
    first = env.kit.keys[0]
    assert env.verify(env.respond(first, 16), 17) is None
    assert env.verify(env.respond(first, 22), 23) is R.NOT_IN_COMMITTEE
    assert env.verify(env.respond(env.kit.keys[1], 22), 23) is None


def test_not_in_committee_wins_over_duplicate_and_bad_signature(env: Env) -> None:
    env.dups.add((16, env.outsider.address))
    assert env.verify(ClpResponse(16, env.outsider.address, b"\x01" * 64), 17) is R.NOT_IN_COMMITTEE
    assert env.dup_calls == []


def test_member_without_registered_key_is_not_in_committee(env: Env) -> None:
    r = env.respond(env.kit.keys[0])
    del env.keys[r.validator]
    assert env.verify(r, 17) is R.NOT_IN_COMMITTEE


# ---- 5. DUPLICATE -------------------------------------------------------------------------


def test_duplicate(env: Env) -> None:
    r = env.respond(env.kit.keys[2])
    env.dups.add((16, r.validator))
    assert env.verify(r, 17) is R.DUPLICATE
    assert env.dup_calls == [(16, r.validator)]
    # only that (h, validator) pair is a duplicate
    assert env.verify(env.respond(env.kit.keys[2], 14), 17) is None
    assert env.verify(env.respond(env.kit.keys[3]), 17) is None


def test_duplicate_wins_over_bad_signature(env: Env) -> None:
    env.dups.add((16, env.committee[0]))
    assert env.verify(ClpResponse(16, env.committee[0], b"\x01" * 64), 17) is R.DUPLICATE


# ---- 6. BAD_SIGNATURE ---------------------------------------------------------------------


def test_bad_signature_wrong_key(env: Env) -> None:
    victim, signer = env.kit.keys[0], env.kit.keys[1]
    value = env.challenges[16].value
    forged = spec_sign(signer, CHAIN, 16, value, victim.address)
    assert env.verify(ClpResponse(16, victim.address, forged), 17) is R.BAD_SIGNATURE
    # signer's own response relabelled as the victim's
    own = env.respond(signer)
    assert env.verify(ClpResponse(16, victim.address, own.signature), 17) is R.BAD_SIGNATURE


def test_bad_signature_other_chain(env: Env) -> None:
    key = env.kit.keys[0]
    value = env.challenges[16].value
    assert (
        env.verify(ClpResponse(16, key.address, spec_sign(key, CHAIN, 16, value, key.address)), 17)
        is None
    )
    other = ResponseHandler(ClpConfig.test_profile(), "other").create_response(
        key, env.challenges[16]
    )
    assert env.verify(other, 17) is R.BAD_SIGNATURE


def test_bad_signature_other_challenge(env: Env) -> None:
    key = env.kit.keys[0]
    r14 = env.respond(key, 14)
    assert env.verify(ClpResponse(16, key.address, r14.signature), 17) is R.BAD_SIGNATURE
    # same height, different value (a challenge derived from another block hash)
    fork = ChallengeGenerator(ClpConfig.test_profile(), CHAIN).generate(
        16, b"\xff" * 32, env.committee
    )
    r_fork = env.handler.create_response(key, fork)
    assert r_fork.key() == (16, key.address)
    assert env.verify(r_fork, 17) is R.BAD_SIGNATURE


def test_bad_signature_tampered(env: Env) -> None:
    r = env.respond(env.kit.keys[4])
    flipped = bytes([r.signature[0] ^ 1]) + r.signature[1:]
    assert env.verify(ClpResponse(16, r.validator, flipped), 17) is R.BAD_SIGNATURE
    assert env.verify(ClpResponse(16, r.validator, b"\x00" * 64), 17) is R.BAD_SIGNATURE
    assert env.verify(ClpResponse(16, r.validator, b"\xff" * 64), 17) is R.BAD_SIGNATURE
