"""The scenario runner end to end on small scenarios of its own (tests/integration/scenarios_smoke).

One passing run checks what a run leaves behind; one with a deliberately wrong expectation
checks that a failure is reported with its evidence, the reproduce command and the logs;
``clp-testnet run`` checks the exit codes and the JSON on stdout.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.scenario.parse import parse_file
from harness.scenario.progress import NullReporter
from harness.scenario.runner import RunOptions, run_scenario

SMOKE = Path(__file__).resolve().parent / "scenarios_smoke"


async def test_runner_passing_scenario_leaves_results(tmp_path: Path) -> None:
    scenario = parse_file(SMOKE / "happy.toml")
    reporter = NullReporter()
    result = await run_scenario(
        scenario, RunOptions(seed=5, run_dir=tmp_path / "run", reporter=reporter)
    )
    hint = "\n" + result.failure_report()
    assert result.status == "passed", hint
    saved = json.loads((tmp_path / "run" / "result.json").read_text())
    assert saved["status"] == "passed" and saved["seed"] == 5, saved
    assert saved["reproduce"].endswith("happy.toml --seed 5 --backend local"), saved
    assert {c["verdict"] for c in saved["checks"]} <= {"pass", "unknown"}, hint
    assert saved["checks"], "the checkers of harness.checks ran"
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert history, "history.json is written"
    kinds = [r["kind"] for r in saved["fault_log"]]
    assert kinds == ["latency", "clear", "reset"], kinds  # the steps, then the quiet period
    assert saved["fault_log"][0]["state"]["toxics"], "the latency toxic is in the state"
    assert saved["fault_log"][1]["state"]["toxics"] == {}, "clear removed it"
    whats = [e["what"] for e in saved["expectations"]]
    assert any("post_response forge=duplicate" in w for w in whats), whats
    assert any("expect_progress" in w for w in whats), whats
    for name, path in saved["logs"].items():
        assert Path(path).stat().st_size > 0, f"{name}: empty log {path}"
    assert not (tmp_path / "run" / "testnet").exists(), "a passed run drops its chain data"
    assert any(e.startswith("steps[2] at ") for e in reporter.events), reporter.events


async def test_runner_failing_expectation_is_reported(tmp_path: Path) -> None:
    scenario = parse_file(SMOKE / "wrong-expectation.toml")
    result = await run_scenario(scenario, RunOptions(seed=2, run_dir=tmp_path / "run"))
    assert result.status == "failed", result.to_json()
    failed = [e for e in result.expectations if not e.passed]
    assert [e.what for e in failed] == ["expect[0] epoch 0 slashed"], failed
    assert failed[0].detail == "want {v1}, got {}", failed
    report = result.failure_report()
    assert "clp-testnet run " in report and "--seed 2 --backend local" in report, report
    for name in scenario.cluster.names:
        assert f"log {name}: {result.logs[name]}" in report, report
    assert (tmp_path / "run" / "testnet" / "genesis.json").exists(), (
        "a failed run keeps its testnet"
    )


def test_cli_run_json_and_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "run",
            str(SMOKE / "wrong-expectation.toml"),
            "--seed",
            "2",
            "--out",
            str(tmp_path),
            "--json",
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and doc["exit_code"] == 1, doc
    assert [s["verdict"] for s in doc["summary"]] == ["failed"], doc["summary"]
    assert doc["runs"][0]["out_dir"].startswith(str(tmp_path / "smoke-wrong-expectation-")), doc
