"""The checkers against a real testnet: one validator isolated for an epoch, then healed.

Its slash for that epoch must show up, and no checker may fail on what the nodes served:
the independent recomputation agrees with every node, the fault log explains the slash.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.checks import collect_history, run_checks
from harness.checks.history import History
from harness.cli import main
from harness.cluster.backends import init_for_backend, make_cluster
from harness.faults.nemesis import Nemesis

pytestmark = pytest.mark.integration

CUT = "v4"
QUIET_BLOCKS = 8


async def test_checks_pass_on_a_live_isolation(tmp_path: Path) -> None:
    manifest = init_for_backend("local", tmp_path / "net", validators=5, seed="checks-live")
    cluster = make_cluster("local", manifest)
    E = manifest.clp_config().epoch_length
    try:
        async with cluster:
            nemesis = Nemesis(cluster, cluster.fault_api())
            await cluster.wait_for_height(E + 1)  # first block of epoch 1
            await nemesis.apply("isolate", node=CUT)
            others = [n for n in cluster.names if n != CUT]
            await cluster.wait_for_epoch_result(1, names=others)
            await nemesis.apply("heal")
            await cluster.wait_for_epoch_result(1)  # the isolated node resyncs and evaluates
            top = max(h for h in (await cluster.heights()).values() if h is not None)
            await cluster.wait_for_height(top + QUIET_BLOCKS)
            history = await collect_history(cluster, nemesis.log.to_json())
    finally:
        cluster.stop_sync()

    logs = f"; logs in {tmp_path / 'net' / 'logs'}"
    assert not history.unreachable, f"{history.unreachable}{logs}"
    v4 = cluster.address(CUT)
    outcome = next(v for v in history.results["v0"][1]["validators"] if v["address"] == v4)
    assert outcome["slashed"] > 0 and outcome["status"] != "active", f"{outcome}{logs}"

    results = run_checks(history)
    table = json.dumps([r.to_json() for r in results], indent=1)
    assert not [r.name for r in results if r.verdict == "fail"], table + logs
    verdicts = {r.name: r.verdict for r in results}
    for name in ("agreement", "determinism", "accountability", "conservation"):
        assert verdicts[name] == "pass", table
    completeness = next(r for r in results if r.name == "completeness")
    assert any(e.startswith(f"epoch 1: {CUT} cut off") for e in completeness.evidence), table

    saved = tmp_path / "history.json"
    history.save(saved)
    assert History.load(saved) == history
    assert main(["check", str(saved)]) == 0
