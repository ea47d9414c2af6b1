"""Container backends and mixed testnets, without a daemon: each node of its kind's image,
every kind resolved once before any node starts, a backend that cannot mix says so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.cluster import containers
from harness.cluster.containers import ContainerCluster
from harness.cluster.docker_layout import init_docker_testnet
from harness.cluster.testnet import TestnetError
from harness.images import Images


class MixCluster(ContainerCluster[Any]):
    mixed_nodes = True

    async def _launch(self) -> None:
        raise NotImplementedError

    def _live_container(self, name: str) -> Any:
        return None

    async def _start_again(self, name: str) -> None:
        raise NotImplementedError


class OneKindCluster(MixCluster):
    mixed_nodes = False


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The kinds whose images were resolved, in order; each kind's image is ``<kind>:1``."""
    calls: list[str] = []

    def fake(kind: str, progress: Any = None) -> Images:
        calls.append(kind)
        return Images(f"{kind}:1", "tox:1", False)

    monkeypatch.setattr(containers, "docker_client", lambda: None)
    monkeypatch.setattr(containers, "kind_images", fake)
    return calls


def _manifest(tmp_path: Path, kinds: dict[str, str]) -> Any:
    m = init_docker_testnet(tmp_path / "net", validators=3, seed="mix")
    m.implementations = kinds
    return m


async def test_each_node_runs_its_kinds_image(tmp_path: Path, asked: list[str]) -> None:
    c = MixCluster(_manifest(tmp_path, {"v0": "python", "v1": "rust", "v2": "python"}))
    c.images = Images("default:1", "tox:1", False)
    await c._resolve_mix()
    assert [c.node_image(n) for n in c.names] == ["python:1", "rust:1", "python:1"]
    assert sorted(asked) == ["python", "rust"]  # every kind once, before any node starts
    assert c.kind_image("rust") == "rust:1" and sorted(asked) == ["python", "rust"]


async def test_a_one_kind_testnet_that_names_it_can_be_upgraded_at_once(
    tmp_path: Path, asked: list[str]
) -> None:
    c = MixCluster(_manifest(tmp_path, dict.fromkeys(["v0", "v1", "v2"], "python")))
    c.images = Images("default:1", "tox:1", False)
    await c._resolve_mix()
    assert sorted(asked) == ["python", "rust"]  # the upgrade's image is ready too


async def test_an_unmixed_testnet_keeps_the_backends_images(
    tmp_path: Path, asked: list[str]
) -> None:
    c = MixCluster(_manifest(tmp_path, {}))
    c.images = Images("default:1", "tox:1", False)
    await c._resolve_mix()
    assert asked == [] and c.node_image("v1") == "default:1"


async def test_a_backend_that_cannot_mix_refuses_a_mix(tmp_path: Path, asked: list[str]) -> None:
    c = OneKindCluster(_manifest(tmp_path, {"v0": "python", "v1": "rust", "v2": "python"}))
    with pytest.raises(TestnetError, match="OneKindCluster cannot run a mixed testnet"):
        await c._resolve_mix()
    assert asked == []
