"""Explore draws mixed testnets when asked: reproducibly, in three shapes, and without
changing the rest of the draw; shrinking keeps a drawn mix in step with the validators."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.explore.generate import MIX_SHAPES, draw, draw_mix
from harness.explore.shrink import drop_last_validator
from harness.explore.tomlout import dumps
from harness.node_kinds import KINDS
from harness.scenario.parse import parse_text

BOTH = tuple(KINDS)
seeds = st.integers(min_value=0, max_value=2**32)
indices = st.integers(min_value=0, max_value=10_000)


@settings(max_examples=100, deadline=None)
@given(seeds, indices)
def test_a_draw_with_mixes_is_the_same_draw_plus_maybe_nodes(seed: int, index: int) -> None:
    plain, mixed = draw(seed, index), draw(seed, index, kinds=BOTH)
    assert mixed == draw(seed, index, kinds=BOTH)  # reproducible
    assert "nodes" not in plain["cluster"]
    nodes = mixed["cluster"].pop("nodes", None)
    mixed["description"] = plain["description"]  # it names the mix's shape
    assert mixed == plain
    if nodes is not None:
        assert len(nodes) == plain["cluster"]["validators"] and set(nodes) <= set(BOTH)
        sc = parse_text(dumps(draw(seed, index, kinds=BOTH)), "drawn.toml")
        assert sc.cluster.nodes == tuple(nodes)


def test_every_shape_is_drawn_and_mixes_are_drawn_sometimes() -> None:
    shapes = set()
    mixed = 0
    for index in range(200):
        doc = draw(7, index, kinds=BOTH)
        if "nodes" in doc["cluster"]:
            mixed += 1
            shapes.add(next(s for s in MIX_SHAPES if f"nodes {s}" in doc["description"]))
    assert shapes == set(MIX_SHAPES)
    assert 40 <= mixed <= 120  # MIX_P = 0.4 of 200


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=300_000), min_size=2, max_size=10), seeds)
def test_the_shapes_hold_what_they_say(stakes: list[int], seed: int) -> None:
    rng = random.Random(seed)
    nodes, shape = draw_mix(rng, stakes, BOTH)
    assert len(nodes) == len(stakes)
    if shape == "one_kind":
        assert len(set(nodes)) == 1
    elif shape == "minority":
        counts = sorted(nodes.count(k) for k in set(nodes))
        assert counts == [1, len(stakes) - 1]
    else:  # the stake split as evenly as greedy goes: within the heaviest stake
        held = {k: sum(s for s, n in zip(stakes, nodes, strict=True) if n == k) for k in BOTH}
        assert abs(held[BOTH[0]] - held[BOTH[1]]) <= max(stakes)
        assert set(nodes) == set(BOTH)


def test_shrinking_drops_the_last_validators_kind_too() -> None:
    doc = {
        "cluster": {"validators": 4, "stakes": [1, 2, 3, 4], "nodes": ["python", "rust"] * 2},
        "steps": [],
    }
    smaller = drop_last_validator(doc)
    assert smaller is not None
    assert smaller["cluster"]["nodes"] == ["python", "rust", "python"]
