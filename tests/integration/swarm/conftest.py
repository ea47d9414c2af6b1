"""The Swarm backend's suite (marker ``swarm``; ``make integration-swarm``): real services.

Swarm mode belongs to the whole engine, which other runs share: the session records the
engine's swarm state first and fails if it is not the same at the end (a swarm the suite
initialised must be left, its ``docker_gwbridge`` removed; one that was active stays
active), and if anything labelled as the project's (containers, networks, volumes,
services, configs, secrets) is left that was not there before.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from container_cases import backend_cluster
from docker_fixtures import docker_api, docker_images

from harness.cluster import swarm_lease
from harness.cluster.engine import labelled
from harness.cluster.swarm import SwarmLabelled

_HERE = Path(__file__).resolve().parent

__all__ = ["backend_cluster", "docker_api", "docker_images"]  # the shared fixtures


@pytest.fixture(scope="session")
def backend() -> str:
    return "swarm"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.swarm)


def engine_state(client: Any) -> tuple[str, bool]:
    """What a swarm run must give back: swarm mode on or off, and the gateway bridge."""
    return (
        str(swarm_lease.swarm_info(client).get("LocalNodeState")),
        swarm_lease.has_gwbridge(client),
    )


def project_objects(client: Any) -> set[str]:
    found = labelled(client)
    return {
        *(f"container {n}" for n in found.containers),
        *(f"network {n}" for n in found.networks),
        *(f"volume {n}" for n in found.volumes),
        *(f"swarm object {n}" for n in SwarmLabelled.find(client).names()),
    }


@pytest.fixture(scope="session")
def engine_before(docker_api: Any) -> tuple[str, bool]:
    return engine_state(docker_api)


@pytest.fixture(scope="session", autouse=True)
def engine_left_as_found(docker_api: Any, engine_before: tuple[str, bool]) -> Iterator[None]:
    before = project_objects(docker_api)
    yield
    left = sorted(project_objects(docker_api) - before)
    after = engine_state(docker_api)
    problems = []
    if left:
        problems.append(f"left project objects behind: {left}")
    if after != engine_before:
        problems.append(f"engine's (swarm state, docker_gwbridge) was {engine_before}, is {after}")
    if problems:
        pytest.fail("the swarm suite " + "; ".join(problems), pytrace=False)
