"""Results JSON, the status of a run, the repeat tally and the exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.scenario.results import (
    CheckOutcome,
    ExpectationOutcome,
    ScenarioResult,
    decide_status,
    exit_code,
    reproduce_command,
    tally,
)

PASS = CheckOutcome("agreement", "pass", ["one chain"])
UNKNOWN = CheckOutcome("liveness", "unknown", ["no window long enough"])
FAIL = CheckOutcome("conservation", "fail", ["h12: stakes + burned = 99"])
OK = ExpectationOutcome("expect[0] epoch 0 slashed", True, "want {v4}, got {v4}")
NOT_OK = ExpectationOutcome("expect[0] epoch 0 slashed", False, "want {v4}, got {}")


def result(status: str, name: str = "s", seed: int = 1) -> ScenarioResult:
    return ScenarioResult(name, f"scenarios/{name}.toml", seed, "local", status=status)


def test_status_from_checks_expectations_and_errors() -> None:
    assert decide_status([PASS, UNKNOWN], [OK], None) == "passed"  # unknown does not fail
    assert decide_status([PASS, FAIL], [OK], None) == "failed"
    assert decide_status([PASS], [OK, NOT_OK], None) == "failed"
    assert decide_status([PASS], [OK], "RuntimeError: boom") == "error"


def test_reproduce_command_quotes_paths() -> None:
    assert reproduce_command("scenarios/a.toml", 7, "docker") == (
        "clp-testnet run scenarios/a.toml --seed 7 --backend docker"
    )
    assert reproduce_command("my dir/a.toml", 1, "local").startswith(
        "clp-testnet run 'my dir/a.toml' --seed 1"
    )


def test_result_json_round_trip(tmp_path: Path) -> None:
    r = ScenarioResult(
        "minority-partition",
        "scenarios/minority-partition.toml",
        3,
        "local",
        duration_s=12.3456,
        checks=[PASS, UNKNOWN, FAIL],
        expectations=[OK, NOT_OK],
        fault_log=[{"time": 1.0, "height": 5, "action": "isolate", "params": {"node": "v4"}}],
        logs={"v0": "/runs/x/logs/v0.log"},
        out_dir="/runs/x",
    )
    r.finish()
    r.save(tmp_path / "result.json")
    data = json.loads((tmp_path / "result.json").read_text())
    assert data["status"] == "failed" and data["duration_s"] == 12.346
    assert data["checks"][2] == {
        "name": "conservation",
        "verdict": "fail",
        "evidence": ["h12: stakes + burned = 99"],
    }
    assert data["expectations"][1] == {
        "what": "expect[0] epoch 0 slashed",
        "passed": False,
        "detail": "want {v4}, got {}",
    }
    assert data["reproduce"] == (
        "clp-testnet run scenarios/minority-partition.toml --seed 3 --backend local"
    )
    assert set(data) >= {"scenario", "file", "seed", "backend", "fault_log", "logs"}
    back = ScenarioResult.from_json(data)
    assert back.to_json() == data


def test_failure_report_names_reasons_reproduce_and_logs() -> None:
    r = ScenarioResult(
        "x",
        "scenarios/x.toml",
        4,
        "local",
        checks=[PASS, FAIL],
        expectations=[NOT_OK],
        logs={"v0": "/r/logs/v0.log", "v1": "/r/logs/v1.log"},
        out_dir="/r",
    )
    r.finish()
    text = r.failure_report()
    assert "check conservation: h12: stakes + burned = 99" in text
    assert "expect[0] epoch 0 slashed: want {v4}, got {}" in text
    assert "reproduce: clp-testnet run scenarios/x.toml --seed 4 --backend local" in text
    assert "log v0: /r/logs/v0.log" in text and "log v1: /r/logs/v1.log" in text
    assert "results: /r/result.json" in text


@pytest.mark.parametrize(
    ("statuses", "verdict", "counts"),
    [
        (["passed", "passed", "passed"], "passed", (3, 0, 0)),
        (["failed", "failed"], "failed", (0, 2, 0)),
        (["passed", "failed", "passed"], "flaky", (2, 1, 0)),
        (["passed", "error"], "flaky", (1, 0, 1)),
        (["error", "failed"], "failed", (0, 1, 1)),
    ],
)
def test_repeat_tally(statuses: list[str], verdict: str, counts: tuple[int, int, int]) -> None:
    (t,) = tally(result(s) for s in statuses)
    assert t.verdict == verdict and (t.passed, t.failed, t.errors) == counts
    assert t.runs == len(statuses)
    first_bad = next((i for i, s in enumerate(statuses) if s != "passed"), None)
    if first_bad is None:
        assert t.first_failure is None and t.to_json()["reproduce"] is None
    else:
        assert t.first_failure is not None and t.to_json()["reproduce"].startswith(
            "clp-testnet run"
        )


def test_tally_keeps_scenarios_apart_and_in_order() -> None:
    runs = [
        result("passed", "b"),
        result("failed", "a"),
        result("passed", "b"),
        result("passed", "a"),
    ]
    tallies = tally(runs)
    assert [(t.scenario, t.verdict) for t in tallies] == [("b", "passed"), ("a", "flaky")]
    assert exit_code(tallies) == 1
    assert exit_code(tally([result("passed", "b")])) == 0
