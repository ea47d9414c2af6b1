"""A node without the optional test hooks: hook scenarios are not applicable, not failed."""

from __future__ import annotations

from pathlib import Path

from harness.scenario.parse import parse_file
from harness.scenario.results import (
    NOT_APPLICABLE,
    PASSED,
    ScenarioResult,
    exit_code,
    tally,
)
from harness.scenario.runner import needs_test_hooks

SCENARIOS = Path(__file__).resolve().parents[3] / "scenarios"


def _result(name: str, reason: str | None = None) -> ScenarioResult:
    r = ScenarioResult(name, f"{name}.toml", 1, "local", not_applicable=reason)
    r.finish()
    return r


def test_a_reason_makes_the_run_not_applicable_and_survives_json() -> None:
    r = _result("lazy", "no hooks")
    assert r.status == NOT_APPLICABLE
    assert ScenarioResult.from_json(r.to_json()).not_applicable == "no hooks"
    assert _result("plain").status == PASSED


def test_not_applicable_neither_passes_nor_fails_the_suite() -> None:
    tallies = tally([_result("plain"), _result("lazy", "no hooks")])
    assert [t.verdict for t in tallies] == [PASSED, NOT_APPLICABLE]
    assert exit_code(tallies) == 0
    failed = _result("broken")
    failed.status = "failed"
    assert exit_code(tally([failed, _result("lazy", "no hooks")])) == 1


def test_which_shipped_scenarios_need_the_hooks() -> None:
    need = {p.stem for p in SCENARIOS.glob("*.toml") if needs_test_hooks(parse_file(p))}
    assert "lazy-below-systemic" in need
    assert "minority-partition" not in need


def test_double_sign_needs_its_own_hook_beyond_the_others() -> None:
    from harness.scenario.runner import uses_double_sign

    double = parse_file(SCENARIOS / "double-sign.toml")
    assert needs_test_hooks(double) and uses_double_sign(double)
    assert not uses_double_sign(parse_file(SCENARIOS / "lazy-below-systemic.toml"))
