"""§7 epoch evaluation by the node's PenaltyEvaluator and by the checker's recomputation.

Hypothesis draws committees, stakes, parameters over all of §2's ranges and the epoch's
counters; every field of the two ClpEpochResults must agree.
"""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from clp_node.clp.penalty import PenaltyEvaluator
from clp_node.clp.types import ClpConfig, ValidatorClpStatus
from harness.checks.recompute import evaluate_epoch
from harness.contract.params import ClpParams

from .test_differential_formats import ADDRESSES, edgy, valid_params


@st.composite
def epochs(draw: st.DrawFn) -> dict[str, Any]:
    raw = draw(valid_params())
    n = draw(st.integers(1, 25))
    members = draw(st.lists(ADDRESSES, min_size=n, max_size=n, unique=True))
    stake = edgy(1, 10**15)
    committee = {a: draw(stake) for a in members}
    counters = {}
    streaks = {}
    for a in members:
        challenges = draw(st.integers(0, 40))
        responses = draw(st.integers(0, challenges))
        if challenges or draw(st.booleans()):
            counters[a] = (challenges, responses)
        streaks[a] = draw(st.integers(0, 3 * raw["max_consecutive_failures"]))
    return {
        "params": raw,
        "epoch": draw(st.integers(0, 10**6)),
        "committee": committee,
        "counters": counters,
        "streaks": streaks,
        "burned": draw(st.integers(0, 10**15)),
    }


def both(case: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    node = PenaltyEvaluator(ClpConfig.from_dict(case["params"]))
    statuses = {
        a: ValidatorClpStatus(
            a,
            challenges=ch,
            responses=resp,
            missed=ch - resp,
            consecutive_failures=case["streaks"][a],
        )
        for a, (ch, resp) in case["counters"].items()
    }
    for a, streak in case["streaks"].items():
        statuses.setdefault(a, ValidatorClpStatus(a, consecutive_failures=streak))
    theirs = node.evaluate_epoch(case["epoch"], case["committee"], statuses, case["burned"])
    ours = evaluate_epoch(
        ClpParams.from_dict(case["params"]),
        case["epoch"],
        case["committee"],
        case["counters"],
        case["streaks"],
        case["burned"],
    )
    return theirs.to_json(), ours


NOBODY_FAILS = {
    "params": {**ClpParams.test_profile().to_dict(), "systemic_fault_bps": 0},
    "epoch": 0,
    "committee": {f"{i:040x}": 100_000 for i in range(5)},
    "counters": {f"{i:040x}": (8, 8) for i in range(5)},
    "streaks": {f"{i:040x}": 0 for i in range(5)},
    "burned": 0,
}


@settings(max_examples=400, deadline=None)
@example(NOBODY_FAILS)
@given(epochs())
def test_every_field_of_the_epoch_result_agrees(case: dict[str, Any]) -> None:
    theirs, ours = both(case)
    assert ours == theirs


def test_nobody_failing_is_never_systemic_even_at_threshold_zero() -> None:
    """§7: an epoch in which nobody fails is never systemic, whatever systemic_fault_bps is."""
    theirs, ours = both(NOBODY_FAILS)
    assert ours["systemic"] is False
    assert theirs["systemic"] is False
    assert [v["status"] for v in ours["validators"]] == ["active"] * 5


def test_one_failure_at_threshold_zero_is_systemic_on_both_sides() -> None:
    """With a threshold of 0 any failing stake is systemic: nobody slashed, status active."""
    case = {**NOBODY_FAILS, "counters": {**NOBODY_FAILS["counters"], f"{0:040x}": (8, 0)}}
    theirs, ours = both(case)
    assert ours == theirs
    assert ours["systemic"] is True
    assert ours["slashed_total"] == 0
    assert {v["status"] for v in ours["validators"]} == {"active"}


def test_ejection_tie_break_agrees() -> None:
    """§7 order: consecutive failures desc, stake after the slash asc, address asc; cap 1 of 4."""
    params = {**ClpParams.test_profile().to_dict(), "max_consecutive_failures": 2}
    params |= {"min_committee_size": 3, "systemic_fault_bps": 10_000}
    a, b, c, d = (f"{i:040x}" for i in range(4))
    case = {
        "params": params,
        "epoch": 3,
        "committee": {a: 5000, b: 4000, c: 4000, d: 90_000},
        "counters": {a: (8, 0), b: (8, 0), c: (8, 0), d: (8, 8)},
        "streaks": {a: 8, b: 8, c: 8, d: 0},
        "burned": 7,
    }
    theirs, ours = both(case)
    assert ours == theirs
    assert ours["ejected"] == [b]  # same streak as a and c; b and c least stake; b by address
    status = {v["address"]: v["status"] for v in ours["validators"]}
    assert status == {a: "ejection_deferred", b: "ejected", c: "ejection_deferred", d: "active"}
