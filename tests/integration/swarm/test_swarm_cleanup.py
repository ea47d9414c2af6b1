"""Nothing of a swarm run outlives it, and the engine's swarm mode is given back: on
success and on SIGTERM during a demo; ``clp-testnet down`` removes a crashed run's
services and configs."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import engine_state

from harness.cluster import swarm_lease
from harness.cluster.backends import init_for_backend
from harness.cluster.docker import (
    OWNER_LABEL,
    PROJECT,
    PROJECT_LABEL,
    RUN_LABEL,
    Labelled,
    labelled,
)
from harness.cluster.swarm import SwarmBackend, SwarmLabelled, remove_run
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
    owner = f"{socket.gethostname()}:{pid}"
    found = Labelled.find(docker_api).owned_by(owner)
    swarm = SwarmLabelled.find(docker_api)
    return found + [
        o.name for o in swarm.all if o.attrs["Spec"]["Labels"].get("org.clp-testnet.owner") == owner
    ]


async def test_stop_removes_everything_and_gives_the_swarm_back(
    tmp_path: Path, docker_api: Any, docker_images: Images, engine_before: tuple[str, bool]
) -> None:
    manifest = init_for_backend("swarm", tmp_path / "net", validators=4, seed="four")
    cluster = SwarmBackend(manifest, images=docker_images)
    async with cluster:
        assert swarm_lease.is_active(docker_api)
        await cluster.wait_for_height(2)
        assert len(SwarmLabelled.find(docker_api, cluster.run_id).services) == 5
    assert labelled(docker_api, cluster.run_id).total == 0
    assert SwarmLabelled.find(docker_api, cluster.run_id).all == []
    assert engine_state(docker_api) == engine_before
    assert "node.started" in Path(cluster.log_path("v0")).read_text()


async def test_a_failed_start_leaves_nothing(
    tmp_path: Path, docker_api: Any, docker_images: Images, engine_before: tuple[str, bool]
) -> None:
    manifest = init_for_backend("swarm", tmp_path / "net", validators=2, seed="bad")
    broken = Images("clp-testnet/no-such-image:missing", docker_images.toxiproxy, False)
    cluster = SwarmBackend(manifest, images=broken)
    with pytest.raises(Exception, match="no-such-image"):
        async with cluster:
            pass
    assert labelled(docker_api, cluster.run_id).total == 0
    assert SwarmLabelled.find(docker_api, cluster.run_id).all == []
    assert engine_state(docker_api) == engine_before


def test_sigterm_during_a_swarm_demo_leaves_nothing(
    tmp_path: Path, docker_api: Any, docker_images: Images, engine_before: tuple[str, bool]
) -> None:
    proc = subprocess.Popen(
        [*CLI, "demo", "--backend", "swarm", "-n", "4", "--dir", str(tmp_path / "demo")],
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
        assert owned_by(docker_api, proc.pid), "the demo created no services:\n" + "".join(seen)
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM, "".join(seen) + rest
    assert owned_by(docker_api, proc.pid) == []
    assert engine_state(docker_api) == engine_before


def test_down_removes_a_crashed_runs_services_and_configs(
    docker_api: Any, docker_images: Images
) -> None:
    from docker.types import RestartPolicy

    swarm_lease.acquire(docker_api)
    run_id = f"planted-{secrets.token_hex(3)}"
    lab = {PROJECT_LABEL: PROJECT, RUN_LABEL: run_id, OWNER_LABEL: "gone-host:1"}
    try:
        docker_api.configs.create(name=f"clp-{run_id}-genesis", data=b"{}", labels=lab)
        docker_api.services.create(
            docker_images.node,
            name=f"clp-{run_id}-v0",
            args=["--help"],
            labels=lab,
            container_labels=lab,
            restart_policy=RestartPolicy(condition="none"),
        )
        result = subprocess.run(
            [*CLI, "down", "--run-id", run_id],
            capture_output=True,
            text=True,
            env=cli_env(docker_images),
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"removed swarm object clp-{run_id}-v0" in result.stdout
        assert f"removed swarm object clp-{run_id}-genesis" in result.stdout
        assert SwarmLabelled.find(docker_api, run_id).all == []
        assert labelled(docker_api, run_id).total == 0
    finally:
        remove_run(docker_api, run_id)
        swarm_lease.release(docker_api)
