"""The images: built without a registry, idempotent by content tag, and they run.

The session fixture ``docker_images`` builds them once (or finds them); these tests check
that a second ``ensure_images`` builds nothing, that the node image runs ``clp-node`` and
that the Toxiproxy image serves its API with proxies from a ``-config`` file.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.cluster.containers import published_port
from harness.cluster.docker import files_archive
from harness.cluster.engine import labels, new_run_id
from harness.images import Images, ensure_images

CLI = [sys.executable, "-m", "harness.cli"]
API_TIMEOUT_S = 30.0


def image_ids(api: Any, images: Images) -> tuple[str, str]:
    return api.images.get(images.node).id, api.images.get(images.toxiproxy).id


def test_a_second_build_builds_nothing(docker_api: Any, docker_images: Images) -> None:
    first = ensure_images()
    before = image_ids(docker_api, first)
    steps: list[str] = []
    again = ensure_images(steps.append)
    assert again == first
    assert image_ids(docker_api, again) == before
    assert not [s for s in steps if s.startswith(("building", "wheel"))], steps
    assert steps[-1].startswith("images up to date")
    assert first.node.startswith("clp-testnet/node:") and first.node != "clp-testnet/node:latest"


def test_cli_build_is_up_to_date_and_list_shows_the_tags(docker_images: Images) -> None:
    ensure_images()
    built = subprocess.run(
        [*CLI, "images", "build"], capture_output=True, text=True, timeout=300, check=False
    )
    assert built.returncode == 0, built.stdout + built.stderr
    assert "images up to date" in built.stdout
    node = ensure_images().node
    listed = subprocess.run(
        [*CLI, "images", "list"], capture_output=True, text=True, timeout=60, check=False
    )
    assert listed.returncode == 0
    assert node.split(":")[1] in listed.stdout


def test_an_unavailable_base_image_is_a_clear_error() -> None:
    done = subprocess.run(
        [
            *CLI,
            "images",
            "build",
            "--base-image",
            "clp-testnet/absent:none",
            "--pull-timeout",
            "20",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "clp-testnet/absent:none" in done.stdout
    assert "could not be pulled" in done.stdout.replace("\n", " ")


def test_node_image_runs_clp_node(docker_api: Any, docker_images: Images) -> None:
    out = docker_api.containers.run(
        docker_images.node,
        ["--help"],
        network_mode="none",
        remove=True,
        labels=labels(new_run_id()),
    )
    assert b"usage: clp-node" in out


def test_toxiproxy_image_serves_the_api_with_config_proxies(
    docker_api: Any, docker_images: Images, tmp_path: Path
) -> None:
    config = tmp_path / "toxiproxy.json"
    config.write_text(
        json.dumps(
            [
                {"name": "v0_to_v1", "listen": "0.0.0.0:20001", "upstream": "v1:26656"},
                {"name": "v1_to_v0", "listen": "0.0.0.0:20002", "upstream": "v0:26656"},
            ]
        )
    )
    container = docker_api.containers.create(
        docker_images.toxiproxy,
        ["-host=0.0.0.0", "-port=8474", "-config=/testnet/toxiproxy.json"],
        labels=labels(new_run_id()),
        ports={"8474/tcp": ("127.0.0.1", None)},
    )
    try:
        container.put_archive("/", files_archive({"toxiproxy.json": config}))
        container.start()
        deadline = time.monotonic() + API_TIMEOUT_S
        proxies: dict[str, Any] | None = None
        while proxies is None:
            container.reload()
            port = published_port(container, 8474)
            try:
                if port is not None:
                    proxies = httpx.get(f"http://127.0.0.1:{port}/proxies", timeout=2).json()
            except httpx.HTTPError:
                pass
            if proxies is None:
                assert container.status in ("created", "running"), container.logs().decode()
                assert time.monotonic() < deadline, "the Toxiproxy API did not answer in time"
                time.sleep(0.2)
        assert sorted(proxies) == ["v0_to_v1", "v1_to_v0"]
        assert proxies["v0_to_v1"]["listen"].endswith(":20001")
        assert proxies["v1_to_v0"]["upstream"] == "v0:26656"
        version = httpx.get(f"http://127.0.0.1:{port}/version", timeout=2)
        assert version.status_code == 200
    finally:
        container.remove(force=True, v=True)


@pytest.mark.parametrize("action", ["build", "list", "clean"])
def test_images_subcommands_have_help(action: str) -> None:
    done = subprocess.run(
        [*CLI, "images", action, "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0 and "usage: clp-testnet images" in done.stdout
