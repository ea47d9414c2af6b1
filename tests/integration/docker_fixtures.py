"""Fixtures of every container suite (Docker, Swarm): a daemon that answers, and images.

The suites' conftests import them; a missing daemon stops the session with the reason
(never a skip). CLP_TESTNET_NODE_IMAGE and CLP_TESTNET_TOXIPROXY_IMAGE run a suite on given
images; otherwise they are built (once; later runs find them by their content tag).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from harness.cluster.containers import images_from_env
from harness.cluster.engine import DockerUnavailable, docker_client
from harness.images import Images


@pytest.fixture(scope="session")
def docker_api() -> Iterator[Any]:
    """A reachable daemon, or the whole session stops with the reason (never a skip)."""
    try:
        client = docker_client()
    except DockerUnavailable as exc:
        pytest.exit(f"the container suite cannot run: {exc}", returncode=1)
    yield client
    client.close()


@pytest.fixture(scope="session")
def docker_images(docker_api: Any) -> Images:
    images = images_from_env()
    if images is not None:
        return images
    from harness.images import ensure_images

    return ensure_images(progress=lambda line: print(f"[images] {line}", flush=True))
