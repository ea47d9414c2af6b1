"""One 4-validator testnet spread over the test swarm's engines: every validator's task
placed by the swarm, faults on the process (kill, restart, pause, packet loss, clock
offset) reaching tasks on other engines through those engines' APIs, their logs in the
run folder; then a run of its own that leaves every engine as it found it. In file order
on the module's cluster ``c``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import docker
import pytest
from container_cases import VALIDATORS, a_run, head_of, kill_and_restart
from integration_helpers import log_events

from harness.cluster.engine import Labelled
from harness.cluster.swarm import SwarmBackend, SwarmLabelled, latest_task
from harness.faults.nemesis import Nemesis
from harness.images import Images

pytestmark = [pytest.mark.asyncio(loop_scope="module")]


def remote_victim(c: SwarmBackend, manager: Any) -> tuple[str, str]:
    """A validator whose task runs on an engine other than the manager's, and that engine."""
    own = manager.info()["Swarm"]["NodeID"]
    for name in c.names:
        task = latest_task(c.services[name])
        assert task is not None
        if task["NodeID"] != own:
            host = manager.nodes.get(task["NodeID"]).attrs["Description"]["Hostname"]
            return name, str(host)
    raise AssertionError(f"no validator runs off the manager: {c.placement()}")


def container_status(url: str, name: str, c: SwarmBackend) -> str:
    """The status of ``name``'s current task container as its own engine reports it."""
    task = latest_task(c.services[name])
    assert task is not None
    client = docker.DockerClient(base_url=url)
    try:
        cid = task["Status"]["ContainerStatus"]["ContainerID"]
        return str(client.containers.get(cid).status)
    finally:
        client.close()


async def test_every_engine_runs_a_validator(c: SwarmBackend, engines: dict[str, str]) -> None:
    placed = c.placement()
    assert sorted(placed) == sorted(engines), placed
    assert sum(len(v) for v in placed.values()) == VALIDATORS
    assert c.images is not None and c.images.node.startswith(c.options.registry or "?")


async def test_logs_of_remote_tasks_reach_the_run_folder(c: SwarmBackend) -> None:
    for n in c.names:
        assert len(log_events(c, n, "node.started")) == 1, c.log_path(n)


async def test_pause_on_a_remote_engine(
    c: SwarmBackend, manager: Any, engines: dict[str, str]
) -> None:
    victim, host = remote_victim(c, manager)
    others = [n for n in c.names if n != victim]
    await c.pause(victim)
    try:
        assert container_status(engines[host], victim, c) == "paused"
        start = await head_of(c, others)
        await c.wait_for_height(start + 3, others)
        assert (await c.heights([victim]))[victim] is None, "a paused node answered"
    finally:
        await c.resume(victim)
    assert container_status(engines[host], victim, c) == "running"
    await c.wait_for_height(await head_of(c, others), [victim])


async def test_packet_loss_and_clock_offset_on_a_remote_engine(
    c: SwarmBackend, manager: Any
) -> None:
    victim, _ = remote_victim(c, manager)
    nemesis = Nemesis(c, c.fault_api())
    await nemesis.apply("packet_loss", node=victim, probability=0.3)
    code, rules = await c.node_exec(victim, ["iptables", "-w", "-S", "CLP_LOSS"])
    assert code == 0 and "--mode random --probability 0.2999" in rules, rules
    await nemesis.apply("packet_loss", node=victim, probability=0.0)
    code, _ = await c.node_exec(victim, ["iptables", "-w", "-S", "CLP_LOSS"])
    assert code != 0, "the loss chain outlived its removal"
    await nemesis.apply("clock_offset", node=victim, ms=-250)
    assert (await c.client(victim).get_faults())["clock_offset_ms"] == -250
    await nemesis.apply("clock_offset", node=victim, ms=0)


async def test_kill_and_restart_on_a_remote_engine(
    c: SwarmBackend, manager: Any, engines: dict[str, str]
) -> None:
    victim, host = remote_victim(c, manager)
    first = latest_task(c.services[victim])
    assert first is not None
    await kill_and_restart(c, victim)
    second = latest_task(c.services[victim])
    assert second is not None and second["ID"] != first["ID"]
    assert second["NodeID"] == first["NodeID"], "the restart left the node of its volume"
    assert container_status(engines[host], victim, c) == "running"


async def test_a_run_leaves_every_engine_as_found(
    tmp_path: Path, manager: Any, engines: dict[str, str], docker_images: Images
) -> None:
    async with a_run("swarm", tmp_path, manager, docker_images, validators=3) as run:
        run_id = run.run_id
        assert len(SwarmLabelled.find(manager, run_id).services) == 4
    assert SwarmLabelled.find(manager, run_id).names() == []
    for host, url in engines.items():
        client = docker.DockerClient(base_url=url)
        try:
            found = Labelled.find(client, run_id)
            assert found.all == [], f"{host} keeps {found.names()}"
            assert [n.name for n in client.networks.list() if run_id in n.name] == [], host
        finally:
            client.close()
