"""The report shows each validator's node kind on its lane, and when an upgrade changed it."""

from __future__ import annotations

from typing import Any

from harness.report.svg import render_timeline
from harness.report.timeline import Timeline, kinds_over_time

START = {"v0": "python", "v1": "rust"}


def rec(
    seq: int, kind: str, args: dict[str, Any], kinds: dict[str, str], t: float
) -> dict[str, Any]:
    return {
        "seq": seq,
        "kind": kind,
        "args": args,
        "t_start": t,
        "state": {"implementations": kinds},
    }


def test_the_start_and_every_change_of_kind() -> None:
    faults = [
        rec(
            0,
            "upgrade",
            {"node": "v0", "to": "rust", "from": "python"},
            {**START, "v0": "rust"},
            5.0,
        ),
        rec(1, "kill", {"node": "v1"}, {**START, "v0": "rust"}, 6.0),
        rec(
            2,
            "upgrade",
            {"node": "v1", "to": "python", "from": "rust"},
            {"v0": "rust", "v1": "python"},
            7.0,
        ),
    ]
    assert kinds_over_time(faults) == {
        "v0": [(None, "python"), (5.0, "rust")],  # its start from the first record's "from"
        "v1": [(None, "rust"), (7.0, "python")],
    }
    assert kinds_over_time([]) == {}
    assert kinds_over_time([rec(0, "kill", {"node": "v0"}, {}, 1.0)]) == {}  # an older log


def test_each_lane_names_its_kind_and_marks_the_change() -> None:
    tl = Timeline(["v0", "v1"], 0.0, 10.0)
    tl.kinds = {"v0": [(None, "python"), (5.0, "rust")], "v1": [(None, "rust")]}
    svg = render_timeline(tl)
    assert "python→rust</text>" in svg and ">rust</text>" in svg
    assert svg.count('class="kind-change"') == 1
    assert "runs the rust node from here" in svg
