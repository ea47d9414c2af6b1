"""Every shipped scenario (``scenarios/*.toml``) is one test, run by the scenario runner.

``pytest tests/integration/test_scenarios.py -k minority-partition --seed 3`` runs one of
them with another seed; a failure shows why, the ``clp-testnet run`` command that
reproduces it, the run's report.html and the node logs. ``--mix python:3,rust:2`` runs
them all on mixed testnets (Python and Rust validators); a scenario that names its own
``nodes`` keeps them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.pytest_plugin import display_path
from harness.scenario.parse import ScenarioError, parse_file

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "scenarios"
FILES = sorted(SCENARIO_DIR.glob("*.toml"))


def _test_id(path: Path) -> str:
    """The scenario's name; the file name when the file does not parse (the test says why)."""
    try:
        return parse_file(path).name
    except ScenarioError:
        return path.stem


@pytest.mark.parametrize("path", FILES, ids=[_test_id(p) for p in FILES])
async def test_scenario(path: Path, clp_run_scenario: Any) -> None:
    try:
        scenario = parse_file(display_path(path))
    except ScenarioError as exc:
        pytest.fail(str(exc), pytrace=False)
    result = await clp_run_scenario(scenario)
    assert (Path(result.out_dir) / "report.html").is_file(), "every run leaves its report"
    assert result.passed, "\n" + result.failure_report()
