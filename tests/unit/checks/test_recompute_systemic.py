"""The checker's §7 systemic rule at the threshold's edge (found by ``clp-testnet explore``)."""

from __future__ import annotations

from harness.checks.recompute import evaluate_epoch
from harness.contract.params import ClpParams

COMMITTEE = {"a": 100, "b": 100, "c": 100, "d": 100}


def test_nobody_failing_is_never_systemic_even_at_threshold_zero() -> None:
    params = ClpParams(systemic_fault_bps=0)
    counters = {a: (4, 4) for a in COMMITTEE}
    r = evaluate_epoch(params, 0, COMMITTEE, counters, {}, 0)
    assert r["systemic"] is False


def test_one_failing_at_threshold_zero_is_systemic() -> None:
    params = ClpParams(systemic_fault_bps=0)
    counters = {a: (4, 4) for a in COMMITTEE} | {"d": (4, 0)}
    r = evaluate_epoch(params, 0, COMMITTEE, counters, {}, 0)
    assert r["systemic"] is True and r["slashed_total"] == 0


def test_exactly_the_systemic_share_is_systemic() -> None:
    params = ClpParams(systemic_fault_bps=2500)
    counters = {a: (4, 4) for a in COMMITTEE} | {"d": (4, 0)}
    assert evaluate_epoch(params, 0, COMMITTEE, counters, {}, 0)["systemic"] is True
    params = ClpParams(systemic_fault_bps=2501)
    assert evaluate_epoch(params, 0, COMMITTEE, counters, {}, 0)["systemic"] is False
