"""The Docker engine as every container backend sees it: a daemon that answers, the
project's labels on every object it makes, and finding and removing those objects by label.

Every container, network, volume (and swarm service, config, secret) of a run carries the
project, run and owner labels, so a run is removed by label whether it was created whole
or in half, and ``clp-testnet down`` tells a crashed run (owner gone) from a live one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import time
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    import docker

PROJECT_LABEL = "org.clp-testnet.project"
PROJECT = "clp-testnet"
RUN_LABEL = "org.clp-testnet.run"
OWNER_LABEL = "org.clp-testnet.owner"
# Set by a test suite for itself and its subprocesses: on a shared engine it then judges
# and removes exactly the objects of its own runs, never those of other users or suites.
SESSION_LABEL = "org.clp-testnet.session"
SESSION_ENV = "CLP_TESTNET_SESSION"


class DockerUnavailable(RuntimeError):
    """Docker is required (``--backend docker``) but the daemon cannot be reached."""


def daemon_address() -> str:
    return os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")


def docker_client() -> docker.DockerClient:
    """A client of a daemon that answers; a clear DockerUnavailable otherwise, never a skip."""
    try:
        import docker
    except ImportError as exc:
        raise DockerUnavailable(
            "Docker is required for --backend docker but the Python package `docker` is not "
            "installed (pip install 'clp-testnet[docker]')"
        ) from exc
    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:  # DockerException, connection errors, permission errors
        raise DockerUnavailable(
            "Docker is required for --backend docker but the daemon at "
            f"{daemon_address()} is not reachable: {exc}"
        ) from exc
    return client


def new_run_id() -> str:
    return f"{time.strftime('%Y%m%d%H%M%S')}-{secrets.token_hex(3)}"


def labels(run_id: str) -> dict[str, str]:
    session = os.environ.get(SESSION_ENV)
    return {
        PROJECT_LABEL: PROJECT,
        RUN_LABEL: run_id,
        OWNER_LABEL: owner_id(),
        **({SESSION_LABEL: session} if session else {}),
    }


def label_filter(run_id: str | None = None, session: str | None = None) -> dict[str, list[str]]:
    """The engine's filter for the project's objects: all, one run's, or one session's."""
    flt = {"label": [f"{RUN_LABEL}={run_id}" if run_id else f"{PROJECT_LABEL}={PROJECT}"]}
    if session:  # several labels: Docker matches objects carrying all of them
        flt["label"].append(f"{SESSION_LABEL}={session}")
    return flt


def owner_id() -> str:
    """Who created a run: ``host:pid``, so ``down`` can tell a live run from a crashed one."""
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_alive(owner: str) -> bool:
    """True when ``owner`` is a process that still runs on this host."""
    host, _, pid_text = owner.rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def object_labels(obj: Any) -> dict[str, str]:
    """Labels of a container (under Config), network or volume (top level), or a swarm
    service, config or secret (under Spec)."""
    attrs = obj.attrs
    labels_: dict[str, str] = (
        attrs.get("Labels")
        or attrs.get("Config", {}).get("Labels")
        or attrs.get("Spec", {}).get("Labels")
        or {}
    )
    return labels_


@dataclass
class ObjectSet:
    """A dataclass of lists of the project's objects, one list per kind, in the order they
    must be removed; what every such set can say about its objects' labels."""

    @property
    def all(self) -> list[Any]:
        return [o for f in fields(self) for o in getattr(self, f.name)]

    def owners(self) -> dict[str, str]:
        """run id -> owner, from every object's labels."""
        out: dict[str, str] = {}
        for obj in self.all:
            lab = object_labels(obj)
            out.setdefault(lab.get(RUN_LABEL, ""), lab.get(OWNER_LABEL, ""))
        return out

    def owned_by(self, owner: str) -> list[str]:
        """Names of the objects that process ``owner`` (``host:pid``) created."""
        return [o.name for o in self.all if object_labels(o).get(OWNER_LABEL) == owner]

    def live_runs(self, force: bool = False) -> dict[str, str]:
        """The runs whose owner still runs here (none when ``force``): run id -> owner."""
        return {
            rid: owner
            for rid, owner in self.owners().items()
            if not force and owner and owner_alive(owner)
        }

    def without_runs(self, runs: set[str]) -> Self:
        def keep(obj: Any) -> bool:
            return object_labels(obj).get(RUN_LABEL, "") not in runs

        kept = {f.name: [o for o in getattr(self, f.name) if keep(o)] for f in fields(self)}
        return replace(self, **kept)


@dataclass
class Removed:
    """What a cleanup removed, by kind, as names."""

    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.containers) + len(self.networks) + len(self.volumes)


@dataclass
class Labelled(ObjectSet):
    """The project's containers, networks and volumes (or one run's) as the SDK returns them."""

    containers: list[Any]
    networks: list[Any]
    volumes: list[Any]

    @classmethod
    def find(
        cls, client: docker.DockerClient, run_id: str | None = None, session: str | None = None
    ) -> Labelled:
        """The project's objects: all, one run's, or those made under ``SESSION_ENV=session``."""
        flt = label_filter(run_id, session)
        # ignore_removed: a container another run removes between the list and its inspect
        # is gone, not an error (seen with testnets torn down beside this one)
        return cls(
            client.containers.list(all=True, ignore_removed=True, filters=flt),
            client.networks.list(filters=flt),
            client.volumes.list(filters=flt),
        )

    def names(self) -> Removed:
        return Removed(
            [c.name for c in self.containers],
            [n.name for n in self.networks],
            [v.name for v in self.volumes],
        )

    def remove(self) -> Removed:
        """Containers first (forced: running or paused ones are killed), since a network or
        a volume in use cannot be removed; something already gone is not an error."""
        from docker.errors import NotFound

        removed = Removed()
        for c in self.containers:
            with contextlib.suppress(NotFound):
                c.remove(force=True, v=True)  # v: anonymous volumes too
                removed.containers.append(c.name)
        for n in self.networks:
            with contextlib.suppress(NotFound):
                n.remove()
                removed.networks.append(n.name)
        for v in self.volumes:
            with contextlib.suppress(NotFound):
                v.remove(force=True)
                removed.volumes.append(v.name)
        return removed


def labelled(client: docker.DockerClient, run_id: str | None = None) -> Removed:
    """Names of everything of the project (or of one run) that exists now."""
    return Labelled.find(client, run_id).names()


def remove_labelled(client: docker.DockerClient, run_id: str | None = None) -> Removed:
    """Remove every container, network and volume of the project (or of one run)."""
    return Labelled.find(client, run_id).remove()


def remove_leftovers(
    client: docker.DockerClient, run_id: str | None = None, force: bool = False
) -> tuple[Removed, dict[str, str]]:
    """Remove what crashed runs left; runs whose owner still runs here are kept (unless
    ``force``). Returns what was removed and the kept runs with their owners."""
    found = Labelled.find(client, run_id)
    kept = found.live_runs(force)
    return found.without_runs(set(kept)).remove(), kept
