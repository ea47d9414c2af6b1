"""SwarmBackend on one 4-validator testnet (a one-node swarm): the cases of every
container backend (pause and resume act through the task's engine, links through the
Toxiproxy service), then the swarm's own: the labels of swarm-scoped objects, placement and
restart policy, a restart as a new task on the node of the old one, which finds its
volume, and an upgrade to the Rust node on a new volume. In file order on the module's
cluster ``c``.
"""

from __future__ import annotations

from typing import Any

import pytest
from container_cases import (
    VALIDATORS,
    CasesOfEveryBackend,
    assert_labelled,
    head_of,
    kill_and_restart,
)

from harness.cluster.engine import Labelled
from harness.cluster.swarm import SwarmBackend, SwarmLabelled, latest_task
from harness.faults.nemesis import Nemesis

pytestmark = [pytest.mark.asyncio(loop_scope="module")]


class TestEveryBackend(CasesOfEveryBackend):
    """What holds on every container backend, on swarm services."""


async def test_every_object_of_the_run_is_labelled(c: SwarmBackend, docker_api: Any) -> None:
    swarm = SwarmLabelled.find(docker_api, c.run_id)
    assert len(swarm.services) == VALIDATORS + 1  # the nodes and Toxiproxy
    assert len(swarm.configs) == 1 + VALIDATORS  # genesis; each node's node.toml
    assert len(swarm.secrets) == VALIDATORS  # each node's key
    found = Labelled.find(docker_api, c.run_id)
    assert len(found.containers) == VALIDATORS + 1  # the tasks' containers
    assert len(found.networks) == 1 and len(found.volumes) == VALIDATORS
    assert found.networks[0].attrs["Driver"] == "overlay"
    assert_labelled([*swarm.all, *found.all], c.run_id)


async def test_placement_spreads_and_restarts_never_come_from_the_swarm(c: SwarmBackend) -> None:
    for name, service in c.services.items():
        template = service.attrs["Spec"]["TaskTemplate"]
        assert template["RestartPolicy"]["Condition"] == "none", name
        prefs = template["Placement"]["Preferences"]
        assert prefs == [{"Spread": {"SpreadDescriptor": "node.id"}}], name


async def test_killed_node_restarts_from_its_volume_as_a_new_task_on_its_node(
    c: SwarmBackend,
) -> None:
    victim = "v3"
    first = latest_task(c.services[victim])
    assert first is not None
    await kill_and_restart(c, victim)
    second = latest_task(c.services[victim])
    assert second is not None and second["ID"] != first["ID"], "restart made no new task"
    assert second["NodeID"] == first["NodeID"]


async def test_an_upgrade_runs_the_other_kind_on_a_new_volume_as_the_same_validator(
    c: SwarmBackend, docker_api: Any
) -> None:
    victim, others = "v2", ["v0", "v1", "v3"]
    first = latest_task(c.services[victim])
    assert first is not None
    await Nemesis(c, c.fault_api()).apply("upgrade", node=victim, to="rust")
    service = c.services[victim]
    service.reload()
    spec = service.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]
    rust_id = docker_api.images.get(c.kind_image("rust")).id
    assert spec["Image"] == rust_id, "the service does not run the Rust node's image"
    [mount] = spec["Mounts"]
    assert mount["Source"] == f"clp-{c.run_id}-{victim}-data-2", "the store was not emptied"
    volumes = {v.name for v in Labelled.find(docker_api, c.run_id).volumes}
    assert mount["Source"] in volumes and c.volume_name(victim) == mount["Source"]
    task = latest_task(service)
    assert task is not None and task["ID"] != first["ID"] and task["NodeID"] == first["NodeID"]
    target = await head_of(c, others)
    await c.wait_for_height(target, [victim])  # re-synced from its peers
    address = c.manifest.node(victim).address

    async def signs() -> bool:
        votes = await c.client("v0").consensus_votes(target + 1, target + 6) or {}
        return any(v["validator"] == address for v in votes.get("votes", []))

    # its key and node.toml came along: the others count its votes again
    await c.wait_for(signs, 60.0, f"a vote of {victim} above height {target}")
