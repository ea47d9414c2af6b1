"""DockerBackend on one 4-validator testnet: containers finalize, pause/resume, a link fault
through the containerised Toxiproxy, kill and restart from the node's volume (also several
times over), labels, logs.

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
from harness.cluster.base import wait_until
from harness.cluster.docker import (
    OWNER_LABEL,
    PROJECT,
    PROJECT_LABEL,
    RUN_LABEL,
    DockerBackend,
    Labelled,
    object_labels,
)
from harness.faults.errors import FaultError
from harness.faults.nemesis import Nemesis
from harness.images import Images

pytestmark = [pytest.mark.asyncio(loop_scope="module")]

VALIDATORS = 4
RESTART_CYCLES = 5
START_TIMES: list[float] = []


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def c(
    tmp_path_factory: pytest.TempPathFactory, docker_images: Images
) -> AsyncIterator[DockerBackend]:
    root = tmp_path_factory.mktemp("docker-backend") / "net"
    manifest = init_for_backend("docker", root, validators=VALIDATORS, seed="docker")
    cluster = make_cluster("docker", manifest)
    assert isinstance(cluster, DockerBackend)
    cluster.images = docker_images
    try:
        t0 = time.monotonic()
        async with cluster:
            START_TIMES.append(time.monotonic() - t0)
            print(f"docker cluster of {VALIDATORS} started in {START_TIMES[-1]:.1f} s")
            yield cluster
    finally:
        cluster.stop_sync()


def hint(c: DockerBackend, *names: str) -> str:
    return "; logs: " + ", ".join(c.log_path(n) for n in (names or c.names))


async def head_of(c: DockerBackend, names: list[str]) -> int:
    heights = await c.heights(names)
    known = [h for h in heights.values() if h is not None]
    assert known, f"none of {names} answers{hint(c, *names)}"
    return max(known)


async def test_every_node_finalizes_the_same_blocks(c: DockerBackend) -> None:
    start = await head_of(c, c.names)
    reached = await c.wait_for_height(start + 5)
    assert min(reached.values()) >= start + 5
    hashes = {
        (await c.client(n).block(start + 3) or {}).get("block", {}).get("hash") for n in c.names
    }
    assert len(hashes) == 1 and None not in hashes, f"block {start + 3} differs: {hashes}{hint(c)}"
    for n in c.names:
        assert c.api_url(n).startswith("http://127.0.0.1:")


async def test_every_object_of_the_run_is_labelled(c: DockerBackend, docker_api: Any) -> None:
    found = Labelled.find(docker_api, c.run_id)
    assert len(found.containers) == VALIDATORS + 1  # the nodes and Toxiproxy
    assert len(found.networks) == 1 and len(found.volumes) == VALIDATORS
    for obj in [*found.containers, *found.networks, *found.volumes]:
        lab = object_labels(obj)
        assert lab[PROJECT_LABEL] == PROJECT and lab[RUN_LABEL] == c.run_id, obj.name
        assert lab[OWNER_LABEL] == f"{socket.gethostname()}:{os.getpid()}"


async def test_logs_of_every_node_reach_the_run_folder(c: DockerBackend) -> None:
    for n in c.names:
        started = log_events(c, n, "node.started")
        assert started and started[0]["name"] == n, f"no node.started in {c.log_path(n)}"
    assert (Path(c.log_path("v0")).parent / "toxiproxy.log").stat().st_size > 0


async def test_paused_node_answers_nothing_then_catches_up(c: DockerBackend) -> None:
    victim, others = "v1", ["v0", "v2", "v3"]
    await c.pause(victim)
    try:
        assert c.is_running(victim), "a paused container still counts as running"
        start = await head_of(c, others)
        await c.wait_for_height(start + 5, others)
        assert (await c.heights([victim]))[victim] is None, "a paused node answered"
    finally:
        await c.resume(victim)
    target = await head_of(c, others)
    await c.wait_for_height(target, [victim])


async def test_isolated_node_stalls_and_catches_up_after_heal(c: DockerBackend) -> None:
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


async def test_killed_node_restarts_from_its_volume(c: DockerBackend) -> None:
    victim, others = "v3", ["v0", "v1", "v2"]
    before = await c.client(victim).height()
    old_url = c.api_url(victim)
    await c.kill(victim)
    assert not c.is_running(victim)
    assert (await c.heights([victim]))[victim] is None
    start = await head_of(c, others)
    await c.wait_for_height(start + 3, others)  # the chain goes on without it
    await c.restart(victim)
    assert c.is_running(victim)
    replays = log_events(c, victim, "node.replayed")
    assert len(replays) == 2, f"want one replay per start, got {replays}{hint(c, victim)}"
    assert replays[-1]["height"] >= before > 0, (
        f"restarted at {replays[-1]['height']}, was at {before}: the volume was lost"
    )
    after = await c.client(victim).height()
    assert after >= before
    target = await head_of(c, others)
    await c.wait_for_height(target, [victim])
    print(f"{victim}: height {before} before kill, replayed {replays[-1]['height']}; {old_url}")


async def test_packet_loss_drops_packets_inside_the_container_and_is_undone(
    c: DockerBackend,
) -> None:
    nemesis = Nemesis(c, c.fault_api())
    victim = "v1"
    rec = await nemesis.apply("packet_loss", node=victim, probability=0.3)
    try:
        assert rec.state.packet_loss == {victim: 0.3}
        others = [n for n in c.names if n != victim]
        start = await head_of(c, others)
        await c.wait_for_height(start + 5, others)  # traffic crossed v1's interface meanwhile
        code, rules = await c.node_exec(
            victim, ["iptables", "-w", "-L", "CLP_LOSS", "-v", "-n", "-x"]
        )
        assert code == 0, rules
        drop = [
            line.split() for line in rules.splitlines() if "DROP" in line and "statistic" in line
        ]
        assert drop and int(drop[0][0]) > 0, f"no packet dropped:\n{rules}"
        probability = float(drop[0][drop[0].index("probability") + 1])
        assert abs(probability - 0.3) < 1e-6, rules
    finally:
        undone = await nemesis.apply("packet_loss", node=victim, probability=0)
    assert undone.state.packet_loss == {}
    code, rules = await c.node_exec(victim, ["iptables", "-w", "-S"])
    assert code == 0 and "CLP_LOSS" not in rules, rules
    target = await head_of(c, [n for n in c.names if n != victim])
    await c.wait_for_height(target, [victim])


async def test_netem_works_or_says_the_kernel_lacks_it(c: DockerBackend) -> None:
    """This machine's kernel has no netem qdisc: one clear error and nothing recorded;
    where it has one, the qdisc is set and removed again."""
    nemesis = Nemesis(c, c.fault_api())
    code, out = await c.node_exec("v0", ["sh", "-c", "tc qdisc add dev lo root netem delay 1ms"])
    has_netem = code == 0
    if has_netem:
        await c.node_exec("v0", ["tc", "qdisc", "del", "dev", "lo", "root"])
        rec = await nemesis.apply("netem", node="v0", delay_ms=20, jitter_ms=5)
        assert rec.state.netem == {"v0": {"delay_ms": 20, "jitter_ms": 5}}
        assert (await nemesis.apply("netem", node="v0")).state.netem == {}
        return
    assert "qdisc kind is unknown" in out, out
    with pytest.raises(FaultError, match="this kernel has no netem qdisc"):
        await nemesis.apply("netem", node="v0", delay_ms=20)
    assert nemesis.log.records == []


async def test_a_node_comes_back_after_every_kill_and_restart(c: DockerBackend) -> None:
    """Each restart publishes a new host port and replays the volume: both must hold every
    time, not just once (a start that loses its port, or a node that never answers again,
    fails here)."""
    victim, others = "v1", ["v0", "v2", "v3"]
    for cycle in range(1, RESTART_CYCLES + 1):
        before = await c.client(victim).height()
        await c.kill(victim)
        assert not c.is_running(victim), f"cycle {cycle}: {victim} still runs after kill"
        start = await head_of(c, others)
        await c.wait_for_height(start + 2, others)
        await c.restart(victim)

        def replays(starts: int = cycle + 1) -> list[dict[str, Any]] | None:
            found = log_events(c, victim, "node.replayed")  # the log follower may lag
            return found if len(found) >= starts else None

        what = f"cycle {cycle}'s node.replayed in {c.log_path(victim)}"
        replayed = (await wait_until(replays, 10.0, what))[-1]["height"]
        assert replayed >= before, f"cycle {cycle}: replayed {replayed}, was at {before}"
        target = await head_of(c, others)
        reached = await c.wait_for_height(target, [victim])
        assert reached[victim] >= target, f"cycle {cycle}{hint(c, victim)}"
        print(f"cycle {cycle}: {victim} back at {c.api_url(victim)}, caught up to {target}")
    assert len(log_events(c, victim, "node.replayed")) == RESTART_CYCLES + 1
