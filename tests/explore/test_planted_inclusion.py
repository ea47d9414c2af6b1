"""The inclusion check (§15.11) catches a node that drops its peers' CLP responses, which
no other check sees (nobody's rate falls below the minimum), and passes the real node.

Slow (two testnet runs of about a minute): `make explore-power`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from planted import PLANTED_INCLUSION
from test_planted_bugs import REPO, clp_testnet, env_for, patched_node

pytestmark = pytest.mark.explore_power

BUG = PLANTED_INCLUSION


def checks_of(out: Path) -> dict[str, dict[str, object]]:
    """Every check of the one result.json under ``out``, by name."""
    (result,) = out.glob("*/result.json")
    return {c["name"]: c for c in json.loads(result.read_text())["checks"]}


def test_inclusion_fails_on_dropped_responses_and_passes_the_real_node(tmp_path: Path) -> None:
    node = patched_node(BUG, tmp_path)  # type: ignore[arg-type]  # the same patch fields
    run = ["run", str(REPO / BUG.scenario), "--seed", "1"]

    on_bug = clp_testnet([*run, "--out", str(tmp_path / "bug")], tmp_path, env_for(node), 600)
    assert on_bug.returncode == 1, on_bug.stdout[-3000:]
    checks = checks_of(tmp_path / "bug")
    failed = checks[BUG.check]
    assert failed["verdict"] == "fail", failed
    evidence = [str(e) for e in failed["evidence"]]  # type: ignore[attr-defined]
    dropped = [e for e in evidence if "a node dropped the response" in e]
    assert dropped, evidence
    # each names the validator, the challenge, the send time and the proposers in reach
    named = {e.split(" answered challenge ")[0] for e in dropped}
    assert named <= {f"v{i}" for i in range(5)} and named, dropped
    assert all(" at t=" in e and "by v" in e for e in dropped), dropped
    # no other check sees it: the chain and the results are self-consistent
    others = {n: c["verdict"] for n, c in checks.items() if n != BUG.check}
    assert "fail" not in others.values(), others

    on_real = clp_testnet([*run, "--out", str(tmp_path / "real")], tmp_path, env_for(None), 600)
    passed = checks_of(tmp_path / "real")[BUG.check]
    assert on_real.returncode == 0, on_real.stdout[-3000:]
    assert passed["verdict"] == "pass", passed
