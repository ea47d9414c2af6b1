"""``clp-testnet conform`` on our node's command, on a node serving a wrong epoch result,
and on a node without the optional test hooks."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from harness.cluster.ports import PORT_RANGE_ENV

STUB = Path(__file__).with_name("conform_stub_node.py")
CLI = Path(sys.executable).with_name("clp-testnet")
ROOT = Path(__file__).resolve().parents[2]


def conform_env() -> dict[str, str]:
    """A clean environment (no node command or image of the harness's choosing), but this
    xdist worker's port slice: a conform run picking from the whole range took ports of
    other workers' testnets ("address already in use")."""
    env = {"COLUMNS": "200", "PATH": "/usr/bin:/bin"}
    if PORT_RANGE_ENV in os.environ:
        env[PORT_RANGE_ENV] = os.environ[PORT_RANGE_ENV]
    return env


def conform(tmp_path: Path, *args: str) -> tuple[int, str]:
    proc = subprocess.run(
        [str(CLI), "conform", *args, "--out", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env=conform_env(),
    )
    return proc.returncode, proc.stdout + proc.stderr


def rows(output: str) -> dict[str, str]:
    """check name -> result, from the report table."""
    found = re.findall(r"^│ (\S+(?: \S+)?)\s+│ (pass|FAIL|n/a)\s+│", output, re.MULTILINE)
    return dict(found)


def stub(*flags: str) -> str:
    return f"{sys.executable} {STUB} {' '.join(flags)} --config {{config}}"


def test_conform_passes_on_the_local_command(tmp_path: Path) -> None:
    code, out = conform(tmp_path, "clp-node --config {config}", "--scenarios", "happy-path")
    assert code == 0, out
    table = rows(out)
    assert set(table.values()) == {"pass"}, out
    assert {"startup", "epoch-result", "restart", "scenario happy-path"} <= set(table), out
    assert "honours every check" in out


def test_conform_fails_with_a_list_on_a_wrong_epoch_result(tmp_path: Path) -> None:
    code, out = conform(tmp_path, "--command", stub("--corrupt-epoch"), "--scenarios", "none")
    assert code == 1, out
    table = rows(out)
    assert table["epoch-result"] == "FAIL", out
    assert table["startup"] == table["blocks"] == table["restart"] == "pass", out
    listed = out[out.index("does not honour") :]
    assert "- epoch-result:" in listed and "slashed_total" in listed, out


def test_a_node_without_test_hooks_gets_not_applicable(tmp_path: Path) -> None:
    code, out = conform(
        tmp_path, "--command", stub("--no-hooks"), "--scenarios", "lazy-below-systemic"
    )
    assert code == 0, out
    table = rows(out)
    assert table["test-hooks"] == "n/a", out
    assert table["scenario lazy-below-systemic"] == "n/a", out
    assert "FAIL" not in table.values(), out
