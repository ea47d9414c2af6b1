"""Nothing of a swarm run outlives it, and the engine's swarm mode is given back: on
success and on SIGTERM during a demo; ``clp-testnet down`` removes a crashed run's
services and configs."""

from __future__ import annotations

import secrets
import signal
from pathlib import Path
from typing import Any

from conftest import engine_state
from container_cases import (
    a_failed_start_leaves_nothing,
    a_run,
    a_signal_during_a_demo_leaves_nothing,
    down,
    run_objects,
)

from harness.cluster import swarm_lease
from harness.cluster.engine import OWNER_LABEL, labels
from harness.cluster.swarm import SwarmLabelled, remove_run
from harness.images import Images


async def test_stop_removes_everything_and_gives_the_swarm_back(
    tmp_path: Path, docker_api: Any, docker_images: Images, engine_before: tuple[str, bool]
) -> None:
    async with a_run("swarm", tmp_path, docker_api, docker_images, validators=4) as cluster:
        assert swarm_lease.is_active(docker_api)
        assert len(SwarmLabelled.find(docker_api, cluster.run_id).services) == 5
    assert engine_state(docker_api) == engine_before


async def test_a_failed_start_leaves_nothing(
    tmp_path: Path, docker_api: Any, docker_images: Images, engine_before: tuple[str, bool]
) -> None:
    await a_failed_start_leaves_nothing("swarm", tmp_path, docker_api, docker_images)
    assert engine_state(docker_api) == engine_before


def test_sigterm_during_a_swarm_demo_leaves_nothing(
    tmp_path: Path, docker_api: Any, docker_images: Images, engine_before: tuple[str, bool]
) -> None:
    a_signal_during_a_demo_leaves_nothing(
        "swarm", signal.SIGTERM, tmp_path, docker_api, docker_images
    )
    assert engine_state(docker_api) == engine_before


def test_down_removes_a_crashed_runs_services_and_configs(
    docker_api: Any, docker_images: Images
) -> None:
    from docker.types import RestartPolicy

    swarm_lease.acquire(docker_api)
    run_id = f"planted-{secrets.token_hex(3)}"
    lab = {**labels(run_id), OWNER_LABEL: "gone-host:1"}
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
        result = down(docker_images, "--run-id", run_id)
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"removed swarm object clp-{run_id}-v0" in result.stdout
        assert f"removed swarm object clp-{run_id}-genesis" in result.stdout
        assert run_objects(docker_api, run_id) == []
    finally:
        remove_run(docker_api, run_id)
        swarm_lease.release(docker_api)
