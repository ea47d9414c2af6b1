"""Nothing of a Docker run outlives it: on success, on a failed start, on Ctrl-C; and
``clp-testnet down`` removes what a crashed run left (but not a live run's objects)."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from container_cases import (
    a_failed_start_leaves_nothing,
    a_run,
    a_signal_during_a_demo_leaves_nothing,
    down,
)

from harness.cluster.engine import OWNER_LABEL, labelled, labels
from harness.images import Images


async def test_stop_removes_every_container_network_and_volume(
    tmp_path: Path, docker_api: Any, docker_images: Images
) -> None:
    async with a_run("docker", tmp_path, docker_api, docker_images, validators=2) as cluster:
        during = labelled(docker_api, cluster.run_id)
        assert (len(during.containers), len(during.networks), len(during.volumes)) == (3, 1, 2)


async def test_a_failed_start_leaves_nothing(
    tmp_path: Path, docker_api: Any, docker_images: Images
) -> None:
    await a_failed_start_leaves_nothing("docker", tmp_path, docker_api, docker_images)


def test_ctrl_c_during_a_docker_demo_leaves_nothing(
    tmp_path: Path, docker_api: Any, docker_images: Images
) -> None:
    a_signal_during_a_demo_leaves_nothing(
        "docker", signal.SIGINT, tmp_path, docker_api, docker_images
    )


@pytest.fixture
def planted(docker_api: Any, docker_images: Images) -> Iterator[Any]:
    """Plant a labelled container, network and volume as a crashed run would leave them."""
    made: list[Any] = []

    def plant(owner: str) -> str:
        run_id = f"planted-{secrets.token_hex(3)}"
        lab = {**labels(run_id), OWNER_LABEL: owner}
        made.append(docker_api.networks.create(f"clp-{run_id}", labels=lab))
        made.append(docker_api.volumes.create(f"clp-{run_id}-v0-data", labels=lab))
        made.append(
            docker_api.containers.create(
                docker_images.node, name=f"clp-{run_id}-v0", labels=lab, command=["--help"]
            )
        )
        return run_id

    yield plant
    for obj in reversed(made):  # whatever a failing test did not remove
        with contextlib.suppress(Exception):
            obj.remove(force=True) if hasattr(obj, "exec_run") else obj.remove()


def test_down_removes_what_a_crashed_run_left(
    planted: Any, docker_api: Any, docker_images: Images
) -> None:
    run_id = planted("gone-host:1")  # an owner that no longer runs
    assert labelled(docker_api, run_id).total == 3
    result = down(docker_images, "--run-id", run_id)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"removed container clp-{run_id}-v0" in result.stdout
    assert f"removed network clp-{run_id}" in result.stdout
    assert f"removed volume clp-{run_id}-v0-data" in result.stdout
    assert f"removed 3 Docker objects of run {run_id}" in result.stdout
    assert labelled(docker_api, run_id).total == 0


def test_down_keeps_a_live_run_unless_forced(
    planted: Any, docker_api: Any, docker_images: Images
) -> None:
    run_id = planted(f"{socket.gethostname()}:{os.getpid()}")  # this test process: alive
    kept = down(docker_images, "--run-id", run_id)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert f"kept run {run_id}" in kept.stdout
    assert labelled(docker_api, run_id).total == 3
    forced = down(docker_images, "--run-id", run_id, "--force")
    assert forced.returncode == 0 and "removed 3 Docker objects" in forced.stdout, forced.stdout
    assert labelled(docker_api, run_id).total == 0


def test_down_is_quick_when_nothing_is_left(docker_images: Images) -> None:
    t0 = time.monotonic()
    result = down(docker_images, "--run-id", "never-existed")
    assert result.returncode == 0
    assert "removed 0 Docker objects of run never-existed" in result.stdout
    assert time.monotonic() - t0 < 30
