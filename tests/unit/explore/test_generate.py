"""The generator: every draw is a valid scenario within the spec's ranges, reproducible."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.contract.params import ClpParams as ClpConfig
from harness.explore.generate import (
    challenge_heights,
    draw,
    draw_args,
    draw_stakes,
    kinds_for,
    minority,
    runnable,
    still_live,
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


@pytest.mark.parametrize("backend", ["local", "docker", "swarm"])
def test_every_drawn_fault_is_one_its_kind_takes(backend: str) -> None:
    """Field ranges and rules across fields (a slicer's variation below its average size:
    Toxiproxy panics past it); a refused draw would be a run that errors, not a test."""
    rng, names = random.Random(7), ["v0", "v1", "v2", "v3", "v4"]
    for kind in kinds_for(backend):
        for _ in range(200):
            kind.request(draw_args(rng, kind, names[:3], names), names)


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
        if kind.undone_by is not None:
            assert kind.undone_by in drawn


def test_every_kind_is_drawn_or_an_undo_or_a_mixed_runs() -> None:
    """A kind with no undo is drawn as a one-shot step unless it is itself an undo: the
    byzantine double_sign is drawn (and never undone); heal, restart, reset are not."""
    drawn = {k.name for k in kinds_for("local")}
    undos = {k.undone_by for k in KINDS.values() if k.undone_by not in (None, k.name)}
    assert "double_sign" in drawn and KINDS["double_sign"].undone_by is None
    assert not drawn & {"heal", "clear", "restart", "resume", "active", "reset", "upgrade"}
    for kind in KINDS.values():
        if "local" in kind.backends and kind.name not in drawn:
            named = any(f.type == "implementation" for f in kind.fields)
            assert kind.name in undos or kind.group == "all" or named, kind.name
    docs = [draw(1, i) for i in range(400)]
    signed = [d for d in docs if any(s["do"] == "double_sign" for s in d["steps"])]
    assert signed
    for d in signed:
        stakes = d["cluster"]["stakes"]
        who = {s["node"] for s in d["steps"] if s["do"] == "double_sign"}
        held = sum(stakes[int(n[1:])] for n in who)
        assert 3 * held < sum(stakes)  # one of the minority: agreement must still hold


def test_lazy_pressure_leaves_the_faulty_set_under_a_third_of_the_stake_in_force() -> None:
    """Explore run 47 (seed 1): v1 and v2 lazy from height 1 under a 100 % slash hold no
    stake after epoch 0, and v0, faulty, then holds 1/2 of the rest: the chain stalls where
    the schedule waits for height 7. The lazy validators are dropped until it holds."""
    names, stakes = ["v0", "v1", "v2", "v3"], [100_000] * 4
    assert still_live(["v1", "v2"], ["v0"], names, stakes) == []
    assert still_live(["v1", "v2"], [], names, stakes) == ["v1", "v2"]
    five = ([*names, "v4"], [*stakes, 100_000])
    assert still_live(["v0", "v1", "v2"], ["v0"], *five) == ["v0", "v1"]  # v0 counts once
    steps = draw(1, 47)["steps"]
    assert not [s for s in steps if s["do"] == "lazy" and s["at"] == {"height": 1}]


@settings(deadline=None)  # a loaded machine is no counterexample
@given(st.lists(st.integers(1, 10**6), min_size=4, max_size=10), seeds, st.data())
def test_kept_lazy_validators_leave_the_faulty_minority_under_a_third(
    stakes: list[int], seed: int, data: st.DataObject
) -> None:
    import random

    names = [f"v{i}" for i in range(len(stakes))]
    faulty = minority(random.Random(seed), names, stakes)
    lazy = data.draw(st.lists(st.sampled_from(names), unique=True, max_size=len(names) - 1))
    kept = still_live(lazy, faulty, names, stakes)
    assert kept == lazy[: len(kept)]
    stake = dict(zip(names, stakes, strict=True))
    in_force = sum(stakes) - sum(stake[n] for n in kept if n not in faulty)
    assert 3 * sum(stake[n] for n in faulty) < in_force or not faulty


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
        if kind.undone_by is None:
            continue  # a one-shot step (double_sign)
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
