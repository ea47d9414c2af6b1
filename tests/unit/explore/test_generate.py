"""The generator: every draw is a valid scenario within the spec's ranges, reproducible."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.contract.params import ClpParams as ClpConfig
from harness.explore.generate import (
    challenge_heights,
    draw,
    draw_stakes,
    kinds_for,
    minority,
    runnable,
    undo_step,
)
from harness.explore.tomlout import dumps
from harness.faults.kinds import KINDS
from harness.scenario.parse import parse_text
from harness.scenario.triggers import challenge_heights as runner_challenge_heights

seeds = st.integers(min_value=0, max_value=2**32)
indices = st.integers(min_value=0, max_value=10_000)


@settings(max_examples=200, deadline=None)
@given(seeds, indices)
def test_every_draw_parses_as_a_scenario_within_the_spec_ranges(seed: int, index: int) -> None:
    doc = draw(seed, index)
    sc = parse_text(dumps(doc), "generated.toml")
    cfg = sc.cluster.clp_config()  # ClpConfig validates §2: E >= K + W, W >= 2, bps ...
    assert 3 <= sc.cluster.validators <= 10
    assert cfg.min_committee_size <= sc.cluster.validators
    assert sc.expects == ()  # the checkers are the oracle, never hand-written outcomes
    assert all(s.action.kind in KINDS or s.action.kind == "post_response" for s in sc.steps)


@settings(deadline=None)  # a loaded machine is no counterexample
@given(seeds, indices)
def test_a_draw_depends_only_on_seed_and_index(seed: int, index: int) -> None:
    assert draw(seed, index) == draw(seed, index)


def test_draws_reach_the_parameter_edges() -> None:
    docs = [draw(1, i) for i in range(400)]
    clps = [d["cluster"]["clp"] for d in docs]
    assert any(c["response_window"] == 2 for c in clps)
    assert any(c["epoch_length"] == c["challenge_interval"] + c["response_window"] for c in clps)
    assert {4999, 5000, 5001} <= {c["min_response_rate_bps"] for c in clps}
    assert {3333, 3334, 3335, 0} <= {c["systemic_fault_bps"] for c in clps}
    assert any(len(set(d["cluster"]["stakes"])) == 1 for d in docs)  # ties
    assert {d["cluster"]["validators"] for d in docs} >= {3, 10}


def test_every_local_kind_is_drawn_with_its_undo() -> None:
    drawn = {s["do"] for i in range(400) for s in draw(1, i)["steps"]}
    for kind in kinds_for("local"):
        assert kind.name in drawn
        assert kind.undone_by in drawn


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 3), st.integers(2, 4), st.integers(0, 12), st.integers(0, 3))
def test_challenge_heights_agree_with_the_runner(k: int, w: int, extra: int, epoch: int) -> None:
    e = k + w + extra
    cfg = ClpConfig(epoch_length=e, challenge_interval=k, response_window=w)
    lo, hi = epoch * e + 1, (epoch + 1) * e
    assert challenge_heights(k, w, e, epoch) == runner_challenge_heights(cfg, lo, hi)


@settings(deadline=None)  # a loaded machine is no counterexample
@given(st.lists(st.integers(1, 10**6), min_size=3, max_size=10), seeds)
def test_a_minority_holds_less_than_a_third(stakes: list[int], seed: int) -> None:
    import random

    names = [f"v{i}" for i in range(len(stakes))]
    chosen = minority(random.Random(seed), names, stakes)
    held = sum(s for n, s in zip(names, stakes, strict=True) if n in chosen)
    assert held * 3 < sum(stakes)


@settings(max_examples=300, deadline=None)
@given(seeds, st.integers(3, 10), st.integers(0, 10_000))
def test_threshold_stakes_put_a_set_exactly_on_the_share(seed: int, n: int, bps: int) -> None:
    import random

    rng = random.Random(seed)
    stakes, shape = draw_stakes(rng, n, {"systemic_fault_bps": bps})
    assert len(stakes) == n and all(s >= 1 for s in stakes)
    total = sum(stakes)
    prefix = [sum(stakes[:k]) for k in range(1, n)]
    if shape == "two_thirds":
        assert any(Fraction(p, total) == Fraction(2, 3) for p in prefix)
    if shape == "systemic":
        share = Fraction(min(max(bps, 1), 9999), 10_000)
        assert any(Fraction(p, total) == share for p in prefix)


def test_undo_of_each_kind_is_its_registry_undo() -> None:
    names = ["v0", "v1", "v2", "v3"]
    for kind in kinds_for("local"):
        args = {"node": "v1", "ms": 300} if kind.name == "clock_offset" else {"node": "v1"}
        if kind.name == "cut":
            args = {"from": "v1", "to": "v2"}
        if kind.name == "partition":
            args = {"groups": [["v1"]]}
        if kind.group == "toxics":
            args = {"node": "v1", **{f.name: 1 for f in kind.fields if f.required}}
        undo = undo_step(kind, args)
        assert undo["do"] == kind.undone_by
        KINDS[undo["do"]].request({k: v for k, v in undo.items() if k != "do"}, names)
        if kind.name == "clock_offset":
            assert undo["ms"] == 0


process_steps = st.lists(
    st.tuples(
        st.sampled_from(["kill", "restart", "pause", "resume", "lazy", "active", "isolate"]),
        st.sampled_from(["v0", "v1", "v2"]),
    ),
    max_size=25,
)


@settings(deadline=None)  # a loaded machine is no counterexample
@given(process_steps)
def test_runnable_steps_never_act_on_a_stopped_node(pairs: list[tuple[str, str]]) -> None:
    steps = [{"at": {"height": 1}, "do": do, "node": node} for do, node in pairs]
    out = runnable(steps)
    assert all(s in steps for s in out)
    killed: set[str] = set()
    paused: set[str] = set()
    for s in out:
        do, node = s["do"], s["node"]
        if do == "restart":
            killed.discard(node)
            paused.discard(node)
        elif do == "resume":
            assert node in paused
            paused.discard(node)
        elif do in ("kill", "pause", "lazy", "active"):
            assert node not in killed | paused
            (killed if do == "kill" else paused if do == "pause" else set()).add(node)
