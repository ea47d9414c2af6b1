"""``clp-testnet init`` on requests it cannot honour: one clear line, exit 2, nothing written."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cluster.proxy_shards import hard_open_files, servers_needed
from harness.cluster.testnet import TestnetManifest


def _init(*args: str, nofile: int | None = None) -> subprocess.CompletedProcess[str]:
    def limit() -> None:
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    return subprocess.run(
        [sys.executable, "-m", "harness.cli", "init", *args],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=limit,
        env={"COLUMNS": "400", "PATH": "/usr/bin:/bin"},
    )


def _one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    out = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 2, out
    assert "Traceback" not in out and len(out.splitlines()) == 1, out
    for needle in needles:
        assert needle in out, (needle, out)


def test_200_proxied_validators_is_a_clear_error(tmp_path: Path) -> None:
    proc = _init("--dir", str(tmp_path / "big"), "-n", "200")
    # n*(n+1) ports and one per proxy server (as many as this machine's file limit needs).
    servers = servers_needed(200 * 199, hard_open_files())
    _one_line_error(proc, f"{200 * 201 + servers} ports", "--no-proxy")
    assert not (tmp_path / "big").exists()


def test_200_direct_validators_work_with_few_open_files(tmp_path: Path) -> None:
    """Port picking holds one socket at a time: 128 open files are plenty for 400 ports."""
    proc = _init("--dir", str(tmp_path / "big"), "-n", "200", "--no-proxy", nofile=128)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    manifest = TestnetManifest.load(tmp_path / "big")
    ports = [p for n in manifest.nodes for p in (n.p2p_port, n.api_port)]
    assert len(manifest.nodes) == 200 and len(set(ports)) == 400


@pytest.mark.parametrize("where", ["/proc/x", "/proc/self/status/x"])
def test_a_directory_that_cannot_be_made(where: str) -> None:
    _one_line_error(_init("--dir", where, "-n", "2"), where, "cannot create")


@pytest.mark.parametrize("chain_id", ["", "a\tb", "x" * 65])
def test_a_chain_id_the_node_would_refuse(tmp_path: Path, chain_id: str) -> None:
    proc = _init("--dir", str(tmp_path / "net"), "-n", "2", "--chain-id", chain_id)
    _one_line_error(proc, "chain id")
    assert not (tmp_path / "net").exists()
