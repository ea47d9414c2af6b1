"""``harness.testcontainers.ClpTestnet`` as another project's suite would use it: a plain
(non-async) test, node URLs and the Toxiproxy URL, Nemesis faults called synchronously,
kill and restart from the volume, and nothing left afterwards (the suite's own check)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.cluster.engine import OWNER_LABEL, RUN_LABEL, labelled
from harness.images import Images
from harness.testcontainers import ClpTestnet


@pytest.fixture(scope="module")
def net(docker_images: Images) -> Iterator[ClpTestnet]:
    with ClpTestnet(validators=4, seed="tc", images=docker_images) as testnet:
        yield testnet


def test_node_and_toxiproxy_urls_answer(net: ClpTestnet) -> None:
    assert sorted(net.node_urls) == ["v0", "v1", "v2", "v3"]
    for name, url in net.node_urls.items():
        health = httpx.get(f"{url}/health", timeout=5).json()
        assert "height" in health, f"{name} at {url}: {health}"
    assert net.toxiproxy_url is not None
    proxies = httpx.get(f"{net.toxiproxy_url}/proxies", timeout=5).json()
    assert len(proxies) == 4 * 3 and "v0_to_v1" in proxies


def test_containers_carry_the_project_and_testcontainers_labels(
    net: ClpTestnet, docker_api: Any
) -> None:
    found = labelled(docker_api, net.cluster.run_id)
    assert len(found.containers) == 5 and len(found.volumes) == 4 and len(found.networks) == 1
    for name in found.containers:
        lab = docker_api.containers.get(name).labels
        assert lab[RUN_LABEL] == net.cluster.run_id and lab[OWNER_LABEL]
        assert "org.testcontainers.session-id" in lab  # what Ryuk reaps by


def test_isolate_stalls_a_node_until_heal(net: ClpTestnet) -> None:
    others = ["v0", "v1", "v2"]
    net.isolate("v3")
    try:
        stalled = net.heights()["v3"]
        assert stalled is not None
        top = max(h for h in net.heights().values() if h is not None)
        net.wait_for_height(top + 6, others)
        now = net.heights()["v3"]
        assert now is not None and now <= stalled + 1, f"v3 moved {stalled} -> {now} while cut off"
    finally:
        net.heal()
    top = max(h for n, h in net.heights().items() if h is not None and n in others)
    assert net.wait_for_height(top, ["v3"])["v3"] >= top
    actions = [r.kind for r in net.nemesis.log.records]
    assert actions[-2:] == ["isolate", "heal"]


def test_killed_node_restarts_from_its_volume(net: ClpTestnet) -> None:
    before = net.heights()["v1"]
    assert before is not None and before > 0
    net.kill("v1")
    assert not net.cluster.is_running("v1") and net.heights()["v1"] is None
    net.restart("v1")
    log = Path(net.cluster.log_path("v1")).read_text().splitlines()
    replays = [json.loads(x) for x in log if '"node.replayed"' in x]
    assert len(replays) == 2 and replays[-1]["height"] >= before, replays


def test_unknown_attributes_are_not_faults(net: ClpTestnet) -> None:
    with pytest.raises(AttributeError):
        net.no_such_fault  # noqa: B018
    with pytest.raises(AttributeError):
        net._seq  # noqa: B018


def test_a_stopped_testnet_leaves_nothing(docker_api: Any, docker_images: Images) -> None:
    with ClpTestnet(validators=4, seed="tc2", images=docker_images) as testnet:
        run_id = testnet.cluster.run_id
        testnet.wait_for_height(2)
        root = testnet.root
    assert labelled(docker_api, run_id).total == 0
    assert root is not None and not root.exists()  # the temporary folder went too
