"""A testnet that docker compose runs, as the CLI reaches it from the host.

The manifest of a testnet laid out for containers (``init --compose``, ``compose/testnet``)
names the ports inside the containers (``v0:8080``, ``toxiproxy:8474``), which the host
cannot reach. ``status``, ``fault``, ``check`` and ``down`` ask Docker instead: the compose
services mount this testnet's files, so the containers that mount them are this testnet,
whatever the project's name or the compose file's folder, and the ports they publish are
where the host reaches them (fixed in ``.env``, or picked by Docker).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from harness.cluster.base import Cluster
from harness.cluster.docker_layout import (
    API_PORT,
    CONTAINER_ROOT,
    LAYOUT,
    POPULATE_FILE,
    TOXIPROXY_API_PORT,
)
from harness.cluster.engine import docker_client
from harness.cluster.local import LocalBackend
from harness.cluster.testnet import TestnetError, TestnetManifest
from harness.cluster.toxiproxy_api import ToxiproxyApi

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

PROJECT_LABEL = "com.docker.compose.project"  # docker compose v2 and docker-compose v1
RUNNING = ("running", "paused")  # a paused node still runs: it resumes where it was
STOP_TIMEOUT_S = 10  # the compose file's stop_grace_period
RESTART_BUDGET_S = 60.0
NOT_PUBLISHED = "http://127.0.0.1:0"  # refuses every request: the node shows as down


def is_compose_layout(manifest: TestnetManifest) -> bool:
    """Laid out for containers: run by docker compose, not by ``clp-testnet up``."""
    return manifest.layout == LAYOUT


def published(container: Container, port: int) -> tuple[str, int] | None:
    """Where the host reaches ``port`` of ``container``: the address and port Docker
    publishes it on (a wildcard address is reached on the loopback). A stopped container
    keeps only the ports fixed in its compose file; one Docker picks has none then."""
    key = f"{port}/tcp"
    live = ((container.attrs.get("NetworkSettings") or {}).get("Ports") or {}).get(key)
    fixed = ((container.attrs.get("HostConfig") or {}).get("PortBindings") or {}).get(key)
    for binding in live or fixed or []:
        host, number = binding.get("HostIp") or "0.0.0.0", binding.get("HostPort")
        if number and ":" not in host:  # the IPv4 binding; Docker adds an IPv6 twin
            return ("127.0.0.1" if host == "0.0.0.0" else host, int(number))
    return None


def part_of(container: Container, root: Path, parts: set[str]) -> str | None:
    """Which of ``parts`` (node names, the proxy's ``toxiproxy.json``) of the testnet at
    ``root`` the container runs, by the files it mounts under ``/testnet``."""
    for mount in container.attrs.get("Mounts") or []:
        dest = str(mount.get("Destination", ""))
        part = dest.removeprefix(CONTAINER_ROOT + "/")
        if mount.get("Type") != "bind" or part == dest or part not in parts:
            continue
        if Path(str(mount.get("Source", ""))).resolve() == root / part:
            return part
    return None


@dataclass
class ComposeProject:
    """The compose project running a testnet: its name and its containers by part."""

    name: str
    containers: dict[str, Container] = field(default_factory=dict)


def find_project(client: docker.DockerClient, manifest: TestnetManifest) -> ComposeProject:
    """The one compose project whose containers mount this testnet's files."""
    root = manifest.root.resolve()
    parts = {n.name for n in manifest.nodes} | {POPULATE_FILE}
    found: dict[str, ComposeProject] = {}
    for c in client.containers.list(
        all=True, ignore_removed=True, filters={"label": PROJECT_LABEL}
    ):
        part = part_of(c, root, parts)
        if part is not None:
            name = c.labels[PROJECT_LABEL]
            found.setdefault(name, ComposeProject(name)).containers[part] = c
    running = {
        n: p for n, p in found.items() if any(c.status in RUNNING for c in p.containers.values())
    }
    candidates = running or found
    if not candidates:
        raise TestnetError(
            f"{manifest.root}: no docker compose container runs this testnet (start it with "
            "`docker compose up -d` in the folder of its docker-compose.yml)"
        )
    if len(candidates) > 1:
        raise TestnetError(
            f"{manifest.root}: the compose projects {', '.join(sorted(candidates))} all run "
            "this testnet; stop all but one (`docker compose -p NAME down`)"
        )
    return next(iter(candidates.values()))


class ComposeTestnet(Cluster):
    """A running compose testnet: REST clients and the fault proxy at the published ports,
    process faults as ``docker kill/pause/unpause/start``; ``stop`` is ``compose down``
    (containers and network go, the data volumes stay)."""

    def __init__(
        self, manifest: TestnetManifest, client: docker.DockerClient | None = None
    ) -> None:
        self.docker = client if client is not None else docker_client()
        self.project = find_project(self.docker, manifest)
        self._fault_api: ToxiproxyApi | None = None
        super().__init__(manifest)

    def _container(self, name: str) -> Container:
        self.manifest.node(name)  # unknown names get the manifest's clear error
        c = self.project.containers.get(name)
        if c is None:
            raise TestnetError(f"{name} has no container in compose project {self.project.name}")
        return c

    def api_url(self, name: str) -> str:
        c = self.project.containers.get(name)
        where = published(c, API_PORT) if c is not None else None
        return f"http://{where[0]}:{where[1]}" if where else NOT_PUBLISHED

    def log_path(self, name: str) -> str:
        c = self.project.containers.get(name)
        return f"`docker logs {c.name}`" if c is not None else f"{name}: no container"

    def fault_api(self) -> ToxiproxyApi | None:
        proxy = self.project.containers.get(POPULATE_FILE)
        if self._fault_api is None and self.manifest.proxied and proxy is not None:
            where = published(proxy, TOXIPROXY_API_PORT)
            if where is not None:
                self._fault_api = ToxiproxyApi(f"http://{where[0]}:{where[1]}")
        return self._fault_api

    def save_logs(self, folder: Path) -> None:
        """Each node container's log as ``folder/<name>.log``, where a local testnet keeps
        its logs (so a report of the folder shows them)."""
        folder.mkdir(parents=True, exist_ok=True)
        for name in self.names:
            c = self.project.containers.get(name)
            if c is not None:
                (folder / f"{name}.log").write_bytes(c.logs(stdout=True, stderr=True))

    async def start(self, hold_links: bool = False) -> None:
        raise TestnetError(f"{self.manifest.root}: docker compose starts this testnet")

    # ---- process faults ----------------------------------------------------------------

    def _status(self, name: str) -> str:
        c = self._container(name)
        c.reload()
        return str(c.status)

    def is_running(self, name: str) -> bool:
        return self._status(name) in RUNNING

    async def kill(self, name: str) -> None:
        if await asyncio.to_thread(self._status, name) in RUNNING:
            c = self._container(name)
            await asyncio.to_thread(c.kill)  # SIGKILL, also of a paused container
            await asyncio.to_thread(c.wait, timeout=30)

    async def pause(self, name: str) -> None:
        if await asyncio.to_thread(self._status, name) == "running":
            await asyncio.to_thread(self._container(name).pause)

    async def resume(self, name: str) -> None:
        if await asyncio.to_thread(self._status, name) == "paused":
            await asyncio.to_thread(self._container(name).unpause)

    async def restart(self, name: str) -> None:
        """Kill, start the same container (its volume intact), until it answers."""
        await self.kill(name)
        await asyncio.to_thread(self._container(name).start)
        await asyncio.to_thread(self._status, name)  # a port Docker picks is a new one
        await self.open_client(name)
        what = f"{name} to answer after restart (log {self.log_path(name)})"
        await self.wait_for(lambda: self.height_of(name), RESTART_BUDGET_S, what)

    # ---- teardown ----------------------------------------------------------------------

    async def stop(self) -> None:
        await asyncio.to_thread(self.stop_sync)

    def stop_sync(self) -> None:
        """``docker compose down``: remove the project's containers, then its networks."""
        from docker.errors import NotFound

        flt = {"label": f"{PROJECT_LABEL}={self.project.name}"}
        for c in self.docker.containers.list(all=True, ignore_removed=True, filters=flt):
            with contextlib.suppress(NotFound):  # one that went meanwhile is fine
                c.stop(timeout=STOP_TIMEOUT_S)
                c.remove(force=True)
        for net in self.docker.networks.list(filters=flt):
            with contextlib.suppress(NotFound):
                net.remove()

    def volumes(self) -> list[str]:
        """The project's data volumes, which ``stop`` leaves (as ``compose down`` does)."""
        flt = {"label": f"{PROJECT_LABEL}={self.project.name}"}
        return sorted(str(v.name) for v in self.docker.volumes.list(filters=flt))

    async def close_clients(self) -> None:
        """The node clients, the fault proxy's and the Docker client."""
        await super().close_clients()
        if self._fault_api is not None:
            self._fault_api.close()
            self._fault_api = None
        self.docker.close()


def reach(manifest: TestnetManifest) -> Cluster:
    """The running testnet of ``manifest`` as this host reaches it: a compose testnet at
    its published ports, a local one (``clp-testnet up``) at the ports its manifest holds."""
    if is_compose_layout(manifest):
        return ComposeTestnet(manifest)
    return LocalBackend(manifest)
