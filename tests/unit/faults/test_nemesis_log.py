"""Every Nemesis action lands in the FaultLog as a format-2 record: kind, args, height, the
window of its effect and the full fault state after it.

The nemesis drives a fake cluster and a fake Toxiproxy API that record what was asked of
them, so each test can check both the effect (which links, which processes) and the
record. A rejected request must change nothing and record nothing.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from harness.faults.errors import FaultError
from harness.faults.log import FaultLog, FaultRecord, OldLog
from harness.faults.nemesis import Nemesis
from harness.faults.state import FaultState

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
        self.asked: list[list[str]] = []

    async def heights(self, names: list[str] | None = None) -> dict[str, int | None]:
        self.asked.append(list(names or self.names))
        return {n: self.height[n] for n in names or self.names}

    def client(self, name: str) -> FakeClient:
        return FakeClient(name, self)

    def implementations(self) -> dict[str, str]:
        return dict.fromkeys(NAMES, "python")

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
    """The proxies' links and toxics, as a Toxiproxy server would hold them."""

    def __init__(self) -> None:
        self.disabled: set[str] = set()
        self.on: dict[str, list[dict[str, Any]]] = {}
        self.resets = 0

    def set_enabled(self, proxy: str, enabled: bool) -> None:
        (self.disabled.discard if enabled else self.disabled.add)(proxy)

    def add_toxic(
        self,
        proxy: str,
        type_: str,
        attributes: dict[str, int],
        name: str,
        stream: str,
        toxicity: float,
    ) -> dict[str, Any]:
        toxic = {"name": name, "type": type_, "stream": stream, "toxicity": toxicity}
        self.on.setdefault(proxy, []).append(toxic | {"attributes": attributes})
        return toxic

    def proxies(self) -> dict[str, dict[str, Any]]:
        names = {f"{a}_to_{b}" for a in NAMES for b in NAMES if a != b}
        return {p: {"enabled": p not in self.disabled, "toxics": self.on.get(p, [])} for p in names}

    def remove_toxic(self, proxy: str, name: str) -> None:
        self.on[proxy] = [t for t in self.on[proxy] if t["name"] != name]

    def reset(self) -> None:
        self.disabled.clear()
        self.on.clear()
        self.resets += 1

    def toxic_state(self) -> dict[str, list[dict[str, Any]]]:
        return {k: v for k, v in sorted(self.on.items()) if v}


@pytest.fixture
def env() -> tuple[Nemesis, FakeCluster, FakeApi]:
    cluster, api = FakeCluster(), FakeApi()
    return Nemesis(cluster, api), cluster, api  # type: ignore[arg-type]


def only_record(nemesis: Nemesis, before: float) -> FaultRecord:
    assert len(nemesis.log.records) == 1, nemesis.log.records
    record = nemesis.log.records[0]
    assert before <= record.t_start <= record.t_end <= time.time()
    return record


async def test_partition_records_the_links_it_took_down(env: Any) -> None:
    nemesis, cluster, api = env
    cluster.height = {"v0": 5, "v1": 9, "v2": None, "v3": 8}
    t = time.time()
    await nemesis.apply("partition", groups=[["v0", "v1"]])
    r = only_record(nemesis, t)
    assert (r.kind, r.height, r.seq) == ("partition", 9, 0)  # the highest height reported
    assert r.args == {"groups": [["v0", "v1"]]}
    cut = {f"{a}_to_{b}" for a in ("v0", "v1") for b in ("v2", "v3")}
    cut |= {f"{b}_to_{a}" for a in ("v0", "v1") for b in ("v2", "v3")}
    assert api.disabled == cut
    assert set(r.state.links_down) == cut  # the state says what the proxy holds


async def test_cut_is_one_way_and_recorded(env: Any) -> None:
    nemesis, _, api = env
    r = await nemesis.apply("cut", {"from": "v1", "to": "v2"})
    assert (r.kind, r.args) == ("cut", {"from": "v1", "to": "v2"})
    assert api.disabled == {"v1_to_v2"} == set(r.state.links_down)


async def test_heal_is_links_only_clear_is_toxics_only(env: Any) -> None:
    nemesis, _, api = env
    await nemesis.apply("isolate", node="v3")
    await nemesis.apply("latency", node="v0", ms=300, jitter=20)
    healed = await nemesis.apply("heal")
    assert api.disabled == set() and healed.state.links_down == frozenset()
    assert [t.type for t in healed.state.toxics["v0_to_v1"]] == ["latency"]
    assert api.toxic_state() == {
        k: [t.to_json() for t in v] for k, v in healed.state.toxics.items()
    }
    await nemesis.apply("mute", node="v0")
    cleared = await nemesis.apply("clear")
    assert api.toxic_state() == {} and cleared.state.toxics == {}
    assert api.disabled == {f"v0_to_{n}" for n in NAMES[1:]} == set(cleared.state.links_down)
    assert [r.kind for r in nemesis.log.records] == ["isolate", "latency", "heal", "mute", "clear"]


async def test_toxics_record_their_attributes_links_and_toxicity(env: Any) -> None:
    nemesis, _, api = env
    await nemesis.apply("latency", node="v2", ms=300, jitter=20)
    await nemesis.apply("bandwidth", link=["v0", "v1"], rate_kb=64, toxicity=0.5)
    await nemesis.apply("slicer", node="v1", average_size=16)
    r = await nemesis.apply("limit_data", link=["v3", "v0"], bytes=4096)
    assert r.args == {"link": ["v3", "v0"], "bytes": 4096, "toxicity": 1.0}
    assert api.toxic_state() == {k: [t.to_json() for t in v] for k, v in r.state.toxics.items()}
    latency = [p for p, ts in api.on.items() if any(t["type"] == "latency" for t in ts)]
    assert sorted(latency) == ["v2_to_v0", "v2_to_v1", "v2_to_v3"]
    assert api.on["v0_to_v1"][0]["toxicity"] == 0.5
    assert api.on["v1_to_v0"][0]["attributes"] == {
        "average_size": 16,
        "size_variation": 0,
        "delay": 0,
    }
    assert all(t["stream"] == "upstream" for ts in api.on.values() for t in ts)


async def test_process_faults_act_and_move_the_state(env: Any) -> None:
    nemesis, cluster, _ = env
    assert (await nemesis.apply("pause", node="v1")).state.paused == {"v1"}
    assert (await nemesis.apply("resume", node="v1")).state.paused == frozenset()
    killed = await nemesis.apply("kill", node="v2")
    assert killed.state.killed == {"v2"}
    assert cluster.asked[-1] == ["v0", "v1", "v3"]  # a dead node's height is not awaited
    assert (await nemesis.apply("restart", node="v2")).state.killed == frozenset()
    assert [c[:2] for c in cluster.calls] == [
        ("pause", "v1"),
        ("resume", "v1"),
        ("kill", "v2"),
        ("restart", "v2"),
    ]


async def test_test_hooks_are_in_the_state(env: Any) -> None:
    nemesis, cluster, _ = env
    assert (await nemesis.apply("lazy", node="v3")).state.hooks == {
        "v3": {"lazy": True, "clock_offset_ms": 0}
    }
    assert (await nemesis.apply("active", node="v3")).state.hooks == {}
    r = await nemesis.apply("clock_offset", node="v0", ms=-250)
    assert r.state.hooks == {"v0": {"lazy": False, "clock_offset_ms": -250}}
    assert ("set_faults", "v0", {"clock_offset_ms": -250}) in cluster.calls


async def test_restart_turns_the_hooks_off(env: Any) -> None:
    nemesis, _, _ = env
    await nemesis.apply("lazy", node="v1")
    await nemesis.apply("kill", node="v1")
    assert (await nemesis.apply("restart", node="v1")).state.empty


async def test_reset_undoes_everything_and_records(env: Any) -> None:
    nemesis, cluster, api = env
    await nemesis.apply("isolate", node="v0")
    await nemesis.apply("latency", node="v1", ms=50)
    await nemesis.apply("kill", node="v1")
    r = await nemesis.reset()
    assert api.disabled == set() and api.resets == 1
    assert cluster.running["v1"]
    assert r.kind == "reset" and r.state.empty
    assert r.state == FaultState(implementations=dict.fromkeys(NAMES, "python"))  # no fault


async def test_height_is_none_when_no_node_answers(env: Any) -> None:
    nemesis, cluster, _ = env
    cluster.height = dict.fromkeys(NAMES)
    assert (await nemesis.apply("heal")).height is None


@pytest.mark.parametrize(
    ("kind", "args", "message"),
    [
        ("isolate", {"node": "v9"}, "field 'node': want a node name (v0..v3)"),
        ("cut", {"from": "v0", "to": "nope"}, "field 'to'"),
        ("kill", {"node": "v7"}, "field 'node'"),
        ("lazy", {"node": "x"}, "field 'node'"),
        ("partition", {"groups": [["v0"], ["v0", "v1"]]}, "a node is in two groups: v0"),
        ("partition", {"groups": [NAMES]}, "want at least two groups"),
        ("latency", {"node": "v5", "ms": 1}, "field 'node'"),
        ("latency", {"ms": 1}, '"latency" takes exactly one of node or link'),
        ("latency", {"node": "v1"}, "field 'ms': required by \"latency\", missing"),
        ("latency", {"node": "v1", "ms": -1}, "field 'ms': want an integer >= 0, got -1"),
        ("clear_toxics", {}, '"clear_toxics" is now called "clear"'),
        ("meteor", {}, "unknown fault kind 'meteor'"),
    ],
)
async def test_rejected_faults_change_and_record_nothing(
    env: Any, kind: str, args: dict[str, Any], message: str
) -> None:
    nemesis, cluster, api = env
    with pytest.raises(FaultError, match=message.replace("(", r"\(").replace(")", r"\)")):
        await nemesis.apply(kind, args)
    assert nemesis.log.records == []
    assert api.disabled == set() and api.on == {} and cluster.calls == []


async def test_link_faults_without_a_proxy_are_refused() -> None:
    nemesis = Nemesis(FakeCluster(), None)  # type: ignore[arg-type]
    with pytest.raises(FaultError, match="fault proxy"):
        await nemesis.apply("isolate", node="v1")
    assert nemesis.log.records == []


async def test_packet_loss_needs_the_docker_backend(env: Any) -> None:
    nemesis, _, _ = env
    with pytest.raises(FaultError, match="packet_loss needs the Docker backend"):
        await nemesis.apply("packet_loss", node="v1", probability=0.3)
    assert nemesis.log.records == []


def test_records_serialize_in_the_agreed_format(tmp_path: Path) -> None:
    state = FaultState().with_links([("v0", "v1")], down=True).with_loss("v2", 0.3)
    log = FaultLog(path=tmp_path / "faults.jsonl")
    log.add(FaultRecord(0, "cut", {"from": "v0", "to": "v1"}, 42, 1.0, 1.5, state))
    (line,) = (tmp_path / "faults.jsonl").read_text().splitlines()
    assert json.loads(line) == {
        "format": 2,
        "seq": 0,
        "kind": "cut",
        "args": {"from": "v0", "to": "v1"},
        "height": 42,
        "t_start": 1.0,
        "t_end": 1.5,
        "state": {
            "links_down": ["v0_to_v1"],
            "toxics": {},
            "killed": [],
            "paused": [],
            "hooks": {},
            "packet_loss": {"v2": 0.3},
            "netem": {},
            "implementations": {},
        },
    }
    again = FaultLog.load(tmp_path / "faults.jsonl")
    assert again.records == log.records and again.state == state


def test_an_older_log_file_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "faults.jsonl"
    path.write_text(json.dumps({"time": 1.0, "height": 1, "action": "heal", "params": {}}) + "\n")
    with pytest.raises(OldLog, match=r"faults.jsonl:1: not a format-2 fault record"):
        FaultLog.load(path)
