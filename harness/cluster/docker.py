"""DockerBackend: every validator a container on a private bridge network, links via Toxiproxy.

Why the choices:
- Files reach the containers by ``put_archive`` into the created container, never by a bind
  mount: when the harness itself runs in a container that talks to the host's daemon, host
  paths of the harness do not exist on the daemon's side, but an archive always arrives.
- Each node's data directory is a named volume, so kill and restart (``docker kill`` and
  ``docker start`` of the same container) replay the chain from disk.
- API ports are published on 127.0.0.1 with ephemeral host ports, read back after every
  start (a restarted container may get another port), so parallel runs never collide.
- Every container, network and volume carries the project and run labels; ``stop`` removes
  everything of the run by label, so a half-created run is cleaned up as well as a full one,
  and ``clp-testnet down`` finds the leftovers of crashed runs.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import io
import os
import secrets
import socket
import tarfile
import threading
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.cluster.base import Cluster
from harness.cluster.docker_layout import (
    API_PORT,
    CONTAINER_ROOT,
    DATA_DIR,
    NODE_ENTRYPOINT,
    TOXIPROXY_API_PORT,
    TOXIPROXY_HOST,
    node_command,
    node_files,
    proxy_specs,
    require_docker_layout,
)
from harness.cluster.testnet import TestnetError, TestnetManifest
from harness.faults.toxiproxy_api import ToxiproxyApi

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

    from harness.images import Images

PROJECT_LABEL = "org.clp-testnet.project"
PROJECT = "clp-testnet"
RUN_LABEL = "org.clp-testnet.run"
OWNER_LABEL = "org.clp-testnet.owner"
# Set by a test suite for itself and its subprocesses: on a shared engine it then judges
# and removes exactly the objects of its own runs, never those of other users or suites.
SESSION_LABEL = "org.clp-testnet.session"
SESSION_ENV = "CLP_TESTNET_SESSION"
PUBLISH_HOST = "127.0.0.1"
START_TIMEOUT_S = 60.0

Progress = Callable[[str], None]


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


@dataclass
class Removed:
    """What a cleanup removed, by kind, as names."""

    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.containers) + len(self.networks) + len(self.volumes)


def object_labels(obj: Any) -> dict[str, str]:
    """Labels of a container (under Config), network or volume (top level)."""
    attrs = obj.attrs
    labels_: dict[str, str] = attrs.get("Labels") or attrs.get("Config", {}).get("Labels") or {}
    return labels_


@dataclass
class Labelled:
    """The project's Docker objects (or one run's) as the SDK returns them."""

    containers: list[Any]
    networks: list[Any]
    volumes: list[Any]

    @classmethod
    def find(
        cls, client: docker.DockerClient, run_id: str | None = None, session: str | None = None
    ) -> Labelled:
        """The project's objects: all, one run's, or those made under ``SESSION_ENV=session``."""
        flt = {"label": [f"{RUN_LABEL}={run_id}" if run_id else f"{PROJECT_LABEL}={PROJECT}"]}
        if session:  # several labels: Docker matches objects carrying all of them
            flt["label"].append(f"{SESSION_LABEL}={session}")
        return cls(
            client.containers.list(all=True, filters=flt),
            client.networks.list(filters=flt),
            client.volumes.list(filters=flt),
        )

    def names(self) -> Removed:
        return Removed(
            [c.name for c in self.containers],
            [n.name for n in self.networks],
            [v.name for v in self.volumes],
        )

    @property
    def all(self) -> list[Any]:
        return [*self.containers, *self.networks, *self.volumes]

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

    def without_runs(self, runs: set[str]) -> Labelled:
        def keep(obj: Any) -> bool:
            return object_labels(obj).get(RUN_LABEL, "") not in runs

        return Labelled(
            [c for c in self.containers if keep(c)],
            [n for n in self.networks if keep(n)],
            [v for v in self.volumes if keep(v)],
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
    kept = {
        rid: owner
        for rid, owner in found.owners().items()
        if not force and owner and owner_alive(owner)
    }
    return found.without_runs(set(kept)).remove(), kept


def files_archive(files: dict[str, Path], root: str = CONTAINER_ROOT) -> bytes:
    """A tar of ``files`` under ``root`` (relative to /), readable by any user in the image."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        dirs = sorted({str(Path(rel).parent) for rel in files} - {"."})
        for d in [root.strip("/"), *(f"{root.strip('/')}/{d}" for d in dirs)]:
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, int(time.time())
            tar.addfile(info)
        for rel, src in sorted(files.items()):
            data = src.read_bytes()
            info = tarfile.TarInfo(f"{root.strip('/')}/{rel}")
            info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


async def settle(jobs: list[Coroutine[Any, Any, None]]) -> None:
    """Run ``jobs`` together and let every one finish before raising the first failure.

    Also on cancellation (Ctrl-C): a job runs in a thread that cannot be stopped, so the
    teardown must wait for it, or it could create a container after everything was removed.
    """
    tasks = [asyncio.ensure_future(j) for j in jobs]
    try:
        results = await asyncio.shield(asyncio.gather(*tasks, return_exceptions=True))
    except asyncio.CancelledError:
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    for r in results:
        if isinstance(r, BaseException):
            raise r


def toxiproxy_command(images: Images) -> tuple[list[str] | None, list[str] | None]:
    """Entrypoint and command of the Toxiproxy container: the official image's own default
    (``-host=0.0.0.0``), or the compatible server's module with the flags the local backend
    uses too, so the API listens on every interface of the container."""
    if images.toxiproxy_official:
        return None, None
    return ["python3", "-m", "harness.toxiproxy"], [
        "--host",
        "0.0.0.0",
        "--port",
        str(TOXIPROXY_API_PORT),
    ]


def images_from_env() -> Images | None:
    """Images named by CLP_TESTNET_NODE_IMAGE and CLP_TESTNET_TOXIPROXY_IMAGE, if both are set:
    how the suite tests another node implementation's image (or a prebuilt one)."""
    from harness.images import Images

    node = os.environ.get("CLP_TESTNET_NODE_IMAGE")
    tox = os.environ.get("CLP_TESTNET_TOXIPROXY_IMAGE")
    if not node and not tox:
        return None
    if not (node and tox):
        raise TestnetError(
            "set both CLP_TESTNET_NODE_IMAGE and CLP_TESTNET_TOXIPROXY_IMAGE, or neither"
        )
    return Images(node, tox, "shopify/toxiproxy" in tox or "toxiproxy-official" in tox)


def published_port(container: Container, port: int) -> int | None:
    """The host port published for the container's ``port``, or None while it has none."""
    bindings = (container.attrs.get("NetworkSettings", {}).get("Ports") or {}).get(f"{port}/tcp")
    for b in bindings or []:
        if b.get("HostPort"):
            return int(b["HostPort"])
    return None


# A host port Docker chose, taken by another process before its proxy bound it: the
# daemon's own retries give up at times, but each new start picks another port.
PORT_TAKEN = ("address already in use", "port is already allocated")
START_ATTEMPTS = 5


def start_container(c: Container, attempts: int = START_ATTEMPTS) -> None:
    """``docker start``, again while it fails only because the host port was taken."""
    from docker.errors import APIError

    for attempt in range(1, attempts + 1):
        try:
            c.start()
            return
        except APIError as exc:
            if attempt == attempts or not any(t in str(exc).lower() for t in PORT_TAKEN):
                raise


class StreamFollower:
    """Appends a Docker log stream to a file from a thread until the stream ends.

    Its own Docker client: the SDK's HTTP session is not shared across threads. Subclasses
    say which stream (a container's, a swarm service's).
    """

    def __init__(self, path: Path, base_url: str | None = None) -> None:
        self.path = path
        self.base_url = base_url  # the engine to read from; None: the one of the environment
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"logs-{path.stem}")

    def start(self) -> StreamFollower:
        self.thread.start()
        return self

    def stream(self, client: docker.DockerClient) -> Iterable[bytes]:
        raise NotImplementedError

    def _run(self) -> None:
        import docker
        from docker.errors import DockerException

        with contextlib.suppress(DockerException, OSError, ValueError):
            client = docker.DockerClient(base_url=self.base_url) if self.base_url else None
            client = client or docker.from_env()
            try:
                with open(self.path, "ab") as out:
                    for chunk in self.stream(client):
                        out.write(chunk)
                        out.flush()
            finally:
                client.close()

    def join(self, timeout: float = 5.0) -> None:
        self.thread.join(timeout)


class LogFollower(StreamFollower):
    """A container's output from ``since`` until it stops."""

    def __init__(
        self, container_id: str, path: Path, since: float | None, base_url: str | None = None
    ) -> None:
        super().__init__(path, base_url)
        self.container_id = container_id
        self.since = since

    def stream(self, client: docker.DockerClient) -> Iterable[bytes]:
        container = client.containers.get(self.container_id)
        kwargs: dict[str, Any] = {"stream": True, "follow": True}
        if self.since is not None:
            kwargs["since"] = self.since
        stream: Iterable[bytes] = container.logs(**kwargs)
        return stream


class DockerBackend(Cluster):
    api_urls_known_before_start = False

    def __init__(
        self,
        manifest: TestnetManifest,
        log_dir: Path | None = None,
        images: Images | None = None,
        run_id: str | None = None,
        progress: Progress | None = None,
    ) -> None:
        require_docker_layout(manifest)
        self.docker = docker_client()
        super().__init__(manifest)
        self.log_dir = log_dir or manifest.root / "logs"
        self.images = images
        self.run_id = run_id or new_run_id()
        self.progress = progress
        self.containers: dict[str, Container] = {}
        self.toxiproxy: Container | None = None
        self._api_ports: dict[str, int] = {}
        self._fault_api: ToxiproxyApi | None = None
        self._followers: list[StreamFollower] = []
        self._stopped = False
        self._started = False

    # ---- names -------------------------------------------------------------------------

    @property
    def network_name(self) -> str:
        return f"clp-{self.run_id}"

    def container_name(self, name: str) -> str:
        return f"clp-{self.run_id}-{name}"

    def volume_name(self, name: str) -> str:
        return f"clp-{self.run_id}-{name}-data"

    # ---- Cluster -----------------------------------------------------------------------

    def api_url(self, name: str) -> str:
        port = self._api_ports.get(name)
        if port is None:
            raise RuntimeError(f"{name} has no published API port (not started)")
        return f"http://{PUBLISH_HOST}:{port}"

    def log_path(self, name: str) -> str:
        return str(self.log_dir / f"{name}.log")

    def fault_api(self) -> ToxiproxyApi | None:
        return self._fault_api

    async def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._stopped = False
        self._started = True
        atexit.register(self.stop_sync)
        if self.images is None:
            self.images = images_from_env()
        if self.images is None:
            from harness.images import ensure_images

            self._say("making sure the node and Toxiproxy images exist")
            self.images = await asyncio.to_thread(ensure_images, self.progress)
        await self._create_all()
        # All at once: nodes keep dialling until the proxy (and their peers) listen.
        starts = [self._start_node(n) for n in self.names]
        if self.manifest.proxied:
            starts.append(self._start_toxiproxy())
        await settle(starts)
        await self.wait_for(self._all_healthy, START_TIMEOUT_S, "every node's /health")

    def _say(self, text: str) -> None:
        if self.progress is not None:
            self.progress(text)

    async def _create_all(self) -> None:
        assert self.images is not None
        images = self.images
        self._say(f"creating network {self.network_name}")
        await asyncio.to_thread(
            self.docker.networks.create,
            self.network_name,
            driver="bridge",
            labels=labels(self.run_id),
        )

        def toxiproxy() -> None:
            self.toxiproxy = self._create(
                images.toxiproxy,
                self.container_name(TOXIPROXY_HOST),
                TOXIPROXY_HOST,
                TOXIPROXY_API_PORT,
                *toxiproxy_command(images),
                volumes=None,
            )

        def node(name: str) -> None:
            volume = self.docker.volumes.create(self.volume_name(name), labels=labels(self.run_id))
            c = self._create(
                images.node,
                self.container_name(name),
                name,
                API_PORT,
                entrypoint=NODE_ENTRYPOINT,
                command=node_command(name),
                volumes={volume.name: {"bind": DATA_DIR, "mode": "rw"}},
                cap_add=["NET_ADMIN"],  # packet loss and netem act on the node's interface
            )
            c.put_archive("/", files_archive(node_files(self.manifest, name)))
            self.containers[name] = c

        jobs = [asyncio.to_thread(node, n) for n in self.names]
        if self.manifest.proxied:
            jobs.append(asyncio.to_thread(toxiproxy))
        await settle(jobs)

    def _create(
        self,
        image: str,
        container_name: str,
        alias: str,
        publish: int,
        entrypoint: list[str] | None,
        command: list[str] | None,
        volumes: dict[str, dict[str, str]] | None,
        cap_add: list[str] | None = None,
    ) -> Container:
        endpoint = self.docker.api.create_endpoint_config(aliases=[alias])
        return self.docker.containers.create(
            image,
            entrypoint=entrypoint,
            command=command,
            name=container_name,
            hostname=alias,
            labels=labels(self.run_id),
            network=self.network_name,
            networking_config={self.network_name: endpoint},
            ports={f"{publish}/tcp": (PUBLISH_HOST, None)},
            volumes=volumes,
            environment={"PYTHONUNBUFFERED": "1"},
            cap_add=cap_add,
        )

    async def _start_container(self, c: Container, log_name: str, port: int) -> int:
        """Start ``c``, follow its output into the log file, return its published port."""
        since = time.time()
        await asyncio.to_thread(start_container, c)

        async def port_known() -> int | None:
            await self._check_alive(c, log_name)
            return published_port(c, port)

        follower = LogFollower(c.id, self.log_dir / f"{log_name}.log", since).start()
        self._followers.append(follower)
        return await self.wait_for(port_known, 15.0, f"{c.name}'s published port {port}")

    async def _check_alive(self, c: Container, log_name: str) -> None:
        """Fail at once, with the container's last words, when it exited instead of serving."""
        await asyncio.to_thread(c.reload)
        if c.status in ("running", "created", "restarting"):
            return
        tail = await asyncio.to_thread(c.logs, tail=5)
        raise RuntimeError(
            f"container {c.name} is {c.status} (exit code {c.attrs['State'].get('ExitCode')}); "
            f"log {self.log_dir / (log_name + '.log')} ends with: "
            f"{tail.decode(errors='replace').strip()}"
        )

    async def _start_toxiproxy(self) -> None:
        assert self.toxiproxy is not None
        self._say("starting the Toxiproxy container")
        port = await self._start_container(self.toxiproxy, "toxiproxy", TOXIPROXY_API_PORT)
        api = ToxiproxyApi(f"http://{PUBLISH_HOST}:{port}")
        self._fault_api = api

        async def answers() -> bool:
            try:
                await asyncio.to_thread(api.version)
                return True
            except Exception:  # not listening yet: httpx errors, resets
                await self._check_alive(self.toxiproxy, "toxiproxy")
                return False

        await self.wait_for(answers, 30.0, "the Toxiproxy API in its container")
        await asyncio.to_thread(api.populate, proxy_specs(self.manifest))

    async def _start_node(self, name: str) -> None:
        self._api_ports[name] = await self._start_container(self.containers[name], name, API_PORT)
        await self.open_client(name)

    async def _all_healthy(self) -> bool:
        heights = await self.heights()
        for name, h in heights.items():
            if h is None:  # not answering yet, or dead: a dead one fails the start at once
                await self._check_alive(self.containers[name], name)
        return all(h is not None for h in heights.values())

    def _container(self, name: str) -> Container:
        self.manifest.node(name)  # unknown names get the manifest's clear error
        c = self.containers.get(name)
        if c is None:
            raise RuntimeError(f"{name} has no container (cluster not started)")
        return c

    def _status(self, name: str) -> str:
        from docker.errors import NotFound

        c = self._container(name)
        try:
            c.reload()
        except NotFound:
            return "removed"
        return str(c.status)

    def is_running(self, name: str) -> bool:
        return self._status(name) in ("running", "paused")

    async def kill(self, name: str) -> None:
        c = self._container(name)
        status = await asyncio.to_thread(self._status, name)
        if status not in ("running", "paused"):
            return
        await asyncio.to_thread(c.kill)  # SIGKILL, also of a paused container
        await asyncio.to_thread(c.wait, timeout=30)

    async def pause(self, name: str) -> None:
        if await asyncio.to_thread(self._status, name) == "running":
            await asyncio.to_thread(self._container(name).pause)

    async def resume(self, name: str) -> None:
        if await asyncio.to_thread(self._status, name) == "paused":
            await asyncio.to_thread(self._container(name).unpause)

    async def node_exec(self, name: str, command: list[str]) -> tuple[int, str]:
        """Run ``command`` as root inside the node's container: (exit code, output). The
        node itself runs unprivileged; root there holds the container's NET_ADMIN."""
        c = self._container(name)
        code, out = await asyncio.to_thread(c.exec_run, command, user="0")
        return int(code), out.decode(errors="replace") if isinstance(out, bytes) else str(out)

    async def restart(self, name: str) -> None:
        """``docker start`` of the same container: same volume, same files, new API port."""
        await self.kill(name)
        await self._start_node(name)

        async def healthy() -> bool:
            if (await self.heights([name]))[name] is not None:
                return True
            await self._check_alive(self.containers[name], name)
            return False

        what = f"{name} to answer after restart (log {self.log_path(name)})"
        await self.wait_for(healthy, START_TIMEOUT_S, what)

    async def stop(self) -> None:
        if self._stopped:
            return
        await asyncio.to_thread(self.stop_sync)
        await self.close_clients()
        self.docker.close()

    def stop_sync(self) -> None:
        """Remove everything of this run (by label); usable from signal handlers and atexit."""
        if self._stopped or not self._started:
            return
        self._stopped = True
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop_sync)
        if self._fault_api is not None:
            self._fault_api.close()
        try:
            remove_labelled(self.docker, self.run_id)
        finally:
            for f in self._followers:
                f.join(5.0)
            self._followers.clear()
