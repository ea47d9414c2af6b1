"""The explorer's power, measured: each planted bug is found from a fixed seed within its
budget and shrunk to a small scenario file, which `clp-testnet run` replays: it fails on
the patched node and passes on the real one.

The node processes run the patched copy through PYTHONPATH (the harness starts them as a
command, ``python -m clp_node.cli``/``clp-node``, so no import of ours reaches them).
Slow (minutes per bug): `make explore-power`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from planted import PLANTED, Planted

pytestmark = pytest.mark.explore_power

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def patched_node(bug: Planted, root: Path) -> Path:
    """A copy of clp_node/ with the bug in it; the directory to put on PYTHONPATH."""
    copy = root / "patched"
    shutil.copytree(REPO / "clp_node", copy / "clp_node")
    target = copy / bug.file
    text = target.read_text()
    assert text.count(bug.before) == 1, f"{bug.name}: the patch no longer applies to {bug.file}"
    target.write_text(text.replace(bug.before, bug.after))
    return copy


def env_for(node: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHASHSEED")}
    if node is not None:
        env["PYTHONPATH"] = str(node)
    return env


def clp_testnet(args: list[str], cwd: Path, env: dict[str, str], timeout: float):
    return subprocess.run(
        [str(BIN / "clp-testnet"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize("bug", PLANTED, ids=[b.name for b in PLANTED])
def test_explore_finds_and_shrinks_the_planted_bug(bug: Planted, tmp_path: Path) -> None:
    node = patched_node(bug, tmp_path)
    env = env_for(node)
    where = subprocess.run(
        [sys.executable, "-c", "import clp_node; print(clp_node.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert where.startswith(str(node)), f"the node would not run the patched copy: {where}"

    args = ["explore", "--seed", str(bug.seed), "--runs", str(bug.runs), "--max-failures", "1"]
    args += ["--shrink-budget", str(bug.shrink_budget), "--out", str(tmp_path / "runs"), "--json"]
    proc = clp_testnet(args, tmp_path, env, timeout=60 * 30)
    summary = json.loads(proc.stdout)
    found = [f for f in summary["failures"] if not f["flaky"]]
    assert found, f"{bug.name} not found in {summary['runs']} runs: {proc.stderr[-3000:]}"
    failure = found[0]
    assert failure["index"] < bug.runs
    shrunk = Path(failure["shrunk_file"])
    doc = tomllib.loads(shrunk.read_text())
    assert len(doc.get("steps", [])) <= bug.max_steps, shrunk.read_text()
    print(
        f"\n{bug.name}: found at run {failure['index']} (seed {bug.seed}), "
        f"{summary['runs']} runs in {summary['duration_s']}s, shrunk in "
        f"{failure['shrink_runs']} runs to {len(doc.get('steps', []))} steps, "
        f"{doc['cluster']['validators']} validators: {shrunk}\n{shrunk.read_text()}"
    )

    run = ["run", str(shrunk), "--seed", str(bug.seed), "--out", str(tmp_path / "replays")]
    on_bug = clp_testnet(run, tmp_path, env, timeout=600)
    assert on_bug.returncode == 1, (
        f"the shrunk scenario passes on the patched node:\n{on_bug.stdout[-2000:]}"
    )
    on_real = clp_testnet(run, tmp_path, env_for(None), timeout=600)
    assert on_real.returncode == 0, (
        f"the shrunk scenario fails on the real node:\n{on_real.stdout[-2000:]}"
    )
