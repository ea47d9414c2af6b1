"""The Docker backend's suite (marker ``docker``): real containers, no skipping.

When these tests are selected and Docker is not reachable, the session fails with the
reason: CI has Docker, so a missing daemon is a broken machine, not an optional feature.
After the last of them, nothing labelled as the project's may be left that was not there
before the session (a leftover fails the session and is removed).

CLP_TESTNET_NODE_IMAGE and CLP_TESTNET_TOXIPROXY_IMAGE run the suite on given images;
otherwise they are built (once; later runs find them by their content tag).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from docker_fixtures import docker_api, docker_images

from harness.cluster.docker import (
    OWNER_LABEL,
    Labelled,
    Removed,
    labelled,
    object_labels,
    owner_alive,
    owner_id,
)

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.docker)


@pytest.fixture(scope="session", autouse=True)
def nothing_left_behind(docker_api: Any) -> Iterator[None]:
    before = labelled(docker_api)
    yield
    # Only what this session made: objects of a live process other than this one (another
    # test run on a shared daemon) are not ours to judge or remove.
    found = Labelled.find(docker_api)
    theirs = {
        o.name
        for o in found.all
        if (owner := object_labels(o).get(OWNER_LABEL, "")) != owner_id() and owner_alive(owner)
    }
    names = found.names()
    after = Removed(
        [n for n in names.containers if n not in theirs],
        [n for n in names.networks if n not in theirs],
        [n for n in names.volumes if n not in theirs],
    )
    left = Removed(
        sorted(set(after.containers) - set(before.containers)),
        sorted(set(after.networks) - set(before.networks)),
        sorted(set(after.volumes) - set(before.volumes)),
    )
    if left.total:  # clean up, then fail: the next run must start clean
        found = Labelled.find(docker_api)
        Labelled(
            [c for c in found.containers if c.name in left.containers],
            [n for n in found.networks if n.name in left.networks],
            [v for v in found.volumes if v.name in left.volumes],
        ).remove()
        pytest.fail(f"the docker suite left project objects behind: {left}", pytrace=False)


__all__ = ["docker_api", "docker_images"]  # the shared fixtures, used by this suite
