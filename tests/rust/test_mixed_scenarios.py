"""The shipped mixed scenarios: Python and Rust validators in one testnet, on the local
backend (each names its own nodes, so ``--node`` and ``--mix`` do not change them).
``rolling-upgrade`` starts on one kind and moves every validator to the other (``upgrade``
steps): each upgraded node starts on an empty store and syncs before it signs
(docs/protocol.md §16.5).

An unbuilt Rust node fails every case with one line naming ``make rust``; it never skips.

    pytest tests/rust/test_mixed_scenarios.py -k mixed-partition
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.node_kinds import NodeKindError, rust_binary
from harness.node_mix import is_mixed
from harness.pytest_plugin import display_path
from harness.scenario.parse import parse_file

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "scenarios"
MIXED = ("mixed-happy-path", "mixed-partition", "mixed-crash-restart", "rolling-upgrade")


@pytest.mark.parametrize("name", MIXED)
async def test_mixed_scenario(name: str, clp_run_scenario: Any) -> None:
    try:
        rust_binary()
        unbuilt = None
    except NodeKindError as exc:
        unbuilt = str(exc)
    if unbuilt is not None:  # one line, never a skip: an unbuilt node is not a pass
        pytest.fail(unbuilt, pytrace=False)
    scenario = parse_file(display_path(SCENARIO_DIR / f"{name}.toml"))
    kinds = scenario.cluster.nodes
    assert kinds is not None, f"{name} names no nodes"
    upgrades = [s for s in scenario.steps if s.action.kind == "upgrade"]
    assert is_mixed(kinds) or upgrades, f"{name} neither mixes nor upgrades: {kinds}"
    result = await clp_run_scenario(scenario)
    assert result.implementations == dict(zip(scenario.cluster.names, kinds, strict=True))
    assert result.passed, "\n" + result.failure_report()
