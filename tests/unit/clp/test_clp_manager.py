"""ClpManager driven directly (without ChainState), and the JSON shape of CLP types."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from clp_node.clp.challenge import ChallengeGenerator
from clp_node.clp.manager import ClpManager
from clp_node.clp.types import ClpConfig, ClpResponse, MalformedResponse, ResponseRejectReason

R = ResponseRejectReason


@pytest.fixture
def mgr(kit: SimpleNamespace) -> ClpManager:
    m = ClpManager(ClpConfig.test_profile(), "m", {k.address: k.public_key for k in kit.keys})
    m.start_epoch(0, dict.fromkeys(kit.addrs[:5], 100_000))
    return m


def test_start_epoch_sets_epoch_and_committee(mgr: ClpManager, kit: SimpleNamespace) -> None:
    assert mgr.epoch == 0
    assert sorted(mgr.statuses()) == kit.addrs[:5]
    mgr.start_epoch(3, {kit.addrs[1]: 5, kit.addrs[0]: 7})
    assert mgr.epoch == 3
    assert mgr.committee == {kit.addrs[0]: 7, kit.addrs[1]: 5}


def test_on_block_finalized(mgr: ClpManager, kit: SimpleNamespace) -> None:
    assert mgr.on_block_finalized(1, b"\x01" * 32) is None
    assert mgr.on_block_finalized(18, b"\x01" * 32) is None
    assert mgr.open_challenges() == []
    ch = mgr.on_block_finalized(2, b"\x02" * 32)
    assert ch is not None
    assert ch.expected == tuple(kit.addrs[:5])
    assert ch.value == ChallengeGenerator.compute_challenge_value("m", 2, b"\x02" * 32)
    assert (ch.height, ch.epoch, ch.deadline) == (2, 0, 6)
    assert mgr.open_challenges() == [ch]
    assert mgr.aggregator.challenge(2) == ch


def test_check_changes_nothing_process_counts(mgr: ClpManager, kit: SimpleNamespace) -> None:
    ch = mgr.on_block_finalized(2, b"\x02" * 32)
    assert ch is not None
    r = mgr.handler.create_response(kit.keys[0], ch)
    assert mgr.check_response(r, 3) is None
    assert mgr.check_response(r, 3) is None
    assert not mgr.aggregator.has_response(2, r.validator)
    assert mgr.check_response(r, 3, {(2, r.validator)}) is R.DUPLICATE
    assert mgr.check_response(r.to_json(), 3, frozenset({(2, kit.addrs[1])})) is None
    assert mgr.process_response(r, 3) is None
    assert mgr.aggregator.has_response(2, r.validator)
    assert mgr.check_response(r, 4) is R.DUPLICATE
    assert mgr.process_response(r, 4) is R.DUPLICATE
    outsider = mgr.handler.create_response(kit.keys[9], ch)
    assert mgr.process_response(outsider, 3) is R.NOT_IN_COMMITTEE
    assert not mgr.aggregator.has_response(2, outsider.validator)
    assert mgr.process_response(r, 7) is R.EXPIRED


def test_finalize_expired_and_evaluate(mgr: ClpManager, kit: SimpleNamespace) -> None:
    c2 = mgr.on_block_finalized(2, b"\x02" * 32)
    c4 = mgr.on_block_finalized(4, b"\x04" * 32)
    assert c2 is not None and c4 is not None
    for k in kit.keys[1:5]:
        assert mgr.process_response(mgr.handler.create_response(k, c2), 3) is None
    assert mgr.finalize_expired_challenges(5) == {}
    done = mgr.finalize_expired_challenges(6)
    assert list(done) == [2]
    assert done[2] == {a: a != kit.addrs[0] for a in kit.addrs[:5]}
    assert mgr.open_challenges() == [c4]
    # a late call closes everything whose deadline has passed
    assert list(mgr.finalize_expired_challenges(100)) == [4]
    st = mgr.statuses()[kit.addrs[0]]
    assert (st.challenges, st.responses, st.consecutive_failures) == (2, 0, 2)
    res = mgr.evaluate_epoch(burned_before=5)
    assert res.epoch == 0
    assert res.slashes() == {kit.addrs[0]: 10_000}  # 1 of 5 equal stakes: not systemic
    assert res.burned_total == 10_005


def test_response_json_round_trip_and_order(kit: SimpleNamespace) -> None:
    a, b = kit.addrs[0], kit.addrs[1]
    r = ClpResponse(16, a, bytes(range(64)))
    assert r.key() == (16, a)
    assert r.to_json() == {
        "challenge_height": 16,
        "validator": a,
        "signature": bytes(range(64)).hex(),
    }
    assert ClpResponse.from_json(r.to_json()) == r
    assert sorted(
        [
            ClpResponse(16, b, b"\x00" * 64),
            ClpResponse(18, a, b"\xff" * 64),
            ClpResponse(16, a, b"\xff" * 64),
        ]
    ) == [
        ClpResponse(16, a, b"\xff" * 64),
        ClpResponse(16, b, b"\x00" * 64),
        ClpResponse(18, a, b"\xff" * 64),
    ]


@pytest.mark.parametrize(
    ("doc", "msg"),
    [
        ([], "object"),
        ({}, "challenge_height, validator, signature"),
        ({"challenge_height": 1, "validator": "ab" * 20}, "signature"),
        (
            {"challenge_height": True, "validator": "ab" * 20, "signature": "00" * 64},
            "challenge_height",
        ),
        ({"challenge_height": 2**64, "validator": "ab" * 20, "signature": "00" * 64}, "64 bits"),
        (
            {"challenge_height": 2**64 - 1, "validator": "AB" * 20, "signature": "00" * 64},
            "validator",
        ),
        ({"challenge_height": 1, "validator": "ab" * 20, "signature": "00" * 63}, "signature"),
        (
            {"challenge_height": 1, "validator": "ab" * 20, "signature": "0g" * 64},
            "not lowercase hex",
        ),
        (
            {"challenge_height": 1, "validator": "ab" * 20, "signature": "AB" * 64},
            "not lowercase hex",
        ),
    ],
)
def test_response_from_json_errors(doc: object, msg: str) -> None:
    with pytest.raises(MalformedResponse, match=msg):
        ClpResponse.from_json(doc)


def test_response_from_json_max_height() -> None:
    r = ClpResponse.from_json(
        {"challenge_height": 2**64 - 1, "validator": "ab" * 20, "signature": "00" * 64}
    )
    assert r.challenge_height == 2**64 - 1
