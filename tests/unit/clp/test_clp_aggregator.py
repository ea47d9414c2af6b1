"""ResponseAggregator (CLP_SPEC §6)."""

from __future__ import annotations

import pytest

from clp_node.clp.aggregator import ResponseAggregator
from clp_node.clp.types import ClpChallenge, ValidatorClpStatus

A, B, C, D = ("aa" * 20, "bb" * 20, "cc" * 20, "dd" * 20)


def ch(h: int, expected: tuple[str, ...] = (A, B, C), w: int = 4) -> ClpChallenge:
    return ClpChallenge(h, (h - 1) // 20, bytes([h]) * 32, h + w, tuple(sorted(expected)))


def run(
    agg: ResponseAggregator, h: int, responders: set[str], expected: tuple[str, ...] = (A, B, C)
) -> dict[str, bool]:
    agg.register_challenge(ch(h, expected))
    for v in sorted(responders):
        assert agg.record_response(h, v) is True
    return agg.finalize_challenge(h)


def st(agg: ResponseAggregator, a: str) -> tuple[int, int, int, int]:
    s = agg.status(a)
    assert s is not None
    return (s.challenges, s.responses, s.missed, s.consecutive_failures)


def test_counters_after_one_challenge() -> None:
    agg = ResponseAggregator()
    agg.start_epoch([A, B, C])
    assert st(agg, A) == (0, 0, 0, 0)
    out = run(agg, 2, {A, C})
    assert out == {A: True, B: False, C: True}
    assert list(out) == [A, B, C]  # address order
    assert st(agg, A) == (1, 1, 0, 0)
    assert st(agg, B) == (1, 0, 1, 1)
    assert st(agg, C) == (1, 1, 0, 0)


def test_finalize_in_address_order_even_if_expected_unsorted() -> None:
    agg = ResponseAggregator()
    agg.register_challenge(ClpChallenge(2, 0, b"\x00" * 32, 6, (C, A, B)))
    agg.record_response(2, B)
    out = agg.finalize_challenge(2)
    assert list(out.items()) == [(A, False), (B, True), (C, False)]


def test_streak_increments_and_resets() -> None:
    agg = ResponseAggregator()
    agg.start_epoch([A, B, C])
    for i, h in enumerate((2, 4, 6), start=1):
        run(agg, h, {A, C})
        assert st(agg, B)[3] == i
    run(agg, 8, {A, B, C})
    assert st(agg, B) == (4, 1, 3, 0)
    run(agg, 10, {A, C})
    assert st(agg, B) == (5, 1, 4, 1)
    assert agg.status(B).rate_bps == 2000  # type: ignore[union-attr]


def test_record_response_refusals() -> None:
    agg = ResponseAggregator()
    agg.register_challenge(ch(2, (A, B)))
    assert agg.record_response(4, A) is False  # unknown challenge
    assert agg.record_response(2, C) is False  # not expected
    assert agg.has_response(2, A) is False
    assert agg.record_response(2, A) is True
    assert agg.has_response(2, A) is True
    assert agg.has_response(2, B) is False
    assert agg.has_response(4, A) is False
    assert agg.record_response(2, A) is False  # duplicate
    out = agg.finalize_challenge(2)
    assert out == {A: True, B: False}
    assert st(agg, A) == (1, 1, 0, 0)  # the duplicate did not count twice
    assert agg.status(C) is None
    # once finalized, the challenge is gone
    assert agg.record_response(2, B) is False
    assert agg.has_response(2, A) is False
    assert agg.challenge(2) is None


def test_register_twice_refused_and_unknown_finalize_empty() -> None:
    agg = ResponseAggregator()
    agg.register_challenge(ch(2))
    with pytest.raises(ValueError, match="2"):
        agg.register_challenge(ch(2))
    assert agg.finalize_challenge(4) == {}
    assert agg.finalize_challenge(2) == {A: False, B: False, C: False}
    assert agg.finalize_challenge(2) == {}
    assert st(agg, A) == (1, 0, 1, 1)


def test_open_challenges_sorted_and_lookup() -> None:
    agg = ResponseAggregator()
    c6, c2, c4 = ch(6), ch(2), ch(4)
    for c in (c6, c2, c4):
        agg.register_challenge(c)
    assert agg.open_challenges() == [c2, c4, c6]
    assert agg.challenge(4) == c4
    assert agg.challenge(3) is None
    agg.finalize_challenge(4)
    assert agg.open_challenges() == [c2, c6]


def test_register_creates_statuses_for_expected() -> None:
    agg = ResponseAggregator()
    agg.register_challenge(ch(2, (B, A)))
    assert agg.status(A) == ValidatorClpStatus(A)
    assert agg.status(C) is None
    assert list(agg.all_statuses()) == [A, B]


def test_start_epoch_resets_counters_keeps_streak() -> None:
    agg = ResponseAggregator()
    agg.start_epoch([A, B, C])
    run(agg, 2, {A})
    run(agg, 4, {A, C})
    assert st(agg, B) == (2, 0, 2, 2)
    assert st(agg, C) == (2, 1, 1, 0)
    agg.start_epoch([A, B, C, D])
    assert st(agg, A) == (0, 0, 0, 0)
    assert st(agg, B) == (0, 0, 0, 2)
    assert st(agg, C) == (0, 0, 0, 0)
    assert st(agg, D) == (0, 0, 0, 0)
    run(agg, 22, {A}, (A, B, C, D))
    assert st(agg, B) == (1, 0, 1, 3)


def test_start_epoch_leaves_non_members_untouched() -> None:
    agg = ResponseAggregator()
    agg.start_epoch([A, B, C])
    run(agg, 2, {A, C})
    agg.start_epoch([A, C])  # B was ejected
    assert st(agg, B) == (1, 0, 1, 1)
    run(agg, 22, {A}, (A, C))
    assert st(agg, B) == (1, 0, 1, 1)


def test_all_statuses_address_order() -> None:
    agg = ResponseAggregator()
    agg.start_epoch([D, B, A, C])
    assert list(agg.all_statuses()) == [A, B, C, D]


def test_status_json_and_rate() -> None:
    s = ValidatorClpStatus(A, challenges=3, responses=2, missed=1, consecutive_failures=1)
    assert s.rate_bps == 6666
    assert ValidatorClpStatus(A).rate_bps == 10_000
    assert s.to_json() == {
        "address": A,
        "challenges": 3,
        "responses": 2,
        "missed": 1,
        "consecutive_failures": 1,
        "rate_bps": 6666,
    }
