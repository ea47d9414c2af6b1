"""Every Nemesis action lands in the FaultLog with wall time, chain height, action and params.

The nemesis drives a fake cluster and a fake Toxiproxy API that record what was asked of
them, so each test can check both the effect (which links, which processes) and the
record. A rejected request must change nothing and record nothing.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from harness.faults.nemesis import FaultError, FaultLog, FaultRecord, Nemesis

NAMES = ["v0", "v1", "v2", "v3"]


class FakeClient:
    def __init__(self, name: str, cluster: FakeCluster) -> None:
        self.name = name
        self.cluster = cluster

    async def set_faults(self, **faults: Any) -> dict[str, Any]:
        self.cluster.calls.append(("set_faults", self.name, faults))
        return faults


class FakeCluster:
    """Heights are whatever the test sets; process actions are only recorded."""

    def __init__(self) -> None:
        self.names = list(NAMES)
        self.height: dict[str, int | None] = {n: 7 for n in NAMES}
        self.running = {n: True for n in NAMES}
        self.calls: list[tuple[str, str, Any]] = []

    async def heights(self) -> dict[str, int | None]:
        return dict(self.height)

    def client(self, name: str) -> FakeClient:
        return FakeClient(name, self)

    def is_running(self, name: str) -> bool:
        return self.running[name]

    async def kill(self, name: str) -> None:
        self.calls.append(("kill", name, None))
        self.running[name] = False

    async def pause(self, name: str) -> None:
        self.calls.append(("pause", name, None))

    async def resume(self, name: str) -> None:
        self.calls.append(("resume", name, None))

    async def restart(self, name: str) -> None:
        self.calls.append(("restart", name, None))
        self.running[name] = True


class FakeApi:
    def __init__(self) -> None:
        self.disabled: set[str] = set()
        self.toxics: list[tuple[str, str, dict[str, int], str]] = []
        self.resets = 0

    def set_enabled(self, proxy: str, enabled: bool) -> None:
        (self.disabled.discard if enabled else self.disabled.add)(proxy)

    def add_toxic(
        self, proxy: str, type_: str, attributes: dict[str, int], name: str, stream: str
    ) -> dict[str, Any]:
        self.toxics.append((proxy, type_, attributes, stream))
        return {"name": name}

    def reset(self) -> None:
        self.disabled.clear()
        self.toxics.clear()
        self.resets += 1


@pytest.fixture
def env() -> tuple[Nemesis, FakeCluster, FakeApi]:
    cluster, api = FakeCluster(), FakeApi()
    return Nemesis(cluster, api), cluster, api  # type: ignore[arg-type]


def only_record(nemesis: Nemesis, before: float) -> FaultRecord:
    assert len(nemesis.log.records) == 1, nemesis.log.records
    record = nemesis.log.records[0]
    assert before <= record.time <= time.time()
    return record


async def test_partition_records_groups_with_the_rest_as_a_group(env: Any) -> None:
    nemesis, cluster, api = env
    cluster.height = {"v0": 5, "v1": 9, "v2": None, "v3": 8}
    t = time.time()
    await nemesis.partition([["v0", "v1"]])
    r = only_record(nemesis, t)
    assert (r.action, r.height) == ("partition", 9)  # the highest height any node reports
    assert r.params == {"groups": [["v0", "v1"], ["v2", "v3"]]}
    assert api.disabled == {f"{a}_to_{b}" for a in ("v0", "v1") for b in ("v2", "v3")} | {
        f"{b}_to_{a}" for a in ("v0", "v1") for b in ("v2", "v3")
    }


async def test_cut_is_one_way_and_recorded(env: Any) -> None:
    nemesis, _, api = env
    t = time.time()
    await nemesis.cut("v1", "v2")
    r = only_record(nemesis, t)
    assert (r.action, r.height, r.params) == ("cut", 7, {"src": "v1", "dst": "v2"})
    assert api.disabled == {"v1_to_v2"}


async def test_isolate_and_mute(env: Any) -> None:
    nemesis, _, api = env
    t = time.time()
    await nemesis.isolate("v3")
    assert only_record(nemesis, t).params == {"node": "v3"}
    assert api.disabled == {f"v3_to_{n}" for n in NAMES[:3]} | {f"{n}_to_v3" for n in NAMES[:3]}
    await nemesis.heal()
    await nemesis.mute("v0")
    assert api.disabled == {f"v0_to_{n}" for n in NAMES[1:]}
    assert [r.action for r in nemesis.log.records] == ["isolate", "heal", "mute"]
    assert nemesis.log.records[2].params == {"node": "v0"}


async def test_toxics_record_their_attributes_and_links(env: Any) -> None:
    nemesis, _, api = env
    await nemesis.latency(300, 20, nodes=["v2"])
    await nemesis.bandwidth(64, link=("v0", "v1"))
    await nemesis.timeout(500, nodes=["v1"])
    await nemesis.reset_peer(10, link=("v3", "v0"))
    records = nemesis.log.records
    assert [r.action for r in records] == ["latency", "bandwidth", "timeout", "reset_peer"]
    assert records[0].params == {"nodes": ["v2"], "link": [], "latency": 300, "jitter": 20}
    assert records[1].params == {"nodes": [], "link": ["v0", "v1"], "rate": 64}
    assert records[2].params == {"nodes": ["v1"], "link": [], "timeout": 500}
    assert records[3].params == {"nodes": [], "link": ["v3", "v0"], "timeout": 10}
    latency = [t for t in api.toxics if t[1] == "latency"]
    assert sorted(t[0] for t in latency) == ["v2_to_v0", "v2_to_v1", "v2_to_v3"]
    assert all(t[3] == "upstream" for t in api.toxics)  # what the dialling node sends


async def test_process_faults_record_and_act(env: Any) -> None:
    nemesis, cluster, _ = env
    t = time.time()
    await nemesis.pause("v1")
    await nemesis.resume("v1")
    await nemesis.kill("v2")
    await nemesis.restart("v2")
    assert [(r.action, r.params) for r in nemesis.log.records] == [
        ("pause", {"node": "v1"}),
        ("resume", {"node": "v1"}),
        ("kill", {"node": "v2"}),
        ("restart", {"node": "v2"}),
    ]
    assert all(t <= r.time and r.height == 7 for r in nemesis.log.records)
    assert [c[:2] for c in cluster.calls] == [
        ("pause", "v1"),
        ("resume", "v1"),
        ("kill", "v2"),
        ("restart", "v2"),
    ]


async def test_kill_records_the_height_before_the_node_goes(env: Any) -> None:
    nemesis, cluster, _ = env
    cluster.height = {"v0": 3, "v1": 3, "v2": 12, "v3": 3}
    await nemesis.kill("v2")
    assert nemesis.log.records[0].height == 12


async def test_test_hooks_record(env: Any) -> None:
    nemesis, cluster, _ = env
    await nemesis.lazy("v3")
    await nemesis.lazy("v3", on=False)
    await nemesis.clock_offset("v0", -250)
    assert [(r.action, r.params) for r in nemesis.log.records] == [
        ("lazy", {"node": "v3", "on": True}),
        ("lazy", {"node": "v3", "on": False}),
        ("clock_offset", {"node": "v0", "ms": -250}),
    ]
    assert ("set_faults", "v0", {"clock_offset_ms": -250}) in cluster.calls


async def test_clear_undoes_everything_and_records(env: Any) -> None:
    nemesis, cluster, api = env
    await nemesis.isolate("v0")
    await nemesis.kill("v1")
    await nemesis.clear()
    assert api.disabled == set() and api.resets == 1
    assert cluster.running["v1"]
    assert [r.action for r in nemesis.log.records] == ["isolate", "kill", "heal", "clear"]


async def test_height_is_none_when_no_node_answers(env: Any) -> None:
    nemesis, cluster, _ = env
    cluster.height = dict.fromkeys(NAMES)
    await nemesis.heal()
    assert nemesis.log.records[0].height is None


@pytest.mark.parametrize(
    "call",
    [
        lambda n: n.isolate("v9"),
        lambda n: n.cut("v0", "nope"),
        lambda n: n.kill("v7"),
        lambda n: n.lazy("x"),
        lambda n: n.partition([["v0"], ["v0", "v1"]]),
        lambda n: n.partition([NAMES]),
        lambda n: n.latency(100, nodes=["v5"]),
    ],
)
async def test_rejected_faults_change_and_record_nothing(env: Any, call: Any) -> None:
    nemesis, cluster, api = env
    with pytest.raises(FaultError):
        await call(nemesis)
    assert nemesis.log.records == []
    assert api.disabled == set() and api.toxics == [] and cluster.calls == []


async def test_link_faults_without_a_proxy_are_refused() -> None:
    nemesis = Nemesis(FakeCluster(), None)  # type: ignore[arg-type]
    with pytest.raises(FaultError, match="fault proxy"):
        await nemesis.isolate("v1")
    assert nemesis.log.records == []


def test_records_serialize_to_json() -> None:
    log = FaultLog()
    log.add(FaultRecord(1700000000.5, 42, "partition", {"groups": [["v0"], ["v1"]]}))
    assert json.loads(json.dumps(log.to_json())) == [
        {
            "time": 1700000000.5,
            "height": 42,
            "action": "partition",
            "params": {"groups": [["v0"], ["v1"]]},
        }
    ]
