"""Every shipped scenario (``scenarios/*.toml``) with the Rust node on the local backend.

The test itself is tests/integration/test_scenarios.py's (the same ids and verdicts); only
the node kind differs: this module's ``clp_node`` overrides the pytest plugin's ``--node``.
A scenario that names its own nodes (``mixed-*``, ``rolling-upgrade``: Rust validators
among them) runs the same whatever the node kind, so test_scenarios.py alone runs it. An
unbuilt binary fails every case with one line naming ``make rust``; it never skips.

    pytest tests/rust/test_rust_node_scenarios.py -k minority-partition --seed 3
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from harness.node_kinds import RUST

SHARED = Path(__file__).resolve().parents[1] / "integration" / "test_scenarios.py"


def shared_scenario_tests() -> ModuleType:
    """The Python node's scenario tests, loaded by path (the test folders are no packages)."""
    spec = importlib.util.spec_from_file_location("shipped_scenario_tests", SHARED)
    assert spec is not None and spec.loader is not None, f"cannot load {SHARED}"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SHIPPED = shared_scenario_tests()


@SHIPPED.scenario_cases(SHIPPED.NODE_CHOICE_FILES)
async def test_scenario(path: Path, clp_run_scenario: Any) -> None:
    """One per scenario the node kind changes."""
    await SHIPPED.check_scenario(path, clp_run_scenario)


@pytest.fixture(scope="session")
def clp_node() -> str:
    """The node kind of this module's runs, whatever ``--node`` says."""
    return RUST
