"""What every container backend inherits from ``ContainerCluster``, without a daemon: the
process faults act on the container the backend names, only in the states they apply to,
and a container that stopped instead of serving fails with its last words."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.cluster import containers
from harness.cluster.containers import ContainerCluster
from harness.cluster.docker_layout import init_docker_testnet


class FakeContainer:
    """A container in ``status``; records the calls that change it."""

    def __init__(self, name: str, status: str = "running", exit_code: int = 0) -> None:
        self.name, self.status, self.calls = name, status, list[str]()
        self.attrs = {"State": {"ExitCode": exit_code}}

    def kill(self) -> None:
        self.calls.append("kill")
        self.status = "exited"

    def wait(self, timeout: float) -> None:
        self.calls.append("wait")

    def pause(self) -> None:
        self.calls.append("pause")
        self.status = "paused"

    def unpause(self) -> None:
        self.calls.append("unpause")
        self.status = "running"

    def logs(self, tail: int) -> bytes:
        return b"line 1\nboom: no genesis\n"


class FakeCluster(ContainerCluster[FakeContainer]):
    """Units are the containers themselves; those named in ``gone`` were removed."""

    gone: frozenset[str] = frozenset()

    async def _launch(self) -> None:
        raise NotImplementedError

    def _live_container(self, name: str) -> Any:
        unit = self.unit_of(name)
        return None if name in self.gone else unit

    async def _start_again(self, name: str) -> None:
        raise NotImplementedError


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeCluster:
    monkeypatch.setattr(containers, "docker_client", lambda: None)
    manifest = init_docker_testnet(tmp_path / "net", validators=2, seed="fake")
    c = FakeCluster(manifest, run_id="r1")
    c.units = {"v0": FakeContainer("clp-r1-v0"), "v1": FakeContainer("clp-r1-v1")}
    return c


async def test_kill_pause_and_resume_act_only_in_their_states(cluster: FakeCluster) -> None:
    v0 = cluster.units["v0"]
    await cluster.resume("v0")  # running: nothing to resume
    await cluster.pause("v0")
    await cluster.pause("v0")  # paused already
    assert cluster.is_running("v0"), "a paused node still runs"
    await cluster.resume("v0")
    await cluster.kill("v0")
    await cluster.kill("v0")  # exited: nothing to kill
    await cluster.pause("v0")
    assert v0.calls == ["pause", "unpause", "kill", "wait"]
    assert not cluster.is_running("v0")
    cluster.gone = frozenset({"v1"})
    await cluster.kill("v1")
    assert not cluster.is_running("v1")


async def test_unknown_and_unstarted_nodes_get_clear_errors(cluster: FakeCluster) -> None:
    with pytest.raises(Exception, match="v9"):
        await cluster.kill("v9")
    del cluster.units["v1"]
    with pytest.raises(RuntimeError, match="v1 has no container \\(cluster not started\\)"):
        cluster.is_running("v1")


async def test_a_container_that_stopped_fails_with_its_last_words(cluster: FakeCluster) -> None:
    assert await cluster._alive("v0") is cluster.units["v0"]
    cluster.units["v0"].status, cluster.units["v0"].attrs["State"]["ExitCode"] = "exited", 2
    with pytest.raises(RuntimeError) as exc:
        await cluster._alive("v0")
    assert str(exc.value) == (
        f"container clp-r1-v0 is exited (exit code 2); log {cluster.log_dir / 'v0.log'} "
        "ends with: line 1\nboom: no genesis"
    )
    cluster.unit = "service"
    cluster.gone = frozenset({"v1"})
    with pytest.raises(RuntimeError) as exc:
        await cluster._alive("v1")
    assert str(exc.value) == f"service clp-r1-v1 stopped; log {cluster.log_dir / 'v1.log'}"
