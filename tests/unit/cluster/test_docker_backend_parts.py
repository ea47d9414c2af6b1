"""Parts of the Docker backend that need no daemon: the file archive, labels, published
ports, owner liveness, and the clear failure when the daemon cannot be reached."""

from __future__ import annotations

import io
import os
import socket
import tarfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness.cluster import containers, engine
from harness.cluster import docker as d


def test_files_archive_puts_readable_files_under_the_container_root(tmp_path: Path) -> None:
    key = tmp_path / "key.json"
    key.write_text("{}")
    key.chmod(0o600)  # owner-only on the host; the node in the image runs as another user
    gen = tmp_path / "genesis.json"
    gen.write_text('{"chain_id": "x"}')
    data = d.files_archive({"genesis.json": gen, "v0/key.json": key})
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert set(members) == {
            "testnet",
            "testnet/v0",
            "testnet/genesis.json",
            "testnet/v0/key.json",
        }
        assert members["testnet/v0"].isdir() and members["testnet/v0"].mode == 0o755
        assert members["testnet/v0/key.json"].mode == 0o644
        extracted = tar.extractfile("testnet/genesis.json")
        assert extracted is not None and extracted.read() == b'{"chain_id": "x"}'


def test_every_object_carries_project_run_and_owner_labels() -> None:
    lab = engine.labels("r1")
    assert lab[engine.PROJECT_LABEL] == "clp-testnet"
    assert lab[engine.RUN_LABEL] == "r1"
    assert lab[engine.OWNER_LABEL] == f"{socket.gethostname()}:{os.getpid()}"
    assert engine.new_run_id() != engine.new_run_id()


def test_a_session_in_the_environment_labels_every_object(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(engine.SESSION_ENV, raising=False)
    assert engine.SESSION_LABEL not in engine.labels("r1")
    monkeypatch.setenv(engine.SESSION_ENV, "s1")
    assert engine.labels("r1")[engine.SESSION_LABEL] == "s1"


def test_published_port_is_read_from_the_inspect_data() -> None:
    c = SimpleNamespace(
        attrs={
            "NetworkSettings": {
                "Ports": {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "49153"}]}
            }
        }
    )
    assert containers.published_port(c, 8080) == 49153  # type: ignore[arg-type]
    assert containers.published_port(c, 8474) is None  # type: ignore[arg-type]
    not_yet = SimpleNamespace(attrs={"NetworkSettings": {"Ports": {"8080/tcp": None}}})
    assert containers.published_port(not_yet, 8080) is None  # type: ignore[arg-type]


def test_owner_alive_only_for_a_live_process_on_this_host() -> None:
    here = socket.gethostname()
    assert engine.owner_alive(f"{here}:{os.getpid()}")
    assert not engine.owner_alive(f"{here}:999999999")
    assert not engine.owner_alive(f"elsewhere-{here}:{os.getpid()}")
    assert not engine.owner_alive("garbage")


def test_labelled_groups_owners_by_run_and_drops_kept_runs() -> None:
    def obj(run: str, owner: str, container: bool = False) -> SimpleNamespace:
        lab = {engine.RUN_LABEL: run, engine.OWNER_LABEL: owner}
        attrs = {"Config": {"Labels": lab}} if container else {"Labels": lab}
        return SimpleNamespace(name=f"{run}-{'c' if container else 'n'}", attrs=attrs)

    found = engine.Labelled(
        [obj("a", "h:1", container=True), obj("b", "h:2", container=True)],
        [obj("a", "h:1")],
        [obj("b", "h:2")],
    )
    assert found.owners() == {"a": "h:1", "b": "h:2"}
    rest = found.without_runs({"a"})
    assert rest.names() == engine.Removed(["b-c"], [], ["b-n"])


def test_unreachable_daemon_is_a_clear_error_not_a_skip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(engine.DockerUnavailable) as exc:
        engine.docker_client()
    text = str(exc.value)
    assert text.startswith(
        "Docker is required for --backend docker but the daemon at "
        "unix:///nonexistent/docker.sock is not reachable: "
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["demo", "--backend", "docker", "-n", "4"],
        ["down", "--docker"],
        ["down"],  # without --dir, down cleans Docker leftovers, so it needs Docker too
    ],
)
def test_cli_fails_loudly_when_docker_is_required_and_absent(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from harness.cli import main

    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    assert main(argv) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert "Docker is required for --backend docker but the daemon at" in out
    assert "unix:///nonexistent/docker.sock is not reachable" in out


def test_down_with_only_a_dir_needs_no_docker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from harness.cli import main

    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    assert main(["down", "--dir", str(tmp_path)]) == 0
    assert "nothing recorded as running here" in " ".join(capsys.readouterr().out.split())


class _Starts:
    """A container whose first ``failures`` starts (or pauses) fail with ``error``."""

    def __init__(self, failures: int, error: str) -> None:
        self.failures, self.error, self.calls = failures, error, 0

    def start(self) -> None:
        from docker.errors import APIError

        self.calls += 1
        if self.calls <= self.failures:
            raise APIError(self.error)

    pause = start


TAKEN = (
    "driver failed programming external connectivity on endpoint clp-x-v3: Error starting "
    "userland proxy: listen tcp4 127.0.0.1:33012: bind: address already in use"
)


FREEZE = "Cannot pause container cd2aec369b2f: OCI runtime pause failed: unable to freeze: unknown"


@pytest.mark.parametrize(
    ("call", "transient", "named", "other"),
    [
        (containers.start_container, TAKEN, "address already in use", "no such image"),
        (containers.pause_container, FREEZE, "unable to freeze", "No such container: clp-x-v3"),
    ],
    ids=["start-while-the-host-port-was-taken", "pause-while-the-freezer-gave-up"],
)
def test_an_engine_call_is_retried_only_on_its_transient_error(
    call: Any, transient: str, named: str, other: str
) -> None:
    from docker.errors import APIError

    twice = _Starts(2, transient)
    call(twice)
    assert twice.calls == 3
    always = _Starts(99, transient)
    with pytest.raises(APIError, match=named):
        call(always, attempts=3)
    assert always.calls == 3
    once = _Starts(1, other)
    with pytest.raises(APIError, match=other):
        call(once)
    assert once.calls == 1
