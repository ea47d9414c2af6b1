"""The Swarm backend across several Docker engines (marker ``swarm``; ``make
integration-swarm-multi``): engines in containers joined in one swarm, and a registry
(``engines.py``).

Under ``engines.py -- pytest ...`` (the make target) the session uses the engines it was
given (CLP_SWARM_MANAGER and friends); run alone, it starts three and removes them at the
end. Either way the host engine's swarm state must be as it was, and nothing of the
test swarm left behind.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from container_cases import backend_cluster
from docker_fixtures import docker_api, docker_images
from engines import TestSwarm

from harness.cluster import swarm_lease

_HERE = Path(__file__).resolve().parent

__all__ = ["backend_cluster", "docker_api", "docker_images"]  # the shared fixtures


@pytest.fixture(scope="session")
def backend() -> str:
    return "swarm"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.swarm)


@pytest.fixture(scope="session", autouse=True)
def engines(docker_api: Any) -> Iterator[dict[str, str]]:
    """Swarm node hostname -> its engine's API URL; the session's environment names them."""
    host_swarm = swarm_lease.swarm_info(docker_api).get("LocalNodeState")
    swarm = None
    if not os.environ.get("CLP_SWARM_MANAGER"):
        swarm = TestSwarm(3, lambda line: print(f"[engines] {line}", flush=True))
        try:
            swarm.start()
        except BaseException:
            swarm.stop()
            raise
        os.environ.update(swarm.env)
    urls = dict(item.split("=", 1) for item in os.environ["CLP_SWARM_ENGINES"].split(","))
    yield urls
    if swarm is not None:
        for key in swarm.env:
            os.environ.pop(key, None)
        left = swarm.stop()
        assert left == [], f"the test swarm left {left}"
    assert swarm_lease.swarm_info(docker_api).get("LocalNodeState") == host_swarm


@pytest.fixture(scope="session")
def manager(engines: dict[str, str]) -> Iterator[Any]:
    client = docker.DockerClient(base_url=os.environ["CLP_SWARM_MANAGER"])
    yield client
    client.close()
