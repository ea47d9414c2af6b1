"""``clp-testnet explore``: bad input exits 2 in one line; the loop with a scripted runner.

The loop tests replace ``run_doc`` with a scripted one, so no node process starts here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import harness.explore.explorer as explorer
from harness.cli import main
from harness.commands.explore import parse_duration
from harness.explore.generate import Doc
from harness.explore.steer import STEER_LAG
from harness.scenario.results import CheckOutcome, ScenarioResult


def test_durations() -> None:
    assert parse_duration("90") == 90
    assert parse_duration("90s") == 90
    assert parse_duration("10m") == 600
    assert parse_duration("1.5h") == 5400
    for bad in ("", "x", "10d", "0", "-1m"):
        with pytest.raises(ValueError):
            parse_duration(bad)


@pytest.mark.parametrize(
    "args",
    [
        ["--runs", "0"],
        ["--seed", "-1"],
        ["--time-budget", "soon"],
        ["--max-failures", "0"],
        ["--jobs", "0"],
        ["--replay", "/nonexistent/run"],
    ],
)
def test_bad_input_exits_2_with_one_line(args: list[str], capsys: Any) -> None:
    assert main(["explore", *args]) == 2
    err = capsys.readouterr()
    text = (err.out + err.err).strip()
    assert "clp-testnet explore: error:" in text and "Traceback" not in text


def _scripted(failing: set[int], flaky: set[int], check: str | None = None) -> Any:
    """A run_doc that fails draws whose index is in ``failing`` (and, for ``flaky``, only
    the first time, with a liveness failure unless ``check`` says otherwise), and any shrink
    candidate that still has a lazy step."""
    seen: dict[str, int] = {}

    async def run_doc(
        doc: Doc, run_dir: Path, seed: int, backend: str, node: str = "python"
    ) -> ScenarioResult:
        run_dir.mkdir(parents=True, exist_ok=True)
        index = int(doc["name"].split("-")[2])
        seen[doc["name"]] = seen.get(doc["name"], 0) + 1
        bad = index in failing and (index not in flaky or seen[doc["name"]] == 1)
        if "shrink-" in run_dir.name:
            bad = bad and bool(doc["steps"])
        r = ScenarioResult(doc["name"], str(run_dir / "scenario.toml"), seed, backend, node=node)
        verdict = "fail" if bad else "pass"
        name = check or ("liveness" if index in flaky else "accountability")
        r.checks = [CheckOutcome(name, verdict, ["recomputed != served", "more evidence"])]
        r.finish()
        return r

    return run_doc


def test_loop_triages_shrinks_and_summarises(tmp_path: Path, monkeypatch: Any, capsys: Any) -> None:
    monkeypatch.setattr(explorer, "run_doc", _scripted(failing={1, 2}, flaky={2}))
    code = main(["explore", "--seed", "1", "--runs", "4", "--out", str(tmp_path), "--json"])
    out = capsys.readouterr()
    doc = json.loads(out.out)
    assert code == 1
    assert doc["runs"] == 4 and doc["passed"] == 2 and doc["flaky"] == 1
    real = [f for f in doc["failures"] if not f["flaky"]]
    assert [f["index"] for f in real] == [1]
    assert real[0]["reproduced"] == 1 and real[0]["signature"] == ["accountability"]
    shrunk = Path(real[0]["shrunk_file"])
    text = shrunk.read_text()
    assert shrunk.is_file() and "check accountability failed: recomputed != served" in text
    assert "more evidence" not in text  # the first evidence only
    assert "never happened" in out.err
    assert "coverage" in doc and "never" in doc["coverage"]
    assert (Path(real[0]["run_dir"]) / "failure.txt").is_file()


def test_a_safety_failure_is_never_flaky(tmp_path: Path, monkeypatch: Any, capsys: Any) -> None:
    """An accountability failure no replay shows again is still a failure: reported with its
    run folder, replayed more often than a liveness one, and the exit code says so."""
    monkeypatch.setattr(explorer, "run_doc", _scripted({1}, {1}, check="accountability"))
    code = main(["explore", "--seed", "1", "--runs", "2", "--out", str(tmp_path), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and doc["flaky"] == 0
    [failure] = doc["failures"]
    assert failure["safety"] and not failure["flaky"] and failure["reproduced"] == 0
    assert failure["replays"] == explorer.SAFETY_REPLAYS > explorer.REPLAYS
    assert failure["shrunk_file"] is None
    assert (Path(failure["run_dir"]) / "failure.txt").is_file()


def test_max_failures_stops_the_loop(tmp_path: Path, monkeypatch: Any, capsys: Any) -> None:
    monkeypatch.setattr(explorer, "run_doc", _scripted(failing={0}, flaky=set()))
    args = ["explore", "--runs", "5", "--max-failures", "1", "--shrink-budget", "0"]
    assert main([*args, "--out", str(tmp_path), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["runs"] == 1


def _stable(doc: dict[str, Any]) -> dict[str, Any]:
    """The summary without what differs between two explorations: folders and time."""
    timing = ("out_dir", "duration_s", "runs_per_10_min", "reached_after_s")
    keep = {k: v for k, v in doc.items() if k not in timing}
    keep["failures"] = [
        {k: v for k, v in f.items() if k not in ("run_dir", "shrunk_file")} for f in doc["failures"]
    ]
    return keep


def test_jobs_run_testnets_together_with_the_same_summary(
    tmp_path: Path, monkeypatch: Any, capsys: Any
) -> None:
    """--jobs N starts N runs at once; the judged runs and the summary are those of --jobs 1,
    and never more runs than --runs (7 runs in batches of 3: 3, 3, 1)."""
    import asyncio

    running, most = [0], [0]
    scripted = _scripted(failing={4}, flaky=set())

    async def counted(
        doc: Doc, run_dir: Path, seed: int, backend: str, node: str
    ) -> ScenarioResult:
        running[0] += 1
        most[0] = max(most[0], running[0])
        await asyncio.sleep(0)  # let the other runs of the batch start
        try:
            return await scripted(doc, run_dir, seed, backend, node)
        finally:
            running[0] -= 1

    monkeypatch.setattr(explorer, "run_doc", counted)
    base = ["explore", "--seed", "3", "--runs", "7", "--shrink-budget", "2", "--json"]
    assert main([*base, "--jobs", "3", "--out", str(tmp_path / "j3")]) == 1
    together = json.loads(capsys.readouterr().out)
    assert most[0] == 3
    most[0] = 0
    assert main([*base, "--out", str(tmp_path / "j1")]) == 1
    alone = json.loads(capsys.readouterr().out)
    assert most[0] == 1
    assert together["runs"] == 7 and _stable(together) == _stable(alone)


def test_steered_runs_are_the_same_whatever_jobs_is(
    tmp_path: Path, monkeypatch: Any, capsys: Any
) -> None:
    """Past the steering lag, every second run aims at a property not reached in the runs
    judged before it; the aims read only runs that every --jobs has judged by then."""
    scripted = _scripted(failing=set(), flaky=set())
    seen: dict[str, Doc] = {}

    async def keeping(
        doc: Doc, run_dir: Path, seed: int, backend: str, node: str
    ) -> ScenarioResult:
        seen[doc["name"]] = doc
        return await scripted(doc, run_dir, seed, backend, node)

    monkeypatch.setattr(explorer, "run_doc", keeping)
    base = ["explore", "--seed", "5", "--runs", "18", "--json"]
    assert main([*base, "--jobs", "5", "--out", str(tmp_path / "j5")]) == 0
    together = json.loads(capsys.readouterr().out)
    assert main([*base, "--out", str(tmp_path / "j1")]) == 0
    alone = json.loads(capsys.readouterr().out)
    assert _stable(together) == _stable(alone)
    aims = alone["aims"]
    assert aims and all(int(i) >= STEER_LAG and int(i) % 2 == 0 for i in aims)
    first = alone["coverage"]["first_run"]
    assert set(first) == {p for p, n in alone["coverage"]["counts"].items() if n}
    assert set(alone["reached_after_s"]) == set(first)
    for i, aim in aims.items():
        assert f"Aimed at: {aim}." in seen[f"explore-5-{i}"]["description"]
