"""Each checker of what the chain does not show catches its planted bug in one shipped
scenario, and passes the real node on the same scenario.

Slow (a minute or two per bug: two testnet runs): `make explore-power`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from planted import PLANTED_FOR_CHECKS, PlantedForCheck
from test_planted_bugs import REPO, clp_testnet, env_for, patched_node

pytestmark = pytest.mark.explore_power

ALL_LINKS = {f"v{i}_to_v{j}" for i in range(5) for j in range(5) if i != j}


def checks_of(out: Path) -> list[dict[str, object]]:
    """Every check's outcome in the one result.json under ``out``."""
    (result,) = out.glob("*/result.json")
    return list(json.loads(result.read_text())["checks"])


def verdict(bug: PlantedForCheck, out: Path) -> dict[str, object]:
    """The bug's check in the one result.json under ``out``."""
    (found,) = [c for c in checks_of(out) if c["name"] == bug.check]
    return dict(found)


@pytest.mark.parametrize("bug", PLANTED_FOR_CHECKS, ids=[b.name for b in PLANTED_FOR_CHECKS])
def test_the_check_fails_on_the_planted_bug_and_passes_the_real_node(
    bug: PlantedForCheck, tmp_path: Path
) -> None:
    node = patched_node(bug, tmp_path)  # type: ignore[arg-type]  # the same patch fields
    run = ["run", str(REPO / bug.scenario), "--seed", "1"]

    on_bug = clp_testnet([*run, "--out", str(tmp_path / "bug")], tmp_path, env_for(node), 600)
    assert on_bug.returncode == 1, on_bug.stdout[-3000:]
    failed = verdict(bug, tmp_path / "bug")
    assert failed["verdict"] == "fail", failed
    others = [c for c in checks_of(tmp_path / "bug") if c["name"] not in (bug.check, *bug.also)]
    assert not [c["name"] for c in others if c["verdict"] == "fail"], others  # only these
    evidence = [str(e) for e in failed["evidence"]]  # type: ignore[attr-defined]
    if bug.check == "link_discipline":
        flagged = {e.split(":")[0] for e in evidence}
        # every node has the bug, so every link carries its listener's status frames back
        assert flagged == ALL_LINKS, evidence
        assert all("wrote" in e and "bytes back over the connection" in e for e in evidence)
    assert all(part in evidence[0] for part in bug.evidence), evidence

    on_real = clp_testnet([*run, "--out", str(tmp_path / "real")], tmp_path, env_for(None), 600)
    passed = verdict(bug, tmp_path / "real")
    assert passed["verdict"] == "pass", (passed, on_real.stdout[-3000:])
