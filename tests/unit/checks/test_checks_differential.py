"""Whole chains: the node's ResponseAggregator and PenaltyEvaluator (through its ChainState)
against the checker's recomputation from the same signed blocks.

Hypothesis draws the committee, stakes, CLP parameters (small epochs, every other §2
range with its edges) and which validators leave which challenges unanswered; every
field of every epoch result the node computed must equal the recomputed one.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from harness.checks.recompute import compare_result, recompute
from harness.contract.params import ClpParams

from .history_builder import Net, build

BPS = st.sampled_from([0, 1, 3333, 3334, 5000, 9999, 10_000]) | st.integers(0, 10_000)


@st.composite
def chains(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(4, 7))
    k = draw(st.integers(1, 3))
    w = draw(st.integers(2, 4))
    clp = {
        "epoch_length": k + w + draw(st.integers(0, 8)),
        "challenge_interval": k,
        "response_window": w,
        "min_response_rate_bps": draw(BPS),
        "slash_fraction_bps": draw(BPS),
        "max_consecutive_failures": draw(st.integers(1, 8)),
        "min_stake": draw(st.sampled_from([0, 1000, 50_000, 99_999, 100_000])),
        "min_committee_size": draw(st.integers(3, n)),
        "systemic_fault_bps": draw(BPS),
    }
    stakes = draw(st.lists(st.integers(1, 200_000), min_size=n, max_size=n))
    height = 3 * clp["epoch_length"] + draw(st.integers(0, clp["epoch_length"] - 1))
    # Each validator skips some heights: a response it would include there is left out.
    silent = {
        f"v{i}": draw(st.frozensets(st.integers(1, height), max_size=height))
        if draw(st.booleans())
        else frozenset()
        for i in range(n)
    }
    return {"n": n, "clp": clp, "stakes": stakes, "height": height, "silent": silent}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chains())
def test_recomputed_results_equal_the_nodes(case: dict[str, Any]) -> None:
    net = Net(n=case["n"], stakes=case["stakes"], clp=case["clp"], seed="diff")
    silent = case["silent"]
    built = build(net, case["height"], answering=lambda name, h: h not in silent[name])
    g = net.genesis.to_json()
    out = recompute(
        net.chain_id,
        ClpParams.from_dict(g["clp"]),
        {v["address"]: v["stake"] for v in g["validators"]},
        {v["address"]: bytes.fromhex(v["public_key"]) for v in g["validators"]},
        built.entries,
        {v["address"]: v["name"] for v in g["validators"]},
    )
    assert out.problems == []
    served = built.history.results["v0"]
    assert sorted(out.results) == sorted(served) == [0, 1, 2]
    for epoch, result in out.results.items():
        assert compare_result(result, served[epoch], net.name_of) == [], epoch
        assert result == served[epoch]
        event(
            "systemic" if result["systemic"] else "slashed" if result["slashed_total"] else "clean"
        )
        event("ejections" if result["ejected"] else "no ejection")
