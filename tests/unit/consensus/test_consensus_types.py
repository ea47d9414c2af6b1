"""Validator set arithmetic, canonical sign bytes, JSON forms and commit certificates."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from consensus_helpers import CHAIN, block, hash_of, make_keys, make_set, precommit, proposal, vote
from hypothesis import given, settings
from hypothesis import strategies as st

from clp_node.chain.keys import ValidatorKey
from clp_node.consensus.types import (
    CommitCertificate,
    InvalidCertificate,
    MalformedMessage,
    Proposal,
    ValidatorSet,
    Vote,
    VoteType,
    decode_message,
    encode_message,
    proposal_sign_bytes,
    vote_sign_bytes,
)

H = hash_of(block("a"))
OTHER = hash_of(block("b"))


# --- quorum arithmetic ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("powers", "quorum", "f_plus_one"),
    [
        ((1, 1, 1), 3, 2),
        ((1, 1, 1, 1), 3, 2),
        ((1,) * 6, 5, 3),  # 4 of 6 is exactly 2/3: not a quorum
        ((1,) * 7, 5, 3),
        ((1, 1, 1, 3), 5, 3),
        ((100, 100, 100), 201, 101),  # 200 is exactly 2/3
        ((100, 100, 101), 201, 101),  # 201 > 200.67
        ((5,), 4, 2),
    ],
)
def test_quorum_and_f_plus_one(powers: tuple[int, ...], quorum: int, f_plus_one: int) -> None:
    vs = make_set(make_keys(len(powers)), powers)
    assert vs.total_power == sum(powers)
    assert vs.quorum_power == quorum
    assert vs.f_plus_one_power == f_plus_one


@given(st.integers(min_value=1, max_value=10**12))
def test_quorum_is_smallest_power_strictly_above_two_thirds(total: int) -> None:
    vs = make_set(make_keys(1), [total])
    q, f1 = vs.quorum_power, vs.f_plus_one_power
    assert 3 * q > 2 * total >= 3 * (q - 1)
    assert 3 * f1 > total >= 3 * (f1 - 1)
    # two quorums overlap in more than 1/3 of the power: the basis of safety
    assert 2 * q - total >= f1


def test_exactly_two_thirds_certificate_rejected_one_unit_more_accepted() -> None:
    keys = make_keys(3)
    weights = [100, 100, 100]
    vs = make_set(keys, weights)
    cert = CommitCertificate(1, 0, H, tuple(precommit(k, 1, 0, block("a")) for k in keys[:2]))
    with pytest.raises(InvalidCertificate, match="200 of 300"):
        cert.verify(CHAIN, vs)
    heavier = make_set(keys, [100, 101, 100])  # keys[0] + keys[1] = 201 of 301
    cert.verify(CHAIN, heavier)


def test_stake_weighted_certificate_power_not_head_count() -> None:
    keys = make_keys(4)
    vs = make_set(keys, [1, 1, 1, 3])  # total 6, quorum 5
    three_small = CommitCertificate(
        1, 0, H, tuple(precommit(k, 1, 0, block("a")) for k in keys[:3])
    )
    with pytest.raises(InvalidCertificate):
        three_small.verify(CHAIN, vs)  # 3 of 4 validators but only 3 of 6 power
    big_and_two = CommitCertificate(
        1, 0, H, tuple(precommit(k, 1, 0, block("a")) for k in (keys[3], keys[0], keys[1]))
    )
    big_and_two.verify(CHAIN, vs)


# --- validator set ---------------------------------------------------------------------


def test_proposer_rotation_is_sorted_round_robin() -> None:
    keys = make_keys(4)
    vs = make_set(keys, [1, 5, 1, 1])
    assert vs.addresses == tuple(sorted(k.address for k in keys))
    assert vs.proposer(0, 0) == vs.addresses[0]
    assert vs.proposer(1, 0) == vs.addresses[1]
    assert vs.proposer(1, 3) == vs.addresses[0]
    assert vs.proposer(6, 1) == vs.addresses[3]
    # consecutive heights never share a proposer, and every validator proposes once per n
    for h in range(1, 50):
        assert vs.proposer(h, 0) != vs.proposer(h + 1, 0)
        assert {vs.proposer(x, 0) for x in range(h, h + 4)} == set(vs.addresses)


def test_validator_set_rejects_bad_members() -> None:
    a, b = make_keys(2)
    with pytest.raises(ValueError, match="at least one"):
        ValidatorSet({})
    with pytest.raises(ValueError, match="does not match"):
        ValidatorSet({a.address: (b.public_key, 1)})
    with pytest.raises(ValueError, match="positive"):
        ValidatorSet({a.address: (a.public_key, 0)})
    with pytest.raises(ValueError, match="positive"):
        ValidatorSet({a.address: (a.public_key, True)})
    with pytest.raises(ValueError, match="32 bytes"):
        ValidatorSet({a.address: (a.public_key[:31], 1)})


def test_validator_set_queries_and_json_roundtrip() -> None:
    keys = make_keys(3)
    vs = make_set(keys, [1, 2, 3])
    outsider = ValidatorKey.from_seed_text("outsider")
    assert vs.power(keys[2].address) == 3
    assert vs.power(outsider.address) == 0
    assert keys[0].address in vs and vs.contains(keys[0].address)
    assert not vs.contains(outsider.address) and not vs.contains(42)
    assert vs.public_key(keys[1].address) == keys[1].public_key
    assert ValidatorSet.from_json(json.dumps(vs.to_json())) == vs
    assert (
        ValidatorSet.from_keys({k.public_key: p for k, p in zip(keys, [1, 2, 3], strict=True)})
        == vs
    )


# --- sign bytes -------------------------------------------------------------------------


def u64(n: int) -> bytes:
    return n.to_bytes(8, "big")


def test_vote_sign_bytes_layout_is_pinned() -> None:
    got = vote_sign_bytes("abc", VoteType.PRECOMMIT, 5, 2, H)
    assert got == b"clp.vote.v1" + b"\x00\x03abc" + b"\x02" + u64(5) + u64(2) + b"\x01\x00\x20" + H
    nil = vote_sign_bytes("abc", VoteType.PREVOTE, 5, 2, None)
    assert nil == b"clp.vote.v1" + b"\x00\x03abc" + b"\x01" + u64(5) + u64(2) + b"\x00\x00\x00"


def test_proposal_sign_bytes_layout_is_pinned() -> None:
    head = b"clp.proposal.v1" + b"\x00\x03abc" + u64(7) + u64(3) + b"\x01\x00\x20" + H
    assert proposal_sign_bytes("abc", 7, 3, H, -1) == head + b"\x00" + u64(0)
    assert proposal_sign_bytes("abc", 7, 3, H, 1) == head + b"\x01" + u64(1)


def test_sign_bytes_separate_every_field() -> None:
    base = vote_sign_bytes(CHAIN, VoteType.PREVOTE, 1, 0, H)
    variants = [
        vote_sign_bytes("other-chain", VoteType.PREVOTE, 1, 0, H),
        vote_sign_bytes(CHAIN, VoteType.PRECOMMIT, 1, 0, H),
        vote_sign_bytes(CHAIN, VoteType.PREVOTE, 2, 0, H),
        vote_sign_bytes(CHAIN, VoteType.PREVOTE, 1, 1, H),
        vote_sign_bytes(CHAIN, VoteType.PREVOTE, 1, 0, OTHER),
        vote_sign_bytes(CHAIN, VoteType.PREVOTE, 1, 0, None),
    ]
    assert len({base, *variants}) == 7
    assert not proposal_sign_bytes(CHAIN, 1, 0, H, -1).startswith(b"clp.vote")


def test_sign_bytes_reject_out_of_range_fields() -> None:
    with pytest.raises(ValueError):
        vote_sign_bytes(CHAIN, VoteType.PREVOTE, -1, 0, H)
    with pytest.raises(ValueError):
        vote_sign_bytes(CHAIN, VoteType.PREVOTE, 1, 2**64, H)
    with pytest.raises(ValueError):
        vote_sign_bytes(CHAIN, VoteType.PREVOTE, 1, 0, H[:31])
    with pytest.raises(ValueError):
        proposal_sign_bytes(CHAIN, 1, 0, H, -2)


def test_signatures_bind_chain_id_and_signer() -> None:
    a, b = make_keys(2)
    v = vote(a, VoteType.PREVOTE, 1, 0, H)
    assert v.verify(CHAIN, a.public_key)
    assert not v.verify("another-chain", a.public_key)
    assert not v.verify(CHAIN, b.public_key)
    p = proposal(a, 1, 0, block("a"))
    assert p.verify(CHAIN, a.public_key)
    assert not p.verify("another-chain", a.public_key)


def test_message_constructors_reject_malformed_fields() -> None:
    a = make_keys(1)[0]
    sig = bytes(64)
    with pytest.raises(ValueError):
        Vote(VoteType.PREVOTE, 1, 0, H[:5], a.address, sig)
    with pytest.raises(ValueError):
        Vote(VoteType.PREVOTE, 1, 0, H, "NOT-AN-ADDRESS", sig)
    with pytest.raises(ValueError):
        Vote(VoteType.PREVOTE, 1, 0, H, a.address, sig[:10])
    with pytest.raises(ValueError):
        Proposal(1, 2, H, {}, 2, a.address, sig)  # pol_round must be < round
    with pytest.raises(ValueError):
        Proposal(1, 0, H, {}, -2, a.address, sig)


# --- JSON -------------------------------------------------------------------------------


def test_vote_and_proposal_json_roundtrip() -> None:
    a = make_keys(1)[0]
    for v in (vote(a, VoteType.PREVOTE, 3, 1, H), vote(a, VoteType.PRECOMMIT, 3, 1, None)):
        assert Vote.from_json(json.dumps(v.to_json())) == v
        assert decode_message(encode_message(v)) == v
    p = proposal(a, 3, 2, block("x", 3), pol_round=1)
    back = Proposal.from_json(json.loads(json.dumps(p.to_json())))
    assert back == p and back.block == p.block
    enc = p.to_json(encode_block=lambda b: {"wrapped": b})
    dec = Proposal.from_json(enc, decode_block=lambda d: d["wrapped"])
    assert dec.block == p.block
    assert decode_message(encode_message(p)) == p


def _vote_json() -> dict[str, Any]:
    return vote(make_keys(1)[0], VoteType.PREVOTE, 1, 0, H).to_json()


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.pop("signature"),
        lambda d: d.update(type="maybe"),
        lambda d: d.update(height=True),
        lambda d: d.update(height=-1),
        lambda d: d.update(round=1.5),
        lambda d: d.update(round=2**64),
        lambda d: d.update(block_hash=d["block_hash"].upper()),
        lambda d: d.update(block_hash=" " + d["block_hash"][1:]),
        lambda d: d.update(block_hash="ab"),
        lambda d: d.update(signature=d["signature"][:-2]),
        lambda d: d.update(validator=d["validator"].upper()),
        lambda d: d.update(validator=None),
    ],
)
def test_vote_from_json_rejects_malformed(mutate: Any) -> None:
    d = _vote_json()
    mutate(d)
    with pytest.raises(MalformedMessage):
        Vote.from_json(d)


@pytest.mark.parametrize("raw", ["", "{", "[]", "null", "42", b"\xff\xfe", "[" * 100_000])
def test_from_json_rejects_non_objects(raw: str | bytes) -> None:
    with pytest.raises(MalformedMessage):
        Vote.from_json(raw)
    with pytest.raises(MalformedMessage):
        decode_message(raw)
    with pytest.raises(InvalidCertificate):
        CommitCertificate.from_json(raw)


def test_proposal_from_json_rejects_malformed() -> None:
    good = proposal(make_keys(1)[0], 1, 1, block("a")).to_json()
    for key in ("block", "pol_round", "block_hash", "proposer"):
        broken = dict(good)
        del broken[key]
        with pytest.raises(MalformedMessage):
            Proposal.from_json(broken)
    with pytest.raises(MalformedMessage):
        Proposal.from_json({**good, "pol_round": 1})  # not below round 1
    with pytest.raises(MalformedMessage):
        Proposal.from_json({**good, "block_hash": None})

    def boom(_: object) -> object:
        raise KeyError("no such field")

    with pytest.raises(MalformedMessage, match="undecodable"):
        Proposal.from_json(good, decode_block=boom)
    with pytest.raises(MalformedMessage):
        decode_message({**good, "kind": "gossip"})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=70),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=20,
)


@settings(max_examples=150)
@given(json_values, st.dictionaries(st.sampled_from(list(_vote_json())), json_values, max_size=4))
def test_parsers_only_raise_their_own_error(junk: object, overrides: dict[str, object]) -> None:
    """Hostile JSON never escapes as KeyError/TypeError/etc. from any parser."""
    near_valid = {**_vote_json(), **overrides}
    for data in (junk, near_valid, {**near_valid, "kind": "vote"}):
        with contextlib.suppress(MalformedMessage):
            decode_message(data)
        with contextlib.suppress(MalformedMessage):
            Proposal.from_json(data)
        with contextlib.suppress(InvalidCertificate):
            CommitCertificate.from_json(
                {"height": 1, "round": 0, "block_hash": H.hex(), "votes": [data]}
            )
        with contextlib.suppress(InvalidCertificate):
            CommitCertificate.from_json(data)


# --- certificates -------------------------------------------------------------------------


@pytest.fixture
def four() -> tuple[list[ValidatorKey], ValidatorSet]:
    keys = make_keys(4)
    return keys, make_set(keys)


def _cert(keys: list[ValidatorKey], votes: list[Vote] | None = None) -> CommitCertificate:
    votes = votes if votes is not None else [precommit(k, 2, 1, block("a")) for k in keys[:3]]
    return CommitCertificate(2, 1, H, tuple(votes))


def test_certificate_valid_and_json_roundtrip(
    four: tuple[list[ValidatorKey], ValidatorSet],
) -> None:
    keys, vs = four
    cert = _cert(keys)
    cert.verify(CHAIN, vs)
    back = CommitCertificate.from_json(json.dumps(cert.to_json()))
    assert back == cert
    back.verify(CHAIN, vs)
    assert cert.signers == tuple(k.address for k in keys[:3])


def test_certificate_rejections(four: tuple[list[ValidatorKey], ValidatorSet]) -> None:
    keys, vs = four
    a = block("a")
    outsider = ValidatorKey.from_seed_text("outsider")
    good = [precommit(k, 2, 1, a) for k in keys[:3]]
    forged = Vote(VoteType.PRECOMMIT, 2, 1, H, keys[2].address, good[1].signature)
    cases: dict[str, list[Vote]] = {
        "power": good[:2],
        "height": [*good[:2], precommit(keys[2], 3, 1, a)],
        "round": [*good[:2], precommit(keys[2], 2, 0, a)],
        "another block": [*good[:2], precommit(keys[2], 2, 1, block("b"))],
        "prevote": [*good[:2], vote(keys[2], VoteType.PREVOTE, 2, 1, H)],
        "twice": [good[0], good[1], good[0]],
        "not in the validator set": [*good[:2], precommit(outsider, 2, 1, a)],
        "bad signature": [good[0], good[1], forged],
        "needs votes": [],
    }
    for reason, votes in cases.items():
        with pytest.raises(InvalidCertificate, match=reason):
            _cert(keys, votes).verify(CHAIN, vs)
    with pytest.raises(InvalidCertificate, match="bad signature"):
        _cert(keys).verify("other-chain", vs)
    with pytest.raises(InvalidCertificate, match="32 bytes"):
        CommitCertificate(2, 1, H[:4], tuple(good)).verify(CHAIN, vs)


def test_certificate_from_json_rejects_malformed(
    four: tuple[list[ValidatorKey], ValidatorSet],
) -> None:
    keys, _ = four
    good = _cert(keys).to_json()
    for broken in (
        {**good, "votes": "all of them"},
        {**good, "votes": [{"type": "precommit"}]},
        {**good, "height": "2"},
        {**good, "block_hash": "zz" * 32},
        {k: v for k, v in good.items() if k != "round"},
    ):
        with pytest.raises(InvalidCertificate):
            CommitCertificate.from_json(broken)
