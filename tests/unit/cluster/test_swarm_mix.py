"""The swarm backend and mixed testnets, without a daemon: which images a run publishes
(pushed to the registry, else named by ID), each node's service of its kind's image, and
an upgrade's service update (the other image, a new volume when the store changes kind)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness.cluster import containers
from harness.cluster import docker_layout as layout
from harness.cluster.docker_layout import init_docker_testnet
from harness.cluster.swarm import (
    SwarmBackend,
    SwarmOptions,
    new_task_template,
    run_images,
    swarm_ref,
)
from harness.cluster.testnet import TestnetError
from harness.images import Images

RUN = Images("clp-testnet/node:py", "clp-testnet/toxiproxy:t", False)
KIND_IMAGES = {"python": "clp-testnet/node:py", "rust": "clp-testnet/node-rs:rs"}


class FakeImages:
    """The local engine's images as ``swarm_ref`` uses them: get, tag, push, remove."""

    def __init__(self, refs: list[str]) -> None:
        self.refs = set(refs)
        self.pushed: list[str] = []
        self.removed: list[str] = []

    def get(self, ref: str) -> SimpleNamespace:
        from docker.errors import ImageNotFound

        if ref not in self.refs:
            raise ImageNotFound(f"No such image: {ref}")
        return SimpleNamespace(id=f"sha256:{ref.rpartition(':')[2]}", tag=self._tag)

    def _tag(self, repo: str, tag: str) -> None:
        self.refs.add(f"{repo}:{tag}")

    def push(self, repo: str, tag: str, stream: bool, decode: bool) -> Iterator[dict[str, str]]:
        self.pushed.append(f"{repo}:{tag}")
        yield {"status": "pushed"}

    def remove(self, ref: str, noprune: bool) -> None:
        self.removed.append(ref)
        self.refs.discard(ref)


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    client = SimpleNamespace(images=FakeImages([*KIND_IMAGES.values(), RUN.toxiproxy]))
    monkeypatch.setattr(containers, "docker_client", lambda: client)

    def fake_kind_images(kind: str, progress: Any = None) -> Images:
        return Images(KIND_IMAGES[kind], RUN.toxiproxy, False)

    monkeypatch.setattr(containers, "kind_images", fake_kind_images)
    return client


def _cluster(tmp_path: Path, kinds: dict[str, str], registry: str | None) -> SwarmBackend:
    m = init_docker_testnet(tmp_path / "net", validators=3, seed="mix")
    m.implementations = kinds
    c = SwarmBackend(m, run_id="r1")
    c.options = SwarmOptions(registry=registry)
    c.images = RUN
    c._genesis = SimpleNamespace(id="g", name="clp-r1-genesis")
    return c


MIX = {"v0": "python", "v1": "rust", "v2": "python"}


def test_a_run_publishes_its_images_and_every_resolved_kinds_each_once() -> None:
    assert run_images(RUN) == [RUN.node, RUN.toxiproxy]
    assert run_images(RUN, KIND_IMAGES.values()) == [
        RUN.node,
        RUN.toxiproxy,
        "clp-testnet/node-rs:rs",
    ]


async def test_a_mixed_testnet_pushes_both_kinds_and_runs_them_from_the_registry(
    tmp_path: Path, engine: SimpleNamespace
) -> None:
    c = _cluster(tmp_path, MIX, "reg:5000")
    await c._resolve_mix()
    c._publish_images()
    assert engine.images.pushed == [
        "reg:5000/clp-testnet/node:py",
        "reg:5000/clp-testnet/toxiproxy:t",
        "reg:5000/clp-testnet/node-rs:rs",
    ]
    assert engine.images.removed == engine.images.pushed  # the local engine keeps no tag
    assert [c.node_image(n) for n in c.names] == [
        "reg:5000/clp-testnet/node:py",
        "reg:5000/clp-testnet/node-rs:rs",
        "reg:5000/clp-testnet/node:py",
    ]
    assert c.images is not None and c.images.toxiproxy == "reg:5000/clp-testnet/toxiproxy:t"


async def test_a_testnet_that_names_one_kind_pushes_the_other_for_an_upgrade(
    tmp_path: Path, engine: SimpleNamespace
) -> None:
    c = _cluster(tmp_path, dict.fromkeys(MIX, "python"), "reg:5000")
    await c._resolve_mix()
    c._publish_images()
    assert "reg:5000/clp-testnet/node-rs:rs" in engine.images.pushed
    assert {c.node_image(n) for n in c.names} == {"reg:5000/clp-testnet/node:py"}


async def test_without_a_registry_every_image_is_named_by_its_id(
    tmp_path: Path, engine: SimpleNamespace
) -> None:
    c = _cluster(tmp_path, MIX, None)
    await c._resolve_mix()
    c._publish_images()
    assert engine.images.pushed == []
    assert [c.node_image(n) for n in c.names] == ["sha256:py", "sha256:rs", "sha256:py"]
    assert c.images == Images("sha256:py", "sha256:t", False)


def test_an_image_the_engine_lacks_is_one_clear_error(engine: SimpleNamespace) -> None:
    with pytest.raises(TestnetError, match="image clp-testnet/node:gone is not in the local"):
        swarm_ref(engine, "clp-testnet/node:gone", None)


async def test_each_node_service_runs_its_kinds_image_with_its_volume_files_and_key(
    tmp_path: Path, engine: SimpleNamespace
) -> None:
    c = _cluster(tmp_path, MIX, None)
    await c._resolve_mix()
    c._publish_images()
    toml, key = SimpleNamespace(id="t", name="clp-r1-v1-toml"), SimpleNamespace(id="k", name="k")
    py, rs = (c._node_service(n, toml, key) for n in ("v0", "v1"))
    assert (py["image"], rs["image"]) == ("sha256:py", "sha256:rs")
    assert py["command"] == rs["command"] == layout.NODE_ENTRYPOINT  # one entrypoint, both kinds
    assert rs["args"] == layout.node_command("v1") and rs["name"] == "clp-r1-v1"
    [mount] = rs["mounts"]
    assert (mount["Target"], mount["Source"], mount["Type"]) == (
        layout.DATA_DIR,
        "clp-r1-v1-data",
        "volume",
    )
    assert [ref["File"]["Name"] for ref in rs["configs"]] == [
        f"{layout.CONTAINER_ROOT}/genesis.json",
        f"{layout.CONTAINER_ROOT}/v1/node.toml",
    ]
    [secret] = rs["secrets"]
    assert secret["File"]["Name"] == f"{layout.CONTAINER_ROOT}/v1/key.json"
    assert secret["File"]["Mode"] == 0o400


def test_a_forced_update_pins_and_swaps_the_image_and_only_the_data_volume() -> None:
    template: dict[str, Any] = {
        "ContainerSpec": {
            "Image": "sha256:py",
            "Mounts": [
                {"Target": layout.DATA_DIR, "Source": "clp-r1-v1-data", "Type": "volume"},
                {"Target": "/other", "Source": "x", "Type": "volume"},
            ],
        },
        "Placement": {"Constraints": ["node.role==worker", "node.id==old"]},
        "ForceUpdate": 2,
    }
    new = new_task_template(template, "node.id==n1", image="sha256:rs", volume="clp-r1-v1-data-2")
    assert new["ForceUpdate"] == 3
    assert new["Placement"]["Constraints"] == ["node.role==worker", "node.id==n1"]
    assert new["ContainerSpec"]["Image"] == "sha256:rs"
    assert [m["Source"] for m in new["ContainerSpec"]["Mounts"]] == ["clp-r1-v1-data-2", "x"]
    assert template["ContainerSpec"]["Image"] == "sha256:py"  # the old template untouched
    assert template["ContainerSpec"]["Mounts"][0]["Source"] == "clp-r1-v1-data"
    same = new_task_template(template)
    assert same["ContainerSpec"] == template["ContainerSpec"]
    assert same["Placement"] == template["Placement"] and same["ForceUpdate"] == 3


@pytest.mark.parametrize(("keep_data", "volume"), [(False, "clp-r1-v0-data-2"), (True, None)])
async def test_an_upgrade_restarts_the_node_on_the_other_image_and_a_new_volume_unless_kept(
    tmp_path: Path,
    engine: SimpleNamespace,
    monkeypatch: pytest.MonkeyPatch,
    keep_data: bool,
    volume: str | None,
) -> None:
    c = _cluster(tmp_path, dict.fromkeys(MIX, "python"), None)
    await c._resolve_mix()
    c._publish_images()
    done: list[tuple[str, str, str]] = []

    async def kill(name: str) -> None:
        done.append(("kill", name, ""))

    async def restart(name: str) -> None:
        done.append(("restart", c.node_image(name), c.volume_name(name)))

    monkeypatch.setattr(c, "kill", kill)
    monkeypatch.setattr(c, "restart", restart)
    await c.upgrade("v0", "rust", keep_data=keep_data)
    assert done == [("kill", "v0", ""), ("restart", "sha256:rs", volume or "clp-r1-v0-data")]
    assert c.node_image("v1") == "sha256:py" and c.volume_name("v1") == "clp-r1-v1-data"
