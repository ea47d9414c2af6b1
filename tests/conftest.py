"""Order of the whole suite: whole-scenario runs first; the suite's own options.

They are the longest tests of every suite that has them (20 to 50 s each). Run with
pytest-xdist, a suite whose scenarios come last ends on one or two of them while the other
workers idle; first, the short tests fill in behind them. The sort is stable, so the tests
that share a module's testnet keep their file order.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--scenario-set",
        choices=("all", "step-cover"),
        default="all",
        help="the shipped scenarios tests/rust/test_mixed_suite.py runs on a container "
        "backend: all (default), or step-cover, the few that use every kind of step between "
        "them (make test's Docker stage; every scenario runs on local processes there)",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: "clp_run_scenario" not in getattr(item, "fixturenames", ()))
