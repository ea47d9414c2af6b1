"""``clp-testnet run``: exit codes on bad input (before anything starts) and the repeat tally.

The tally tests replace the runner with a scripted one, so no node process starts here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import harness.scenario.runner as runner
from harness.cli import main
from harness.scenario.model import Scenario
from harness.scenario.results import ScenarioResult

GOOD = """\
name = "{name}"
[cluster]
validators = 4
[run]
until_epoch = 0
"""


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "good.toml"
    path.write_text(GOOD.format(name="good"))
    return path


@pytest.fixture
def no_runs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Fails the test if a scenario would actually run."""
    started: list[str] = []

    async def fake(sc: Scenario, opts: runner.RunOptions | None = None) -> ScenarioResult:
        started.append(sc.name)
        raise AssertionError("bad input must stop before any run")

    monkeypatch.setattr(runner, "run_scenario", fake)
    yield started
    assert started == []


def test_bad_scenario_file_exits_2_naming_file_line_field(
    tmp_path: Path, good: Path, no_runs: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(GOOD.format(name="bad").replace("validators = 4", "validators = -1"))
    assert main(["run", str(good), str(bad)]) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert f"{bad}:3: field 'cluster.validators': want an integer >= 1, got -1" in out, out


def test_missing_file_exits_2(tmp_path: Path, no_runs: list[str]) -> None:
    assert main(["run", str(tmp_path / "nope.toml")]) == 2


def test_duplicate_scenario_names_exit_2(tmp_path: Path, good: Path, no_runs: list[str]) -> None:
    again = tmp_path / "again.toml"
    again.write_text(good.read_text())
    assert main(["run", str(good), str(again)]) == 2


def test_unknown_backend_exits_2(good: Path, no_runs: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["run", str(good), "--backend", "vm"])
    assert info.value.code == 2


@pytest.mark.parametrize("option", [["--repeat", "0"], ["--seed", "-1"], ["--seed", "x"]])
def test_bad_options_exit_2(good: Path, no_runs: list[str], option: list[str]) -> None:
    try:
        code = main(["run", str(good), *option])
    except SystemExit as exc:  # argparse refuses a non-integer itself
        code = int(str(exc.code))
    assert code == 2


def scripted(monkeypatch: pytest.MonkeyPatch, statuses: dict[str, list[str]]) -> list[int]:
    """Each scenario's runs end with these statuses in turn; returns the seeds used."""
    seeds: list[int] = []

    async def fake(sc: Scenario, opts: runner.RunOptions | None = None) -> ScenarioResult:
        assert opts is not None
        seeds.append(opts.seed)
        status = statuses[sc.name].pop(0)
        return ScenarioResult(sc.name, str(sc.file), opts.seed, opts.backend, status=status)

    monkeypatch.setattr(runner, "run_scenario", fake)
    return seeds


def test_repeat_reports_passed_failed_flaky(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    files = []
    for name in ("steady", "broken", "wobbly"):
        files.append(tmp_path / f"{name}.toml")
        files[-1].write_text(GOOD.format(name=name))
    seeds = scripted(
        monkeypatch,
        {
            "steady": ["passed"] * 3,
            "broken": ["failed"] * 3,
            "wobbly": ["passed", "failed", "passed"],
        },
    )
    code = main(["run", *map(str, files), "--repeat", "3", "--seed", "9", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and doc["exit_code"] == 1
    summary = {s["scenario"]: (s["verdict"], s["passed"], s["failed"]) for s in doc["summary"]}
    assert summary == {
        "steady": ("passed", 3, 0),
        "broken": ("failed", 0, 3),
        "wobbly": ("flaky", 2, 1),
    }
    assert len(doc["runs"]) == 9 and seeds == [9] * 9
    wobbly = next(s for s in doc["summary"] if s["scenario"] == "wobbly")
    assert wobbly["reproduce"].endswith("wobbly.toml --seed 9 --backend local")


def test_all_passed_exits_0(
    good: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    scripted(monkeypatch, {"good": ["passed", "passed"]})
    assert main(["run", str(good), "--repeat", "2"]) == 0
    assert "passed" in capsys.readouterr().out


def test_failure_prints_reproduce_command(
    good: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    scripted(monkeypatch, {"good": ["failed"]})
    assert main(["run", str(good), "--seed", "4"]) == 1
    out = capsys.readouterr().out
    assert f"reproduce: clp-testnet run {good} --seed 4 --backend local" in out, out
