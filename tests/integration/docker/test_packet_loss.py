"""Packet loss on the Docker backend: the shipped scenario ``scenarios/docker/packet-loss``
(30% of v4's packets dropped inside its container), run by the scenario runner, and the
fault state it recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.pytest_plugin import display_path
from harness.scenario.parse import parse_file
from harness.scenario.runner import RunOptions, run_scenario

SCENARIO = Path(__file__).resolve().parents[3] / "scenarios" / "docker" / "packet-loss.toml"


@pytest.mark.docker
async def test_packet_loss_scenario(clp_seed: int, tmp_path: Path) -> None:
    scenario = parse_file(display_path(SCENARIO))
    result = await run_scenario(
        scenario, RunOptions(seed=clp_seed, backend="docker", run_dir=tmp_path / "run")
    )
    assert result.passed, "\n" + result.failure_report()
    kinds = [(f["kind"], f["state"]["packet_loss"]) for f in result.fault_log]
    assert kinds == [("packet_loss", {"v4": 0.3}), ("reset", {})], kinds
