"""Order of the whole suite: whole-scenario runs first, the longest first.

They are the longest tests of every suite that has them (20 to 50 s each). Run with
pytest-xdist, a suite whose scenarios come last ends on one or two of them while the other
workers idle; first, the short tests fill in behind them. Among them, the most
validator-blocks first (a 7-validator scenario of two epochs before a 5-validator one of
one): the suite then ends on short ones. The sort is stable, so the tests that share a
module's testnet keep their file order.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.scenario.parse import ScenarioError, parse_file


def validator_blocks(item: pytest.Item) -> int:
    """How much chain a whole-scenario test runs: validators x blocks to its last epoch's
    end (0 when its scenario file does not parse: the test itself says why)."""
    callspec = getattr(item, "callspec", None)
    path = callspec.params.get("path") if callspec is not None else None
    if not isinstance(path, Path) or path.suffix != ".toml":
        return 0
    try:
        sc = parse_file(path)
    except ScenarioError:
        return 0
    epochs = sc.until_epoch + 1
    return sc.cluster.validators * epochs * sc.cluster.clp_config().epoch_length


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def key(item: pytest.Item) -> tuple[bool, int]:
        scenario = "clp_run_scenario" in getattr(item, "fixturenames", ())
        return (not scenario, -validator_blocks(item) if scenario else 0)

    items.sort(key=key)
