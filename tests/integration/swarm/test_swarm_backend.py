"""SwarmBackend on one 4-validator testnet (a one-node swarm): services finalize, every
object is labelled, logs reach the run folder, pause/resume through the task's engine, a
link fault through the Toxiproxy service, kill, and restart as a service update that
finds the node's volume.

The tests run in file order on one module-scoped cluster; each leaves every node running
and every link healed for the next.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from integration_helpers import log_events

from harness.cluster.backends import init_for_backend, make_cluster
from harness.cluster.docker import OWNER_LABEL, PROJECT, PROJECT_LABEL, RUN_LABEL, Labelled
from harness.cluster.swarm import SwarmBackend, SwarmLabelled, latest_task
from harness.faults.nemesis import Nemesis
from harness.images import Images

pytestmark = [pytest.mark.asyncio(loop_scope="module")]

VALIDATORS = 4


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def c(
    tmp_path_factory: pytest.TempPathFactory, docker_images: Images
) -> AsyncIterator[SwarmBackend]:
    root = tmp_path_factory.mktemp("swarm-backend") / "net"
    manifest = init_for_backend("swarm", root, validators=VALIDATORS, seed="swarm")
    cluster = make_cluster("swarm", manifest)
    assert isinstance(cluster, SwarmBackend)
    cluster.images = docker_images
    try:
        t0 = time.monotonic()
        async with cluster:
            print(f"swarm cluster of {VALIDATORS} started in {time.monotonic() - t0:.1f} s")
            yield cluster
    finally:
        cluster.stop_sync()


def hint(c: SwarmBackend, *names: str) -> str:
    return "; logs: " + ", ".join(c.log_path(n) for n in (names or c.names))


async def head_of(c: SwarmBackend, names: list[str]) -> int:
    heights = await c.heights(names)
    known = [h for h in heights.values() if h is not None]
    assert known, f"none of {names} answers{hint(c, *names)}"
    return max(known)


async def test_every_node_finalizes_the_same_blocks(c: SwarmBackend) -> None:
    start = await head_of(c, c.names)
    reached = await c.wait_for_height(start + 5)
    assert min(reached.values()) >= start + 5
    hashes = {
        (await c.client(n).block(start + 3) or {}).get("block", {}).get("hash") for n in c.names
    }
    assert len(hashes) == 1 and None not in hashes, f"block {start + 3} differs: {hashes}{hint(c)}"


async def test_every_object_of_the_run_is_labelled(c: SwarmBackend, docker_api: Any) -> None:
    swarm = SwarmLabelled.find(docker_api, c.run_id)
    assert len(swarm.services) == VALIDATORS + 1  # the nodes and Toxiproxy
    assert len(swarm.configs) == 1 + VALIDATORS  # genesis; each node's node.toml
    assert len(swarm.secrets) == VALIDATORS  # each node's key
    found = Labelled.find(docker_api, c.run_id)
    assert len(found.containers) == VALIDATORS + 1  # the tasks' containers
    assert len(found.networks) == 1 and len(found.volumes) == VALIDATORS
    assert found.networks[0].attrs["Driver"] == "overlay"
    owner = f"{socket.gethostname()}:{os.getpid()}"
    for obj in swarm.all:
        lab = obj.attrs["Spec"]["Labels"]
        assert lab[PROJECT_LABEL] == PROJECT and lab[RUN_LABEL] == c.run_id, obj.name
        assert lab[OWNER_LABEL] == owner
    for obj in found.all:
        lab = obj.attrs.get("Labels") or obj.attrs["Config"]["Labels"]
        assert lab[RUN_LABEL] == c.run_id and lab[OWNER_LABEL] == owner, obj.name


async def test_placement_spreads_and_restarts_never_come_from_the_swarm(c: SwarmBackend) -> None:
    for name, service in c.services.items():
        template = service.attrs["Spec"]["TaskTemplate"]
        assert template["RestartPolicy"]["Condition"] == "none", name
        prefs = template["Placement"]["Preferences"]
        assert prefs == [{"Spread": {"SpreadDescriptor": "node.id"}}], name


async def test_logs_of_every_node_reach_the_run_folder(c: SwarmBackend) -> None:
    for n in c.names:
        started = log_events(c, n, "node.started")  # type: ignore[arg-type]
        assert len(started) == 1 and started[0]["name"] == n, f"node.started in {c.log_path(n)}"
    assert (Path(c.log_path("v0")).parent / "toxiproxy.log").stat().st_size > 0


async def test_paused_node_answers_nothing_then_catches_up(c: SwarmBackend) -> None:
    victim, others = "v1", ["v0", "v2", "v3"]
    await c.pause(victim)
    try:
        assert c.is_running(victim), "a paused task still counts as running"
        start = await head_of(c, others)
        await c.wait_for_height(start + 5, others)
        assert (await c.heights([victim]))[victim] is None, "a paused node answered"
    finally:
        await c.resume(victim)
    target = await head_of(c, others)
    await c.wait_for_height(target, [victim])


async def test_isolated_node_stalls_and_catches_up_after_heal(c: SwarmBackend) -> None:
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


async def test_killed_node_restarts_from_its_volume(c: SwarmBackend) -> None:
    victim, others = "v3", ["v0", "v1", "v2"]
    before = await c.client(victim).height()
    first = latest_task(c.services[victim])
    assert first is not None
    await c.kill(victim)
    assert not c.is_running(victim), "the swarm restarted a killed node by itself"
    assert (await c.heights([victim]))[victim] is None
    start = await head_of(c, others)
    await c.wait_for_height(start + 3, others)  # the chain goes on without it
    assert not c.is_running(victim)
    await c.restart(victim)
    assert c.is_running(victim)
    second = latest_task(c.services[victim])
    assert second is not None and second["ID"] != first["ID"], "restart made no new task"
    assert second["NodeID"] == first["NodeID"]
    replays = log_events(c, victim, "node.replayed")  # type: ignore[arg-type]
    assert len(replays) == 2, f"want one replay per start, got {replays}{hint(c, victim)}"
    assert replays[-1]["height"] >= before > 0, (
        f"restarted at {replays[-1]['height']}, was at {before}: the volume was lost"
    )
    target = await head_of(c, others)
    await c.wait_for_height(target, [victim])
