"""Ctrl-C, SIGTERM or SIGHUP during ``clp-testnet run`` stops every process, frees every port.

SIGTERM (CI runners, ``timeout``) used to kill the CLI alone and leave the nodes running.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest

from harness.cluster.ports import port_is_bound

SMOKE = Path(__file__).resolve().parent / "scenarios_smoke" / "happy.toml"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=str)
async def test_interrupt_leaves_nothing_running(tmp_path: Path, sig: signal.Signals) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "harness.cli",
        "run",
        str(SMOKE),
        "--out",
        str(tmp_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="200"),
    )
    assert proc.stdout is not None
    seen = b""
    try:
        async with asyncio.timeout(60):
            while b"steps[1] at" not in seen:  # nodes up, faults being injected
                chunk = await proc.stdout.read(4096)
                assert chunk, f"run ended before its steps: {seen.decode()}"
                seen += chunk
        proc.send_signal(sig)
        async with asyncio.timeout(30):
            rest, _ = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    output = (seen + rest).decode()
    assert proc.returncode == 128 + sig, output
    (run_dir,) = tmp_path.iterdir()
    result = json.loads((run_dir / "result.json").read_text())
    assert result["status"] == "error" and result["error"] == "interrupted", result
    manifest = json.loads((run_dir / "testnet" / "manifest.json").read_text())
    ports = [p for n in manifest["nodes"] for p in (n["api_port"], n["p2p_port"])]
    ports += [link["listen_port"] for link in manifest["links"]] + [manifest["toxiproxy_port"]]
    bound = [p for p in ports if port_is_bound(p)]
    assert not bound, f"ports still bound after {sig.name}: {bound}\n{output}"
    leftovers = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(run_dir).encode() in cmdline.read_bytes():
                leftovers.append(cmdline.parent.name)
        except OSError:
            continue
    assert not leftovers, f"processes of the run still alive: {leftovers}\n{output}"
