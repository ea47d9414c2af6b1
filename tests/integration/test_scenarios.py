"""Every shipped scenario (``scenarios/*.toml``) is one test, run by the scenario runner.

``pytest tests/integration/test_scenarios.py -k minority-partition --seed 3`` runs one of
them with another seed; a failure shows why, the ``clp-testnet run`` command that
reproduces it, the run's report.html and the node logs. ``--mix python:3,rust:2`` runs
them all on mixed testnets (Python and Rust validators); a scenario that names its own
``nodes`` keeps them (and is run here only: the suites of other node kinds, in tests/rust/,
take the scenarios that depend on the node choice).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest

from harness.pytest_plugin import display_path
from harness.scenario.model import Scenario
from harness.scenario.parse import ScenarioError, parse_file

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "scenarios"
FILES = sorted(SCENARIO_DIR.glob("*.toml"))


@cache
def _parsed(path: Path) -> Scenario | None:
    """The file's scenario, parsed once for ids and selection; None when it does not parse
    (its test says why)."""
    try:
        return parse_file(path)
    except ScenarioError:
        return None


def case_id(path: Path) -> str:
    """The scenario's name; the file name when the file does not parse (the test says why)."""
    scenario = _parsed(path)
    return path.stem if scenario is None else scenario.name


def names_its_nodes(path: Path) -> bool:
    """The scenario sets ``[cluster] nodes``: it runs the same whatever ``--node`` or
    ``--mix`` say (a file that does not parse does not: its test says why)."""
    scenario = _parsed(path)
    return scenario is not None and scenario.cluster.nodes is not None


# The scenarios whose run depends on the suite's node choice: the ones a suite of another
# node kind or mix runs again (tests/rust/); this module's own test runs every file.
NODE_CHOICE_FILES = [p for p in FILES if not names_its_nodes(p)]


async def check_scenario(path: Path, clp_run_scenario: Any) -> None:
    """Run one scenario file by ``clp_run_scenario`` on the suite's backend, node kind and
    mix; a scenario that names its nodes must run on exactly those."""
    try:
        scenario = parse_file(display_path(path))
    except ScenarioError as exc:
        pytest.fail(str(exc), pytrace=False)
    result = await clp_run_scenario(scenario)
    assert (Path(result.out_dir) / "report.html").is_file(), "every run leaves its report"
    if scenario.cluster.nodes is not None:
        named = dict(zip(scenario.cluster.names, scenario.cluster.nodes, strict=True))
        assert result.implementations == named
    assert result.passed, "\n" + result.failure_report()


def scenario_cases(files: list[Path]) -> Any:
    """``path`` parametrised over ``files``, each case named after its scenario."""
    return pytest.mark.parametrize("path", files, ids=[case_id(p) for p in files])


@scenario_cases(FILES)
async def test_scenario(path: Path, clp_run_scenario: Any) -> None:
    await check_scenario(path, clp_run_scenario)
