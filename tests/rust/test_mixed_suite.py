"""Every shipped scenario on a mixed testnet: Python and Rust validators dealt round-robin,
3 + 2 of 5 (``--mix python:3,rust:2``; a scenario of 7 validators gets 4 + 3). A scenario
that names its own nodes (``mixed-*``, ``rolling-upgrade``) keeps them.

The test is tests/integration/test_scenarios.py's, as for test_rust_node_scenarios.py;
only the mix differs: this module's ``clp_mix`` overrides the pytest plugin's ``--mix``.
The Docker stage of `make test` runs it on containers (``--backend docker``), the mixed
scenarios on local processes being test_scenarios.py's; run alone, it is on local
processes. An unbuilt Rust node fails every case; it never skips.

    pytest tests/rust/test_mixed_suite.py -k minority-partition
"""

from __future__ import annotations

import pytest
from test_rust_node_scenarios import shared_scenario_tests

MIX = "python:3,rust:2"

test_scenario = shared_scenario_tests().test_scenario


@pytest.fixture(scope="session")
def clp_mix() -> str:
    """The mix of this module's runs, whatever ``--mix`` says."""
    return MIX
