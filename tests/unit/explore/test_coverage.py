"""Coverage properties read from a history and a schedule."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.explore import coverage
from harness.explore.generate import draw, kinds_for


def _history(**over: Any) -> dict[str, Any]:
    genesis = [{"address": f"a{i}", "stake": 100} for i in range(4)]
    base: dict[str, Any] = {
        "params": {"epoch_length": 8, "response_window": 2},
        "names": {f"a{i}": f"v{i}" for i in range(4)},
        "genesis": genesis,
        "chains": {},
        "results": {},
        "faults": [],
    }
    return base | over


def _block(h: int, responses: list[int], signers: list[int], rnd: int = 0) -> dict[str, Any]:
    return {
        "height": h,
        "block": {"height": h, "responses": [{"challenge_height": c} for c in responses]},
        "certificate": {"round": rnd, "votes": [{"validator": f"a{i}"} for i in signers]},
    }


def test_blocks_give_last_block_inclusion_smallest_quorum_and_round() -> None:
    chain = [_block(4, [2], [0, 1, 2]), _block(5, [], [0, 1, 2, 3], rnd=1)]
    hit = coverage.observe({"steps": []}, _history(chains={"v0": chain}))
    assert {"response_in_last_block", "smallest_quorum", "round_gt0_commit"} <= hit
    chain = [_block(3, [2], [0, 1, 2, 3])]
    hit = coverage.observe({"steps": []}, _history(chains={"v0": chain}))
    assert not {"response_in_last_block", "smallest_quorum", "round_gt0_commit"} & hit


def test_results_give_slashes_ejections_deferrals_ties_and_systemic() -> None:
    vals = [
        {
            "address": "a1",
            "slashed": 10,
            "status": "ejected",
            "consecutive_failures": 3,
            "stake_after": 90,
        },
        {
            "address": "a2",
            "slashed": 10,
            "status": "ejection_deferred",
            "consecutive_failures": 3,
            "stake_after": 90,
        },
    ]
    results = {
        "v0": {"0": {"systemic": False, "validators": vals, "ejected": ["a1"]}},
        "v1": {"1": {"systemic": True, "validators": [], "ejected": []}},
    }
    faults = [
        {
            "kind": "isolate",
            "args": {"node": "v1"},
            "height": 2,
            "state": {"links_down": ["v1_to_v0"], "killed": []},
        }
    ]
    hit = coverage.observe({"steps": []}, _history(results=results, faults=faults))
    assert {
        "epoch_evaluated",
        "slash",
        "ejection",
        "deferred_ejection",
        "ejection_cap_binding",
        "ejection_tie",
        "systemic_epoch",
        "ejected_while_partitioned",
        "fault_isolate",
    } <= hit


def test_restart_across_an_epoch_boundary() -> None:
    def log(kill: int, restart: int) -> list[dict[str, Any]]:
        return [
            {"kind": "kill", "args": {"node": "v2"}, "height": kill, "state": {}},
            {"kind": "restart", "args": {"node": "v2"}, "height": restart, "state": {}},
        ]

    assert "restart_across_epoch" in coverage.observe({}, _history(faults=log(7, 9)))
    assert "restart_across_epoch" not in coverage.observe({}, _history(faults=log(2, 8)))


def test_forgeries_are_counted_by_reason_code_without_a_history() -> None:
    doc = {
        "steps": [
            {"do": "post_response", "forge": "replay"},
            {"do": "post_response", "forge": "expired"},
        ]
    }
    assert coverage.observe(doc, None) == {"forged_BAD_SIGNATURE", "forged_EXPIRED"}


@settings(deadline=None)  # a loaded machine is no counterexample
@given(st.lists(st.sets(st.sampled_from(sorted(coverage.PROPERTIES))), max_size=20))
def test_summary_lists_exactly_what_never_happened(hits: list[set[str]]) -> None:
    kinds = [k.name for k in kinds_for("local")]
    s = coverage.summary(coverage.tally(hits), len(hits), kinds)
    seen = set().union(*hits) if hits else set()
    assert set(s["never"]) == set(s["counts"]) - seen
    assert "fault_netem" not in s["counts"]  # a kind the local backend cannot inject


def test_schedule_only_coverage_of_a_draw_names_known_properties() -> None:
    for i in range(50):
        assert coverage.observe(draw(2, i), None) <= set(coverage.PROPERTIES)


def _v(kind: str, h: int, r: int, who: int, value: str | None) -> dict[str, Any]:
    return {"type": kind, "height": h, "round": r, "validator": f"a{who}", "block_hash": value}


def test_votes_give_equivocation_and_a_lock_released_by_a_newer_polka() -> None:
    honest = [_v("prevote", 3, 0, i, "aa") for i in range(4)]
    hit = coverage.observe({"steps": []}, _history(votes={"v0": {"votes": honest}}))
    assert not {"equivocation", "lock_released"} & hit
    twice = [*honest, _v("prevote", 3, 0, 2, None)]
    hit = coverage.observe({"steps": []}, _history(votes={"v1": {"votes": twice}}))
    assert "equivocation" in hit and "lock_released" not in hit
    # a0 locks on aa at round 0; bb gets a polka at round 1 and a0 prevotes bb at round 2
    relock = [_v("precommit", 3, 0, 0, "aa"), _v("prevote", 3, 2, 0, "bb")]
    polka = [_v("prevote", 3, 1, i, "bb") for i in (1, 2, 3)]
    hit = coverage.observe({"steps": []}, _history(votes={"v0": {"votes": relock + polka}}))
    assert "lock_released" in hit and "equivocation" not in hit
    hit = coverage.observe({"steps": []}, _history(votes={"v0": {"votes": relock + polka[:2]}}))
    assert "lock_released" not in hit  # 2 of 4 is no polka
    # a relock: a0 precommits bb at round 1 on round 1's polka for bb
    moved = [_v("precommit", 3, 0, 0, "aa"), _v("precommit", 3, 1, 0, "bb")]
    hit = coverage.observe({"steps": []}, _history(votes={"v0": {"votes": moved + polka}}))
    assert "lock_released" in hit
    early = [_v("prevote", 3, 0, i, "bb") for i in (1, 2, 3)]  # bb's polka is not newer
    hit = coverage.observe({"steps": []}, _history(votes={"v0": {"votes": moved + early}}))
    assert "lock_released" not in hit


def _cut(height: int, t: float, *down: str) -> dict[str, Any]:
    return {"kind": "cut", "height": height, "t_start": t, "state": {"links_down": list(down)}}


def test_a_one_way_cut_counts_while_blocks_went_by() -> None:
    chain = [_block(h, [], [0, 1, 2]) for h in range(1, 11)]
    held = [_cut(3, 1.0, "v0_to_v1"), _cut(6, 2.0)]  # v0 -> v1 down for heights 3..6
    assert "one_way_cut_with_traffic" in coverage.observe(
        {"steps": []}, _history(chains={"v0": chain}, faults=held)
    )
    last = [_cut(8, 1.0, "v0_to_v1")]  # the last record: held to the chain's end (10)
    assert "one_way_cut_with_traffic" in coverage.observe(
        {"steps": []}, _history(chains={"v0": chain}, faults=last)
    )


def test_no_one_way_cut_when_both_ways_or_no_block_went_by() -> None:
    chain = [_block(h, [], [0, 1, 2]) for h in range(1, 11)]
    both = [_cut(3, 1.0, "v0_to_v1", "v1_to_v0"), _cut(8, 2.0)]
    brief = [_cut(3, 1.0, "v0_to_v1"), _cut(4, 2.0)]
    for faults in (both, brief):
        hit = coverage.observe({"steps": []}, _history(chains={"v0": chain}, faults=faults))
        assert "one_way_cut_with_traffic" not in hit
