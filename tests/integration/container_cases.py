"""What every container backend's suite checks, written once; each suite names its backend.

A suite's conftest defines the fixture ``backend`` (its backend's name) and imports
``backend_cluster``: the fixture ``c``, one module-scoped testnet of ``VALIDATORS`` nodes
on that backend. A test module runs the cases that hold on every backend by subclassing
``CasesOfEveryBackend``, ahead of its own tests; each case leaves every node running and
every link healed for the next. The helpers below
serve the backend-specific tests: a run that must leave nothing behind, a demo stopped by
a signal, ``clp-testnet down``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from integration_helpers import log_events

from harness.cluster.backends import init_for_backend, make_cluster
from harness.cluster.base import WaitTimeout, wait_until
from harness.cluster.containers import ContainerCluster
from harness.cluster.engine import (
    OWNER_LABEL,
    PROJECT,
    PROJECT_LABEL,
    RUN_LABEL,
    Labelled,
    object_labels,
)
from harness.cluster.swarm import SwarmLabelled
from harness.faults.nemesis import Nemesis
from harness.images import Images

VALIDATORS = 4
CLI = [sys.executable, "-m", "harness.cli"]
Cluster = ContainerCluster[Any]


@pytest_asyncio.fixture(scope="module", loop_scope="module", name="c")
async def backend_cluster(
    backend: str, tmp_path_factory: pytest.TempPathFactory, docker_images: Images
) -> AsyncIterator[Cluster]:
    """A started testnet of ``VALIDATORS`` nodes on the suite's ``backend``."""
    root = tmp_path_factory.mktemp(f"{backend}-backend") / "net"
    manifest = init_for_backend(backend, root, validators=VALIDATORS, seed=backend)
    cluster = make_cluster(backend, manifest)
    assert isinstance(cluster, ContainerCluster)
    cluster.images = docker_images
    try:
        t0 = time.monotonic()
        async with cluster:
            print(f"{backend} cluster of {VALIDATORS} started in {time.monotonic() - t0:.1f} s")
            yield cluster
    finally:
        cluster.stop_sync()


def hint(c: Cluster, *names: str) -> str:
    return "; logs: " + ", ".join(c.log_path(n) for n in (names or c.names))


async def head_of(c: Cluster, names: list[str]) -> int:
    heights = await c.heights(names)
    known = [h for h in heights.values() if h is not None]
    assert known, f"none of {names} answers{hint(c, *names)}"
    return max(known)


def assert_labelled(objects: Iterable[Any], run_id: str) -> None:
    """Each object carries the project, the run and this process as its owner."""
    for obj in objects:
        lab = object_labels(obj)
        assert lab[PROJECT_LABEL] == PROJECT and lab[RUN_LABEL] == run_id, obj.name
        assert lab[OWNER_LABEL] == f"{socket.gethostname()}:{os.getpid()}", obj.name


# ---- the cases of every backend, on the suite's cluster ---------------------------------


class CasesOfEveryBackend:
    """A suite's ``class TestEveryBackend(CasesOfEveryBackend)`` runs these on its ``c``."""

    async def test_every_node_finalizes_the_same_blocks(self, c: Cluster) -> None:
        start = await head_of(c, c.names)
        reached = await c.wait_for_height(start + 5)
        assert min(reached.values()) >= start + 5
        blocks = [await c.client(n).block(start + 3) or {} for n in c.names]
        hashes = {b.get("block", {}).get("hash") for b in blocks}
        assert len(hashes) == 1 and None not in hashes, (
            f"block {start + 3} differs: {hashes}{hint(c)}"
        )

    async def test_logs_of_every_node_reach_the_run_folder(self, c: Cluster) -> None:
        for n in c.names:
            started = log_events(c, n, "node.started")  # type: ignore[arg-type]
            assert len(started) == 1 and started[0]["name"] == n, (
                f"one node.started in {c.log_path(n)}, got {started}"
            )
        assert (Path(c.log_path("v0")).parent / "toxiproxy.log").stat().st_size > 0

    async def test_paused_node_answers_nothing_then_catches_up(self, c: Cluster) -> None:
        victim, others = "v1", ["v0", "v2", "v3"]
        await c.pause(victim)
        try:
            assert c.is_running(victim), f"a paused {c.unit} still counts as running"
            start = await head_of(c, others)
            await c.wait_for_height(start + 5, others)
            assert (await c.heights([victim]))[victim] is None, "a paused node answered"
        finally:
            await c.resume(victim)
        target = await head_of(c, others)
        await c.wait_for_height(target, [victim])

    async def test_isolated_node_stalls_and_catches_up_after_heal(self, c: Cluster) -> None:
        api = c.fault_api()
        assert api is not None and api.version()
        assert len(api.proxies()) == VALIDATORS * (VALIDATORS - 1)
        nemesis = Nemesis(c, api)
        victim, others = "v2", ["v0", "v1", "v3"]
        await nemesis.apply("isolate", node=victim)
        try:
            stalled_at = (await c.heights([victim]))[victim]
            assert stalled_at is not None, f"{victim} stopped answering{hint(c, victim)}"
            start = await head_of(c, others)
            await c.wait_for_height(start + 8, others)
            now = (await c.heights([victim]))[victim]
            assert now is not None and now <= stalled_at + 1, (
                f"{victim} went from {stalled_at} to {now} while cut off{hint(c, victim)}"
            )
        finally:
            await nemesis.apply("heal")
        target = await head_of(c, others)
        reached = await c.wait_for_height(target, [victim])
        assert reached[victim] >= target > stalled_at + 1


async def kill_and_restart(c: Cluster, victim: str) -> None:
    """Kill ``victim`` (it stays down while the others go on), restart it: its first
    restart replays the chain from its volume and it catches up."""
    others = [n for n in c.names if n != victim]
    before = await c.client(victim).height()
    await c.kill(victim)
    assert not c.is_running(victim), f"{victim} runs after kill (restarted by itself?)"
    assert (await c.heights([victim]))[victim] is None
    start = await head_of(c, others)
    await c.wait_for_height(start + 3, others)  # the chain goes on without it
    assert not c.is_running(victim)
    await c.restart(victim)
    assert c.is_running(victim)
    # The node logged its replay before it served its API, but the engine's log stream
    # reaches the harness's file a moment later.
    with contextlib.suppress(WaitTimeout):
        await wait_until(
            lambda: len(log_events(c, victim, "node.replayed")) >= 2,  # type: ignore[arg-type]
            timeout=10.0,
            what=f"{victim}'s second node.replayed in its log",
        )
    replays = log_events(c, victim, "node.replayed")  # type: ignore[arg-type]
    assert len(replays) == 2, f"want one replay per start, got {replays}{hint(c, victim)}"
    assert replays[-1]["height"] >= before > 0, (
        f"restarted at {replays[-1]['height']}, was at {before}: the volume was lost"
    )
    assert await c.client(victim).height() >= before
    target = await head_of(c, others)
    await c.wait_for_height(target, [victim])


# ---- runs of their own: nothing may outlive them ----------------------------------------


def run_objects(docker_api: Any, run_id: str) -> list[str]:
    """Names of every object of the run that exists now, of either scope."""
    found = Labelled.find(docker_api, run_id)
    return [o.name for o in found.all] + SwarmLabelled.find(docker_api, run_id).names()


def owned_by(docker_api: Any, pid: int) -> list[str]:
    """Names of the project's objects (of either scope) created by process ``pid`` here."""
    owner = f"{socket.gethostname()}:{pid}"
    found = Labelled.find(docker_api).owned_by(owner)
    return found + SwarmLabelled.find(docker_api).owned_by(owner)


@contextlib.asynccontextmanager
async def a_run(
    backend: str, tmp_path: Path, docker_api: Any, images: Images, validators: int
) -> AsyncIterator[Cluster]:
    """A started testnet of its own at height 2 or more; once it stopped, nothing of it is
    left and its logs are in the run folder."""
    manifest = init_for_backend(backend, tmp_path / "net", validators=validators, seed=backend)
    c = make_cluster(backend, manifest)
    assert isinstance(c, ContainerCluster)
    c.images = images
    async with c:
        await c.wait_for_height(2)
        yield c
    assert run_objects(docker_api, c.run_id) == []
    assert "node.started" in Path(c.log_path("v0")).read_text()


async def a_failed_start_leaves_nothing(
    backend: str, tmp_path: Path, docker_api: Any, images: Images
) -> None:
    manifest = init_for_backend(backend, tmp_path / "net", validators=2, seed="bad")
    c = make_cluster(backend, manifest)
    assert isinstance(c, ContainerCluster)
    c.images = Images("clp-testnet/no-such-image:missing", images.toxiproxy, False)
    with pytest.raises(Exception, match="no-such-image"):
        async with c:
            pass
    assert run_objects(docker_api, c.run_id) == []


def cli_env(images: Images) -> dict[str, str]:
    return dict(
        os.environ,
        CLP_TESTNET_NODE_IMAGE=images.node,
        CLP_TESTNET_TOXIPROXY_IMAGE=images.toxiproxy,
        COLUMNS="120",
    )


def a_signal_during_a_demo_leaves_nothing(
    backend: str, sig: signal.Signals, tmp_path: Path, docker_api: Any, images: Images
) -> None:
    """``clp-testnet demo`` stopped by ``sig`` once its nodes run: it exits with 128 + sig
    and every object it made is gone."""
    proc = subprocess.Popen(
        [*CLI, "demo", "--backend", backend, "-n", "4", "--dir", str(tmp_path / "demo")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=cli_env(images),
        text=True,
    )
    try:
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:  # ends at EOF if the demo dies before starting
            seen.append(line)
            if "started 4 nodes" in line:
                break
        assert owned_by(docker_api, proc.pid), "the demo created nothing:\n" + "".join(seen)
        proc.send_signal(sig)
        rest, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + sig, "".join(seen) + rest
    assert owned_by(docker_api, proc.pid) == []


def down(images: Images, *args: str) -> subprocess.CompletedProcess[str]:
    """``clp-testnet down ARGS`` in a subprocess."""
    return subprocess.run(
        [*CLI, "down", *args],
        capture_output=True,
        text=True,
        env=cli_env(images),
        timeout=120,
    )
