"""The Docker backend's suite (marker ``docker``): real containers, no skipping.

When these tests are selected and Docker is not reachable, the session fails with the
reason: CI has Docker, so a missing daemon is a broken machine, not an optional feature.
After the last of them, nothing of this session's runs may be left (a leftover fails the
session and is removed): the session names itself in CLP_TESTNET_SESSION, which the
backend, also in the CLI subprocesses, puts on every object as a label. Only those are
judged and removed, never the objects of other users of a shared engine (their project
objects appear and vanish while the session runs).

CLP_TESTNET_NODE_IMAGE and CLP_TESTNET_TOXIPROXY_IMAGE run the suite on given images;
otherwise they are built (once; later runs find them by their content tag).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from container_cases import backend_cluster
from docker_fixtures import docker_api, docker_images

from harness.cluster.engine import SESSION_ENV, Labelled, new_run_id

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.docker)


@pytest.fixture(scope="session")
def backend() -> str:
    return "docker"


@pytest.fixture(scope="session", autouse=True)
def nothing_left_behind(docker_api: Any) -> Iterator[None]:
    session = f"pytest-{new_run_id()}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(SESSION_ENV, session)
        yield
    left = Labelled.find(docker_api, session=session)
    if left.all:  # clean up, then fail: the next run must start clean
        names = left.names()
        left.remove()
        pytest.fail(f"the docker suite left project objects behind: {names}", pytrace=False)


# the shared fixtures, used by this suite
__all__ = ["backend_cluster", "docker_api", "docker_images"]
