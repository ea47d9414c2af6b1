"""Borrowing the engine's swarm mode: init it when needed, give it back as it was found.

``docker swarm init`` and ``docker swarm leave`` change the whole engine, which other runs
on this host share. So a run takes a lease: the first run that finds the swarm inactive
initialises it and writes that down in a state file; every run adds its ``host:pid`` to
the file's users; the last user to leave (a dead user does not count) makes the engine
leave the swarm it made and removes the ``docker_gwbridge`` network that ``leave`` keeps.
A swarm that was active before the first run is never left. The file is guarded by an
``flock``, so concurrent runs of this host agree.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.cluster.engine import daemon_address, owner_alive, owner_id

if TYPE_CHECKING:
    import docker

ADVERTISE_ADDR = "127.0.0.1"
GWBRIDGE = "docker_gwbridge"


class SwarmError(RuntimeError):
    """The swarm cannot be used as asked (not a manager, a node without an engine address)."""


@dataclass
class LeaseState:
    """What the state file holds: whether a run of ours made the swarm, and who uses it."""

    node_id: str | None = None  # the swarm node we initialised; None: not ours
    users: list[str] = field(default_factory=list)
    had_gwbridge: bool = False  # docker_gwbridge existed before our init: leave it

    @classmethod
    def parse(cls, text: str) -> LeaseState:
        try:
            raw: Any = json.loads(text) if text.strip() else {}
        except ValueError:
            raw = {}
        if not isinstance(raw, dict):
            raw = {}
        users = [u for u in raw.get("users", []) if isinstance(u, str)]
        node = raw.get("node_id")
        return cls(node if isinstance(node, str) else None, users, raw.get("had_gwbridge") is True)

    def to_text(self) -> str:
        doc = {"node_id": self.node_id, "users": self.users, "had_gwbridge": self.had_gwbridge}
        return json.dumps(doc) + "\n"

    def live_users(self, alive: Callable[[str], bool] | None = None) -> list[str]:
        alive = alive or owner_alive
        return [u for u in self.users if alive(u)]


def state_path() -> Path:
    """One state file per engine address on this machine (not per user: the engine is shared)."""
    explicit = os.environ.get("CLP_TESTNET_SWARM_STATE")
    if explicit:
        return Path(explicit)
    digest = sha256(daemon_address().encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"clp-testnet-swarm-{digest}.json"


@contextlib.contextmanager
def _locked_state(path: Path) -> Iterator[LeaseState]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            handle.seek(0)
            state = LeaseState.parse(handle.read())
            yield state
            handle.seek(0)
            handle.truncate()
            handle.write(state.to_text())
            handle.flush()
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def swarm_info(client: docker.DockerClient) -> dict[str, Any]:
    info: dict[str, Any] = client.info().get("Swarm") or {}
    return info


def is_active(client: docker.DockerClient) -> bool:
    return swarm_info(client).get("LocalNodeState") == "active"


def acquire(client: docker.DockerClient, user: str | None = None) -> bool:
    """Make sure the engine is a swarm manager and count ``user`` in; True if we made it."""
    user = user or owner_id()
    with _locked_state(state_path()) as state:
        info = swarm_info(client)
        if info.get("LocalNodeState") != "active":
            state.had_gwbridge = has_gwbridge(client)
            client.swarm.init(advertise_addr=ADVERTISE_ADDR, listen_addr=f"{ADVERTISE_ADDR}:2377")
            info = swarm_info(client)
            state.node_id = info.get("NodeID")
            state.users = []
        elif state.node_id is not None and info.get("NodeID") != state.node_id:
            state.node_id = None  # a swarm someone else made since: never ours to leave
        if not info.get("ControlAvailable"):
            raise SwarmError(
                "this engine is a swarm worker; run the harness against a manager "
                "(DOCKER_HOST of a manager node)"
            )
        state.users = [*state.live_users(), user]
        return state.node_id is not None


def release(client: docker.DockerClient, user: str | None = None) -> bool:
    """Count ``user`` out; the last live user leaves a swarm we made. True if it left."""
    user = user or owner_id()
    with _locked_state(state_path()) as state:
        state.users = [u for u in state.live_users() if u != user]
        if state.users or state.node_id is None:
            return False
        if swarm_info(client).get("NodeID") == state.node_id:
            leave(client, remove_gwbridge=not state.had_gwbridge)
        state.node_id = None
        return True


def has_gwbridge(client: docker.DockerClient) -> bool:
    return any(n.name == GWBRIDGE for n in client.networks.list(names=[GWBRIDGE]))


def leave(client: docker.DockerClient, remove_gwbridge: bool = True) -> None:
    """Leave the swarm, then remove the gateway bridge that ``leave`` keeps behind."""
    from docker.errors import APIError, NotFound

    client.swarm.leave(force=True)
    if not remove_gwbridge:
        return
    with contextlib.suppress(NotFound, APIError):  # in use by a container: not ours to force
        client.networks.get(GWBRIDGE).remove()
