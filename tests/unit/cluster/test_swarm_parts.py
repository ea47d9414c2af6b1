"""Parts of the swarm backend that need no daemon: the lease of the engine's swarm mode
(against a fake engine), the options from the environment, task fields, registry refs."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness.cluster import swarm_lease as lease
from harness.cluster.engine import OWNER_LABEL, RUN_LABEL
from harness.cluster.swarm import (
    SwarmLabelled,
    SwarmOptions,
    latest_task,
    placement_line,
    registry_ref,
    task_port,
)
from harness.cluster.testnet import TestnetError


class FakeNetwork:
    def __init__(self, engine: FakeEngine, name: str) -> None:
        self.engine, self.name = engine, name

    def remove(self) -> None:
        self.engine.networks_present.discard(self.name)


class FakeEngine:
    """Just what the lease touches: info, swarm init/leave, networks by name."""

    def __init__(self, active: bool = False, node_id: str = "n1") -> None:
        self.state = "active" if active else "inactive"
        self.node_id = node_id if active else ""
        self.next_id = node_id
        self.networks_present: set[str] = set()
        self.calls: list[str] = []
        self.swarm = self
        self.networks = self

    def info(self) -> dict[str, Any]:
        return {
            "Swarm": {
                "LocalNodeState": self.state,
                "NodeID": self.node_id,
                "ControlAvailable": self.state == "active",
            }
        }

    def init(self, **kwargs: Any) -> None:
        self.calls.append(f"init {kwargs['advertise_addr']}")
        self.state, self.node_id = "active", self.next_id
        self.networks_present.add(lease.GWBRIDGE)

    def leave(self, force: bool) -> None:
        self.calls.append("leave")
        self.state, self.node_id = "inactive", ""

    def list(self, names: list[str]) -> list[FakeNetwork]:
        return [FakeNetwork(self, n) for n in names if n in self.networks_present]

    def get(self, name: str) -> FakeNetwork:
        return FakeNetwork(self, name)


@pytest.fixture(autouse=True)
def state_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "swarm.json"
    monkeypatch.setenv("CLP_TESTNET_SWARM_STATE", str(path))
    monkeypatch.setattr(lease, "owner_alive", lambda owner: not owner.endswith(":dead"))
    return path


def test_an_inactive_engine_is_initialised_and_left_as_found() -> None:
    engine: Any = FakeEngine()
    assert lease.acquire(engine, "h:1") is True
    assert engine.calls == ["init 127.0.0.1"] and engine.state == "active"
    assert lease.release(engine, "h:1") is True
    assert engine.calls == ["init 127.0.0.1", "leave"] and engine.state == "inactive"
    assert lease.GWBRIDGE not in engine.networks_present  # what `leave` keeps is removed


def test_an_active_swarm_is_never_left() -> None:
    engine: Any = FakeEngine(active=True)
    assert lease.acquire(engine, "h:1") is False
    assert lease.release(engine, "h:1") is False
    assert engine.calls == [] and engine.state == "active"


def test_the_last_live_user_leaves_and_dead_users_do_not_count() -> None:
    engine: Any = FakeEngine()
    lease.acquire(engine, "h:1")
    lease.acquire(engine, "h:2")
    lease.acquire(engine, "h:dead")
    assert lease.release(engine, "h:1") is False and engine.state == "active"
    assert lease.release(engine, "h:2") is True and engine.state == "inactive"
    assert engine.calls.count("init 127.0.0.1") == 1


def test_a_gwbridge_that_was_there_before_is_kept() -> None:
    engine: Any = FakeEngine()
    engine.networks_present.add(lease.GWBRIDGE)
    lease.acquire(engine, "h:1")
    lease.release(engine, "h:1")
    assert engine.state == "inactive" and lease.GWBRIDGE in engine.networks_present


def test_a_swarm_made_by_someone_else_after_ours_is_not_left(state_file: Path) -> None:
    engine: Any = FakeEngine()
    lease.acquire(engine, "h:1")
    engine.leave(force=True)  # someone left ours and made another swarm
    engine.state, engine.node_id = "active", "other"
    lease.acquire(engine, "h:2")
    lease.release(engine, "h:1")
    assert lease.release(engine, "h:2") is False and engine.state == "active"


def test_a_crashed_run_leaves_a_swarm_the_next_run_gives_back(state_file: Path) -> None:
    engine: Any = FakeEngine()
    lease.acquire(engine, "h:dead")  # made the swarm, then died without releasing
    assert lease.acquire(engine, "h:1") is True  # still ours: recorded in the state file
    assert lease.release(engine, "h:1") is True and engine.state == "inactive"


def test_a_worker_engine_is_refused() -> None:
    engine: Any = FakeEngine(active=True)
    engine.info = lambda: {"Swarm": {"LocalNodeState": "active", "ControlAvailable": False}}
    with pytest.raises(lease.SwarmError, match="worker"):
        lease.acquire(engine, "h:1")


def test_a_garbled_state_file_reads_as_empty() -> None:
    assert lease.LeaseState.parse("not json") == lease.LeaseState()
    assert lease.LeaseState.parse("[1]") == lease.LeaseState()
    state = lease.LeaseState("n", ["h:1"], True)
    assert lease.LeaseState.parse(state.to_text()) == state


def test_options_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLP_SWARM_REGISTRY", "reg:5000")
    monkeypatch.setenv("CLP_SWARM_CONSTRAINTS", "node.role==worker, node.labels.clp==yes")
    monkeypatch.setenv("CLP_SWARM_ENGINES", "h2=tcp://10.0.0.2:2376")
    opts = SwarmOptions.from_env()
    assert opts.registry == "reg:5000"
    assert opts.constraints == ("node.role==worker", "node.labels.clp==yes")
    assert opts.engines == {"h2": "tcp://10.0.0.2:2376"}
    assert opts.manager is None
    monkeypatch.setenv("CLP_SWARM_MANAGER", "tcp://127.0.0.1:2375")
    assert SwarmOptions.from_env().manager == "tcp://127.0.0.1:2375"
    monkeypatch.setenv("CLP_SWARM_ENGINES", "nonsense")
    with pytest.raises(TestnetError, match="hostname=URL"):
        SwarmOptions.from_env()


def test_the_placement_line_names_every_engine_and_its_validators() -> None:
    line = placement_line({"engine-b": ["v1", "v4"], "engine-a": ["v0", "v3"], "engine-c": ["v2"]})
    assert line == (
        "placement: 5 validators on 3 engines: engine-a v0 v3, engine-b v1 v4, engine-c v2"
    )


def test_registry_refs_and_task_fields() -> None:
    assert registry_ref("reg:5000/", "clp-testnet/node:abc") == "reg:5000/clp-testnet/node:abc"
    task = {
        "CreatedAt": "2026-01-01T00:00:02Z",
        "Status": {"PortStatus": {"Ports": [{"TargetPort": 8080, "PublishedPort": 32770}]}},
    }
    assert task_port(task, 8080) == 32770 and task_port(task, 8474) is None
    assert task_port({"Status": {}}, 8080) is None

    class Svc:
        def tasks(self) -> list[dict[str, Any]]:
            return [{"CreatedAt": "2026-01-01T00:00:01Z"}, task]

    assert latest_task(Svc()) is task  # type: ignore[arg-type]


def test_swarm_objects_are_told_apart_by_the_labels_of_their_spec() -> None:
    def obj(name: str, run: str, owner: str) -> SimpleNamespace:
        return SimpleNamespace(
            name=name, attrs={"Spec": {"Labels": {RUN_LABEL: run, OWNER_LABEL: owner}}}
        )

    alive = f"{socket.gethostname()}:{os.getpid()}"
    found = SwarmLabelled(
        [obj("a-v0", "a", "gone-host:1"), obj("b-v0", "b", alive)],
        [obj("a-genesis", "a", "gone-host:1")],
        [obj("b-key", "b", alive)],
    )
    assert found.owners() == {"a": "gone-host:1", "b": alive}
    assert found.owned_by(alive) == ["b-v0", "b-key"]
    assert found.live_runs() == {"b": alive}
    assert found.live_runs(force=True) == {}
    assert found.without_runs(set(found.live_runs())).names() == ["a-v0", "a-genesis"]
