"""SwarmBackend on one 4-validator testnet (a one-node swarm): the cases of every
container backend (pause and resume act through the task's engine, links through the
Toxiproxy service), then the swarm's own: the labels of swarm-scoped objects, placement and
restart policy, and a restart as a new task on the node of the old one, which finds its
volume. In file order on the module's cluster ``c``.
"""

from __future__ import annotations

from typing import Any

import pytest
from container_cases import (
    VALIDATORS,
    CasesOfEveryBackend,
    assert_labelled,
    kill_and_restart,
)

from harness.cluster.engine import Labelled
from harness.cluster.swarm import SwarmBackend, SwarmLabelled, latest_task

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
