"""Protocol time on a loaded machine: a trigger fires on the first node at its height, and a
step that took effect more than a response window late is noted in the result.

A scripted cluster stands in for the nodes: no process starts here.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness.cluster.base import Cluster as RealCluster
from harness.cluster.base import ProtocolClock, wait_until
from harness.cluster.client import NodeUnavailable
from harness.faults.log import FaultLog, FaultRecord
from harness.faults.state import FaultState
from harness.scenario.parse import parse_file
from harness.scenario.results import ScenarioResult
from harness.scenario.runner import RunOptions, _Run

SCENARIOS = Path(__file__).resolve().parents[3] / "scenarios"


class Node:
    def __init__(self, height: int, delay: float = 0.0, down: bool = False) -> None:
        self.h, self.delay, self.down = height, delay, down
        self.asked = 0

    async def height(self) -> int:
        self.asked += 1
        await asyncio.sleep(self.delay)
        if self.down:
            raise NodeUnavailable("down")
        return self.h


class Cluster:
    def __init__(self, nodes: dict[str, Node]) -> None:
        self.nodes = nodes
        self.names = list(nodes)
        self.clock = ProtocolClock(200, 1000, 20, 4)

    def client(self, name: str) -> Node:
        return self.nodes[name]

    height_of = RealCluster.height_of  # what is under test: the real polling
    first_at = RealCluster.first_at
    heights = RealCluster.heights
    pace = RealCluster.pace
    wait_for_height = RealCluster.wait_for_height

    async def wait_for(self, predicate: Any, timeout: float, what: str) -> Any:
        return await wait_until(predicate, timeout, what, 0.01, retry_on=(NodeUnavailable,))


def _run(tmp_path: Path, nodes: dict[str, Node]) -> _Run:
    run = _Run(parse_file(SCENARIOS / "one-way-partition.toml"), RunOptions(), tmp_path)
    run.cluster = Cluster(nodes)  # type: ignore[assignment]
    return run


async def test_the_trigger_fires_on_the_first_node_without_waiting_for_a_slow_one(
    tmp_path: Path,
) -> None:
    slow = Node(3, delay=30.0)  # a starved node: answers long after the chain moved on
    run = _run(tmp_path, {"v0": Node(5), "v1": Node(2, down=True), "v2": slow})
    assert await asyncio.wait_for(run.chain_reaches(3), timeout=5) == 5


async def test_the_trigger_waits_while_no_node_is_at_the_height(tmp_path: Path) -> None:
    v0 = Node(1)
    run = _run(tmp_path, {"v0": v0})

    async def grow() -> None:
        while v0.asked < 3:
            await asyncio.sleep(0.01)
        v0.h = 4

    grower = asyncio.ensure_future(grow())
    assert await asyncio.wait_for(run.chain_reaches(4), timeout=5) == 4
    await grower
    assert v0.asked >= 3


async def test_the_trigger_is_polled_for_only_from_its_last_blocks(tmp_path: Path) -> None:
    """The wait is paced from the watch's last poll of every node (its top and how long
    ago it asked); with no poll yet it polls at once."""
    run = _run(tmp_path, {"v0": Node(30)})
    paced: list[tuple[int, int, float]] = []

    async def pace(height: int, top: int, budget: float, since: float = 0.0) -> float:
        paced.append((height, top, since))
        return 0.0

    cluster: Any = run.cluster
    cluster.pace = pace
    assert await run.chain_reaches(30) == 30
    assert paced == []
    run.trace.append({"t": 0.0, "heights": {"v0": 10}})  # the watch's last poll, 2 s ago
    run._asked_at = time.monotonic() - 2.0
    assert await run.chain_reaches(30) == 30
    [(height, top, since)] = paced
    assert (height, top) == (30, 10) and 2.0 <= since < 3.0


async def test_pacing_counts_the_time_since_the_nodes_were_asked(tmp_path: Path) -> None:
    """Height 30 is 19 block intervals (3.8 s) after height 10 at the earliest; asked 3.3 s
    ago, with two blocks (0.4 s) of lead, 0.1 s are left to sleep."""
    cluster: Any = Cluster({"v0": Node(10)})
    assert await cluster.pace(30, 10, 60.0, since=3.3) == pytest.approx(0.1)
    assert await cluster.pace(30, 10, 60.0, since=10.0) == 0.0
    assert await cluster.pace(30, 10, 0.05, since=3.3) == 0.05  # never past the budget


async def test_an_old_poll_does_not_hold_the_trigger(tmp_path: Path) -> None:
    v0 = Node(30)
    run = _run(tmp_path, {"v0": v0})
    run.trace.append({"t": 0.0, "heights": {"v0": 0}})
    run._asked_at = time.monotonic() - 60.0  # long ago: the chain may be anywhere now
    assert await asyncio.wait_for(run.chain_reaches(30), timeout=5) == 30
    assert v0.asked == 1


@pytest.mark.parametrize(
    ("height", "top", "seconds"),
    [(11, 10, 0.0), (10, 10, 0.0), (3, 8, 0.0), (12, 10, 0.2), (30, 0, 5.8)],
)
def test_every_height_after_the_next_takes_a_block_interval_at_least(
    height: int, top: int, seconds: float
) -> None:
    assert ProtocolClock(200, 1000, 20, 4).earliest(height, top) == pytest.approx(seconds)


async def test_a_wait_for_a_far_height_polls_only_from_two_blocks_before_it_can_hold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    v0 = Node(10)
    cluster = Cluster({"v0": v0})
    slept: list[tuple[float, int]] = []
    real_sleep = asyncio.sleep

    async def sleep(seconds: float) -> None:
        if seconds:  # not the scripted node's own zero delay
            slept.append((seconds, v0.asked))
            v0.h = 30  # the chain moved on meanwhile
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    assert await cluster.wait_for_height(30) == {"v0": 30}
    # one poll (height 10), then 19 heights after the next at 200 ms, less 2 blocks of lead
    assert slept[0] == (pytest.approx(19 * 0.2 - 0.4), 1)


async def test_pacing_never_outlasts_the_wait_s_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    cluster = Cluster({"v0": Node(0)})
    assert await cluster.pace(100, 0, budget=1.5) == 1.5
    assert await cluster.pace(100, 99, budget=1.5) == 0.0
    assert slept == [1.5, 0.0]


def _executor(kind: str, height: int | None) -> Any:
    log = FaultLog()
    log.add(FaultRecord(0, kind, {}, height, 0.0, 0.0, FaultState()))
    return SimpleNamespace(nemesis=SimpleNamespace(log=log))


@pytest.mark.parametrize(
    ("kind", "fired", "took", "late"),
    [
        ("mute", 3, 15, 15),  # the links changed 12 blocks after height 3
        ("mute", 4, 6, None),  # within the 4-block response window
        ("mute", 12, 12, 12),  # the trigger itself fired late
        ("restart", 3, 15, None),  # a restart takes seconds by nature: only the trigger counts
        ("restart", 10, 15, 10),
    ],
)
def test_a_step_more_than_a_window_late_gets_a_note(
    tmp_path: Path, kind: str, fired: int, took: int, late: int | None
) -> None:
    run = _run(tmp_path, {"v0": Node(1)})
    step = next(s for s in run.sc.steps if s.action.kind == "mute")
    step = type(step)(step.index, step.line, step.trigger, type(step.action)(kind=kind))
    run._note_late(step, 3, fired, _executor(kind, took), since=0.0)
    assert bool(run.notes) == (late is not None)
    if late is not None:
        assert f"due at height 3 and took effect at height {late}, " in run.notes[0]
        assert "held up" not in run.notes[0]


def test_a_late_step_names_the_harness_loop_s_longest_hold_up_since_the_last_step(
    tmp_path: Path,
) -> None:
    run = _run(tmp_path, {"v0": Node(1)})
    step = next(s for s in run.sc.steps if s.action.kind == "mute")
    run.stalls.note(5.0, 9.0)  # before the previous step: not this one's
    run.stalls.note(12.0, 3.4)
    run._note_late(step, 3, 21, _executor("mute", 21), since=10.0)
    assert "its event loop was held up for 3.4 s at once" in run.notes[0]


@pytest.mark.parametrize(("seconds", "blamed"), [(12.2, True), (0.3, False)])
def test_a_step_made_late_by_a_long_step_before_it_names_that_step(
    tmp_path: Path, seconds: float, blamed: bool
) -> None:
    run = _run(tmp_path, {"v0": Node(1)})
    step = next(s for s in run.sc.steps if s.action.kind == "heal")
    before = ("steps[1] (expect_progress)", seconds)
    run._note_late(step, 41, 68, _executor("heal", 68), since=0.0, before=before)
    named = "steps[1] (expect_progress) before it took 12.2 s" in run.notes[0]
    assert named == blamed
    assert ("the harness fell behind" in run.notes[0]) == (not blamed)


def test_notes_are_kept_in_the_result_and_printed_with_a_failure() -> None:
    r = ScenarioResult("s", "s.toml", 1, "local", notes=["steps[0] (mute) was due at 3"])
    r.finish()
    assert ScenarioResult.from_json(r.to_json()).notes == r.notes
    assert "note: steps[0] (mute) was due at 3" in r.failure_report()
