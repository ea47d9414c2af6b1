"""Nothing of a Docker run outlives it: on success, on a failed start, on Ctrl-C; and
``clp-testnet down`` removes what a crashed run left (but not a live run's objects)."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.cluster.backends import init_for_backend
from harness.cluster.docker import (
    OWNER_LABEL,
    DockerBackend,
    Labelled,
    labelled,
    labels,
)
from harness.images import Images

CLI = [sys.executable, "-m", "harness.cli"]


def cli_env(images: Images) -> dict[str, str]:
    return dict(
        os.environ,
        CLP_TESTNET_NODE_IMAGE=images.node,
        CLP_TESTNET_TOXIPROXY_IMAGE=images.toxiproxy,
        COLUMNS="120",
    )


def owned_by(docker_api: Any, pid: int) -> list[str]:
    """Names of the project's objects created by process ``pid`` of this host."""
    return Labelled.find(docker_api).owned_by(f"{socket.gethostname()}:{pid}")


async def test_stop_removes_every_container_network_and_volume(
    tmp_path: Path, docker_api: Any, docker_images: Images
) -> None:
    manifest = init_for_backend("docker", tmp_path / "net", validators=2, seed="two")
    cluster = DockerBackend(manifest, images=docker_images)
    async with cluster:
        await cluster.wait_for_height(2)
        during = labelled(docker_api, cluster.run_id)
        assert (len(during.containers), len(during.networks), len(during.volumes)) == (3, 1, 2)
    assert labelled(docker_api, cluster.run_id).total == 0
    assert "node.started" in Path(cluster.log_path("v0")).read_text()


async def test_a_failed_start_leaves_nothing(
    tmp_path: Path, docker_api: Any, docker_images: Images
) -> None:
    manifest = init_for_backend("docker", tmp_path / "net", validators=2, seed="bad")
    broken = Images("clp-testnet/no-such-image:missing", docker_images.toxiproxy, False)
    cluster = DockerBackend(manifest, images=broken)
    with pytest.raises(Exception, match="no-such-image"):
        async with cluster:
            pass
    assert labelled(docker_api, cluster.run_id).total == 0


def test_ctrl_c_during_a_docker_demo_leaves_nothing(
    tmp_path: Path, docker_api: Any, docker_images: Images
) -> None:
    proc = subprocess.Popen(
        [*CLI, "demo", "--backend", "docker", "-n", "4", "--dir", str(tmp_path / "demo")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=cli_env(docker_images),
        text=True,
    )
    try:
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:  # ends at EOF if the demo dies before starting
            seen.append(line)
            if "started 4 nodes" in line:
                break
        assert owned_by(docker_api, proc.pid), "the demo created no containers:\n" + "".join(seen)
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, "".join(seen) + rest
    assert owned_by(docker_api, proc.pid) == []


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


def down(images: Images, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "down", *args],
        capture_output=True,
        text=True,
        env=cli_env(images),
        timeout=60,
    )


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
