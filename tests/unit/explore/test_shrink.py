"""Delta debugging against pure oracles: the result still fails and is 1-minimal."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.explore.generate import draw
from harness.explore.shrink import ddmin, drop_last_validator, fewer_epochs, shrink
from harness.explore.tomlout import dumps
from harness.scenario.parse import parse_text


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 50), max_size=30, unique=True), st.data())
def test_ddmin_finds_a_one_minimal_failing_subset(items: list[int], data: Any) -> None:
    culprits = set(data.draw(st.lists(st.sampled_from(items), max_size=3))) if items else set()

    def fails(xs: list[int]) -> bool:
        return culprits <= set(xs)

    out = ddmin(items, fails)
    assert fails(out)
    assert set(out) == culprits  # 1-minimal: every culprit, nothing else
    assert out == [x for x in items if x in out]  # order kept


def test_ddmin_keeps_the_order_of_interacting_steps() -> None:
    def fails(xs: list[str]) -> bool:
        return "kill" in xs and "restart" in xs and xs.index("kill") < xs.index("restart")

    items = ["lazy", "kill", "latency", "clear", "restart", "heal"]
    assert ddmin(items, fails) == ["kill", "restart"]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 1000), st.integers(0, 1000))
def test_shrunk_documents_stay_valid_scenarios(seed: int, index: int) -> None:
    doc = draw(seed, index)
    for smaller in (drop_last_validator(doc), fewer_epochs(doc)):
        if smaller is not None:
            parse_text(dumps(smaller), "smaller.toml")


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 1000), st.integers(0, 1000))
def test_shrink_reaches_the_smallest_testnet_that_fails(seed: int, index: int) -> None:
    doc = draw(seed, index)
    calls: list[int] = []

    def fails(d: dict[str, Any]) -> bool:  # "fails" whenever v0 is lazy at all... or always
        calls.append(1)
        return True

    best, used = shrink(doc, fails, budget=40)
    assert used == len(calls) <= 40
    assert best["steps"] == []
    assert best["run"]["until_epoch"] == 0 or used == 40
    assert best["cluster"]["validators"] == 3 or used == 40
    parse_text(dumps(best), "best.toml")


def test_shrink_keeps_what_the_failure_needs() -> None:
    doc = next(
        d for d in (draw(1, i) for i in range(200)) if any(s["do"] == "kill" for s in d["steps"])
    )

    def fails(d: dict[str, Any]) -> bool:
        return any(s["do"] == "kill" for s in d["steps"])

    best, _ = shrink(doc, fails, budget=60)
    assert [s["do"] for s in best["steps"]] == ["kill"]


def test_shrink_never_exceeds_its_budget() -> None:
    calls: list[int] = []

    def fails(d: dict[str, Any]) -> bool:
        calls.append(1)
        return len(d["steps"]) >= 2

    shrink(draw(1, 4), fails, budget=3)
    assert len(calls) <= 3


def test_dropping_the_other_side_of_a_partition_drops_the_partition() -> None:
    """5 validators, v0..v3 against the unnamed v4: without v4 the step would name one group
    holding everybody, which is no partition (the parser refuses it)."""
    doc = draw(0, 0)
    doc["cluster"]["validators"] = 5
    doc["cluster"].pop("stakes", None)
    split = {"at": {"height": 4}, "do": "partition", "groups": [["v0", "v1", "v2", "v3"]]}
    lazy = {"at": {"height": 5}, "do": "lazy", "node": "v1"}
    doc["steps"] = [split, lazy]
    smaller = drop_last_validator(doc)
    assert smaller is not None and smaller["steps"] == [lazy]
    parse_text(dumps(smaller), "smaller.toml")
