"""Teardown leaves nothing behind: no process, no listening port, whatever ended the run.

Each test runs a 5-node proxied local testnet (nodes plus the Toxiproxy-API server) and
ends it one way — a clean stop, an exception inside ``async with``, a node SIGKILLed or
SIGSTOPped from outside, Ctrl-C on the CLI — then asks the kernel (/proc, via
``find_leftovers``, the same check ``benchmarks/cycles.py`` runs 100 times) what is left.
A first test shows the check does see a process that was left running.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from harness.cluster.base import ProtocolClock, wait_until
from harness.cluster.leftovers import (
    ProcessId,
    find_leftovers,
    is_alive,
    listening_sockets,
    process_id,
    processes_mentioning,
    socket_owners,
    tracked_processes,
)
from harness.cluster.local import LocalBackend
from harness.cluster.testnet import MANIFEST, TestnetManifest, init_testnet

pytestmark = pytest.mark.integration

VALIDATORS = 5
CLI = Path(sys.executable).with_name("clp-testnet")
# LocalBackend.stop allows 5 s for SIGTERM before SIGKILL, then the proxy server gets its
# own 5 s: a process still there after both (plus slack) was not torn down.
STOP_BUDGET = 15.0
# LocalBackend.start gives every node 30 s to answer /health.
START_BUDGET = 30.0


class Boom(Exception):
    """The failure a scenario raises inside ``async with cluster``."""


def proxied_testnet(root: Path, seed: str) -> TestnetManifest:
    return init_testnet(root, validators=VALIDATORS, seed=seed)


async def test_three_start_stop_cycles_leave_nothing(tmp_path: Path) -> None:
    for i in range(3):
        manifest = proxied_testnet(tmp_path / f"net{i}", f"cycle-{i}")
        cluster = LocalBackend(manifest)
        async with cluster:
            tracked = tracked_processes(cluster)
            assert len(tracked) == VALIDATORS + 1  # the nodes and the proxy server
            await cluster.wait_for_height(3)
        assert find_leftovers(manifest, tracked) == [], f"cycle {i}"


async def test_the_check_sees_a_process_left_running(tmp_path: Path) -> None:
    manifest = proxied_testnet(tmp_path / "net", "orphan")
    cluster = LocalBackend(manifest)
    async with cluster:
        tracked = tracked_processes(cluster)
        orphan = cluster.procs.pop("v0")  # the backend forgets v0, so stop() leaves it
    try:
        left = find_leftovers(manifest, tracked)
        v0 = manifest.node("v0")
        assert any(f"process {orphan.pid} still running" in line for line in left), left
        assert any(f"port {v0.api_port} (v0 API)" in line for line in left), left
        assert any(f"port {v0.p2p_port} (v0 P2P)" in line for line in left), left
        assert not any("toxiproxy" in line or "v1" in line for line in left), left
    finally:
        orphan.kill()
        orphan.wait(STOP_BUDGET)
    assert find_leftovers(manifest, tracked) == []


async def test_an_exception_inside_async_with_tears_down(tmp_path: Path) -> None:
    manifest = proxied_testnet(tmp_path / "net", "boom")
    cluster = LocalBackend(manifest)
    tracked: list[ProcessId] = []
    with pytest.raises(Boom):
        async with cluster:
            tracked = tracked_processes(cluster)
            await cluster.wait_for_height(2)
            raise Boom
    assert len(tracked) == VALIDATORS + 1
    assert find_leftovers(manifest, tracked) == []


async def test_a_node_sigkilled_mid_run_is_still_reaped(tmp_path: Path) -> None:
    manifest = proxied_testnet(tmp_path / "net", "sigkill")
    cluster = LocalBackend(manifest)
    async with cluster:
        tracked = tracked_processes(cluster)
        await cluster.wait_for_height(2)
        victim = cluster.procs["v2"]
        os.kill(victim.pid, signal.SIGKILL)  # from outside: the backend is not told
        others = [n for n in cluster.names if n != "v2"]
        top = max(h for h in (await cluster.heights(others)).values() if h is not None)
        await cluster.wait_for_height(top + 2, others)  # the run goes on without it
    assert victim.returncode == -signal.SIGKILL
    assert find_leftovers(manifest, tracked) == []


async def test_paused_processes_are_resumed_and_stopped(tmp_path: Path) -> None:
    manifest = proxied_testnet(tmp_path / "net", "sigstop")
    cluster = LocalBackend(manifest)
    async with cluster:
        tracked = tracked_processes(cluster)
        await cluster.wait_for_height(2)
        await cluster.pause("v1")
        assert cluster.proxies is not None and cluster.proxies.servers[0].proc is not None
        proxy = cluster.proxies.servers[0].proc
        os.kill(proxy.pid, signal.SIGSTOP)  # the proxy server frozen from outside too
        paused = cluster.procs["v1"]
    # SIGCONT before SIGTERM: the paused node shut down by itself, not by SIGKILL.
    assert paused.returncode == 0, paused.returncode
    assert proxy.returncode != -signal.SIGKILL, proxy.returncode
    assert find_leftovers(manifest, tracked) == []


# ---- Ctrl-C on the CLI ----------------------------------------------------------------------


async def all_nodes_past_genesis(manifest: TestnetManifest) -> bool:
    async with httpx.AsyncClient(timeout=1.0) as http:
        for n in manifest.nodes:
            try:
                health = (await http.get(f"{n.api_url}/health")).json()
            except (httpx.HTTPError, ValueError):
                return False
            if int(health.get("height", 0)) < 1:
                return False
    return True


def processes_of(manifest: TestnetManifest, cli_pid: int) -> list[ProcessId]:
    """The nodes (their command lines name the testnet) and whoever serves the proxy port."""
    pids = set(processes_mentioning(str(manifest.root))) - {cli_pid}
    pids |= set(socket_owners(listening_sockets(manifest.toxiproxy_ports).values()).values())
    return [p for p in map(process_id, sorted(pids)) if p is not None]


async def interrupt_cli(
    args: list[str], manifest_dir: Path, twice: bool = False, sig: int = signal.SIGINT
) -> tuple[int, str]:
    """Run the CLI until its testnet produces blocks, signal it, return (exit code, output).

    ``twice``: a second SIGINT as soon as the first node has gone, i.e. in the middle of
    the teardown (the proxy server is stopped after every node), as an impatient user does.
    """
    proc = subprocess.Popen(
        [str(CLI), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # a signal meant for it never reaches pytest
        env=dict(os.environ, COLUMNS="120"),
    )
    try:
        manifest_file = manifest_dir / MANIFEST
        await wait_until(lambda: manifest_file.exists(), START_BUDGET, "the testnet to be written")
        manifest = TestnetManifest.load(manifest_dir)
        clock = ProtocolClock.from_manifest(manifest)
        await wait_until(
            lambda: all_nodes_past_genesis(manifest),
            START_BUDGET + clock.blocks(1),
            "every node past height 0",
        )
        tracked = processes_of(manifest, proc.pid)
        assert len(tracked) == VALIDATORS + 1, tracked
        proc.send_signal(sig)
        if twice:
            await wait_until(
                lambda: not all(is_alive(p) for p in tracked),
                STOP_BUDGET,
                "the teardown to begin",
                interval=0.01,
            )
            proc.send_signal(sig)
        out, _ = await asyncio.to_thread(proc.communicate, timeout=STOP_BUDGET)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            # The nodes run in sessions of their own: a CLI killed here cannot stop them,
            # so a failed test stops them itself rather than leave them running.
            if manifest_file.exists():
                for pid in processes_mentioning(str(manifest_dir)):
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(pid, signal.SIGKILL)
    assert not any(is_alive(p) for p in tracked)
    assert find_leftovers(manifest, tracked) == [], out.decode(errors="replace")
    return proc.returncode, out.decode(errors="replace")


@pytest.mark.parametrize("twice", [False, True], ids=["ctrl-c", "ctrl-c-twice"])
async def test_ctrl_c_on_the_demo_stops_everything(tmp_path: Path, twice: bool) -> None:
    code, out = await interrupt_cli(["demo", "--dir", str(tmp_path)], tmp_path / "testnet", twice)
    assert code == 130, out
    assert "interrupted; everything was stopped" in out


@pytest.mark.parametrize("twice", [False, True], ids=["ctrl-c", "ctrl-c-twice"])
async def test_ctrl_c_on_up_stops_everything(tmp_path: Path, twice: bool) -> None:
    root = tmp_path / "net"
    proxied_testnet(root, "up-ctrl-c")
    code, out = await interrupt_cli(["up", "--dir", str(root)], root, twice)
    assert code == 130, out
    assert not (root / "run.json").exists(), "a stopped foreground run left run.json"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["sigterm", "sighup"])
async def test_sigterm_and_sighup_on_the_demo_and_up_stop_everything(
    tmp_path: Path, sig: signal.Signals
) -> None:
    """CI runners and `timeout` send SIGTERM, a closed terminal SIGHUP: both as Ctrl-C."""
    code, out = await interrupt_cli(
        ["demo", "--dir", str(tmp_path / "demo")], tmp_path / "demo" / "testnet", sig=sig
    )
    assert code == 128 + sig and f"everything was stopped ({sig.name})" in out, out
    root = tmp_path / "net"
    proxied_testnet(root, f"up-{sig.name}")
    code, out = await interrupt_cli(["up", "--dir", str(root)], root, sig=sig)
    assert code == 128 + sig, out
    assert not (root / "run.json").exists(), "a stopped foreground run left run.json"
