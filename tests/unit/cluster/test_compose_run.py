"""Finding a compose-run testnet's containers and published ports, on inspected data alone."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness.cluster.compose_run import (
    NOT_PUBLISHED,
    PROJECT_LABEL,
    ComposeTestnet,
    find_project,
    part_of,
    published,
)
from harness.cluster.testnet import TestnetError, TestnetManifest

NET = Path(__file__).resolve().parents[3] / "compose" / "testnet"
PARTS = {"v0", "v1", "v2", "v3", "v4", "toxiproxy.json"}


def container(
    project: str,
    part: str | None,
    root: Path = NET,
    status: str = "running",
    ports: dict[str, Any] | None = None,
    fixed: dict[str, Any] | None = None,
) -> Any:
    """A container as docker-py shows it: labels, status and the inspected attrs."""
    mounts = [
        {
            "Type": "bind",
            "Source": str(root / "genesis.json"),
            "Destination": "/testnet/genesis.json",
        }
    ]
    if part is not None:
        mounts.append(
            {"Type": "bind", "Source": str(root / part), "Destination": f"/testnet/{part}"}
        )
    mounts.append({"Type": "volume", "Source": "/var/lib/docker/x", "Destination": "/data"})
    attrs = {
        "Mounts": mounts,
        "NetworkSettings": {"Ports": ports or {}},
        "HostConfig": {"PortBindings": fixed or {}},
    }
    return SimpleNamespace(
        name=f"{project}_{part}_1", labels={PROJECT_LABEL: project}, status=status, attrs=attrs
    )


class FakeDocker:
    def __init__(self, *containers: Any) -> None:
        self.found = list(containers)

    @property
    def containers(self) -> Any:
        return SimpleNamespace(list=lambda **_: self.found)


def test_the_host_reaches_a_wildcard_binding_on_the_loopback_and_skips_the_ipv6_twin() -> None:
    live = {
        "8080/tcp": [
            {"HostIp": "::", "HostPort": "40001"},
            {"HostIp": "0.0.0.0", "HostPort": "40000"},
        ]
    }
    assert published(container("p", "v0", ports=live), 8080) == ("127.0.0.1", 40000)
    bound = {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18080"}]}
    assert published(container("p", "v0", ports=bound), 8080) == ("127.0.0.1", 18080)
    assert published(container("p", "v0", ports=bound), 8474) is None


def test_a_stopped_container_keeps_only_the_ports_its_compose_file_fixes() -> None:
    fixed = {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18084"}]}
    assert published(container("p", "v4", status="exited", fixed=fixed), 8080) == (
        "127.0.0.1",
        18084,
    )
    picked = {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}
    assert published(container("p", "v4", status="exited", fixed=picked), 8080) is None


def test_a_container_is_the_part_whose_files_of_this_testnet_it_mounts(tmp_path: Path) -> None:
    assert part_of(container("p", "v3"), NET, PARTS) == "v3"
    assert part_of(container("p", "toxiproxy.json"), NET, PARTS) == "toxiproxy.json"
    assert part_of(container("p", None), NET, PARTS) is None  # the genesis is no part
    assert part_of(container("p", "v3", root=tmp_path), NET, PARTS) is None


def test_the_project_running_the_testnet_is_found_among_others(tmp_path: Path) -> None:
    manifest = TestnetManifest.load(NET)
    docker = FakeDocker(
        container("elsewhere", "v0", root=tmp_path),
        container("stale", "v0", status="exited"),
        *(container("live", p) for p in sorted(PARTS)),
    )
    project = find_project(docker, manifest)
    assert project.name == "live"
    assert sorted(project.containers) == sorted(PARTS)


def test_none_or_two_running_projects_are_clear_errors(tmp_path: Path) -> None:
    manifest = TestnetManifest.load(NET)
    with pytest.raises(TestnetError, match="no docker compose container runs this testnet"):
        find_project(FakeDocker(container("elsewhere", "v0", root=tmp_path)), manifest)
    two = FakeDocker(container("a", "v0"), container("b", "v1"))
    with pytest.raises(TestnetError, match="compose projects a, b all run this testnet"):
        find_project(two, manifest)


def test_clients_go_to_published_ports_and_a_missing_node_is_down() -> None:
    live = {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "40000"}]}
    proxy = {"8474/tcp": [{"HostIp": "127.0.0.1", "HostPort": "40100"}]}
    docker = FakeDocker(
        container("p", "v0", ports=live), container("p", "toxiproxy.json", ports=proxy)
    )
    net = ComposeTestnet(TestnetManifest.load(NET), docker)
    assert net.api_url("v0") == "http://127.0.0.1:40000"
    assert net.api_url("v1") == NOT_PUBLISHED
    api = net.fault_api()
    assert api is not None and api.base_url == "http://127.0.0.1:40100"
    api.close()
