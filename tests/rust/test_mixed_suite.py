"""Every shipped scenario on a mixed testnet: Python and Rust validators dealt round-robin,
3 + 2 of 5 (``--mix python:3,rust:2``; a scenario of 7 validators gets 4 + 3). A scenario
that names its own nodes (``mixed-*``, ``rolling-upgrade``) keeps them.

The test is tests/integration/test_scenarios.py's, as for test_rust_node_scenarios.py;
only the mix differs: this module's ``clp_mix`` overrides the pytest plugin's ``--mix``.
`make test` runs it on local processes (rust-scenarios) and on containers (the Docker
stage, ``--backend docker``). On local processes it leaves out the scenarios that name
their own nodes: their run does not change with the mix, and test_scenarios.py runs them
in the same `make test`. On containers it runs every file, or with ``--scenario-set
step-cover`` (the Docker stage of `make test`, for its time budget) the few that use every
kind of step between them; `make integration-docker-all` (nightly) runs every file. An
unbuilt Rust node fails every case; it never skips.

    pytest tests/rust/test_mixed_suite.py -k minority-partition
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_rust_node_scenarios import SHIPPED

MIX = "python:3,rust:2"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """The cases of this module's test: the backend decides (module docstring)."""
    if "path" in metafunc.fixturenames:
        if metafunc.config.getoption("--backend") == "local":
            files = SHIPPED.NODE_CHOICE_FILES
        elif metafunc.config.getoption("--scenario-set") == "step-cover":
            files = SHIPPED.step_cover(SHIPPED.FILES)
        else:
            files = SHIPPED.FILES
        metafunc.parametrize("path", files, ids=[SHIPPED.case_id(p) for p in files])


async def test_scenario(path: Path, clp_run_scenario: Any) -> None:
    await SHIPPED.check_scenario(path, clp_run_scenario)


@pytest.fixture(scope="session")
def clp_mix() -> str:
    """The mix of this module's runs, whatever ``--mix`` says."""
    return MIX
