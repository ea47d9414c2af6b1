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


def step_kinds(path: Path) -> frozenset[str]:
    """The kinds of the file's steps (faults and assertions); none when it does not parse."""
    scenario = _parsed(path)
    return frozenset() if scenario is None else frozenset(s.action.kind for s in scenario.steps)


def step_cover(files: list[Path]) -> list[Path]:
    """Few of ``files`` whose steps together use every step kind the files use: a file
    using the most kinds not yet used is taken, the first in order on a tie. A suite whose
    backend cannot afford every scenario runs these (`make test`'s Docker stage); a file
    that does not parse is always taken, so its test says why. Derived from the files, so
    a scenario with a new kind of step joins it."""
    chosen = [p for p in files if _parsed(p) is None]
    missing = set().union(*(step_kinds(p) for p in files))
    while missing:
        best = max(files, key=lambda p: len(step_kinds(p) & missing))
        chosen.append(best)
        missing -= step_kinds(best)
    return sorted(chosen)


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


def test_the_step_cover_uses_every_kind_of_step_in_fewer_files() -> None:
    """The Docker stage's selection (``--scenario-set step-cover``) leaves no kind of step
    of the shipped scenarios unexercised, and is a real selection."""
    cover = step_cover(FILES)
    assert set().union(*map(step_kinds, cover)) == set().union(*map(step_kinds, FILES))
    assert len(cover) < len(FILES)
    assert step_cover(cover) == cover, "every file of the cover adds a kind"
