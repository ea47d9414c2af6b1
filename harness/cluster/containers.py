"""ContainerCluster: what every container backend shares, whatever runs a node.

A container backend runs the docker layout (``docker_layout``): one container per
validator and one for Toxiproxy, on a network of the run, every object labelled with the
run (``engine``). What differs is how a node's container comes to be and comes back: a
container created and started by the Docker API (``DockerBackend``), a swarm service's task
(``SwarmBackend``), a testcontainers object (``TestcontainersCluster``). A backend says that
and nothing more; here is the rest, written once:

- start: the images (given, named by the environment, or built), the backend's launch, then
  every node's ``/health``; a node that exits instead of serving fails the start at once,
  with its last words;
- faults on the process: kill, pause, resume, restart, all on the container the backend
  names, which it reads fresh each time;
- the Toxiproxy API once its container listens, populated with every link;
- logs: each container's output, followed into ``<log_dir>/<name>.log``;
- teardown by label, also from a signal handler or atexit, with the followers joined.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import threading
import time
from abc import abstractmethod
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from harness.cluster.base import Cluster
from harness.cluster.docker_layout import (
    TOXIPROXY_API_PORT,
    TOXIPROXY_HOST,
    container_proxy_specs,
    require_docker_layout,
)
from harness.cluster.engine import docker_client, new_run_id, remove_labelled
from harness.cluster.testnet import TestnetError, TestnetManifest
from harness.cluster.toxiproxy_api import ToxiproxyApi
from harness.node_kinds import (
    KINDS,
    NODE_IMAGE_ENV,
    PYTHON,
    TOXIPROXY_IMAGE_ENV,
    NodeKindError,
    node_kind,
)

if TYPE_CHECKING:
    from docker.models.containers import Container

    from harness.images import Images

PUBLISH_HOST = "127.0.0.1"
START_TIMEOUT_S = 60.0
# States of a container that is up or on its way up; any other (exited, dead, removed)
# means it stopped instead of serving.
ALIVE = ("running", "paused", "created", "restarting")
RUNNING = ("running", "paused")  # a paused node still runs: it resumes where it was

Progress = Callable[[str], None]
U = TypeVar("U")  # what runs a node or Toxiproxy: a container, a service, a testcontainer


async def settle(jobs: list[Coroutine[Any, Any, Any]]) -> None:
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
    """Entrypoint and command of the Toxiproxy container: the official image's own entrypoint,
    or the compatible server's module, with the flags the local backend uses too: the API on
    every interface of the container, and the per-link byte counters at ``/metrics``."""
    flags = ["-host=0.0.0.0", f"-port={TOXIPROXY_API_PORT}", "-proxy-metrics"]
    if images.toxiproxy_official:
        return None, flags
    return ["python3", "-m", "harness.toxiproxy"], flags


def images_from_env() -> Images | None:
    """Images named by CLP_TESTNET_NODE_IMAGE and CLP_TESTNET_TOXIPROXY_IMAGE, if both are set:
    how the suite tests another node implementation's image (or a prebuilt one)."""
    from harness.images import Images

    node = os.environ.get(NODE_IMAGE_ENV)
    tox = os.environ.get(TOXIPROXY_IMAGE_ENV)
    if not node and not tox:
        return None
    if not (node and tox):
        raise TestnetError(
            "set both CLP_TESTNET_NODE_IMAGE and CLP_TESTNET_TOXIPROXY_IMAGE, or neither"
        )
    return Images(node, tox, "shopify/toxiproxy" in tox or "toxiproxy-official" in tox)


def kind_images(name: str, progress: Progress | None = None) -> Images:
    """The images of node kind ``name`` whatever the environment says (a mixed testnet's
    nodes each run their own kind's image); built when missing. NodeKindError when they
    cannot be had."""
    from harness.images import Images, ImagesError, ensure_images, ensure_rust_node_image

    try:
        tox = ensure_images(progress)
        if node_kind(name).name == PYTHON:
            return tox
        node = ensure_rust_node_image(progress)
    except ImagesError as exc:
        raise NodeKindError(str(exc)) from exc
    return Images(node, tox.toxiproxy, tox.toxiproxy_official)


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
#: runc's cgroup-v1 freezer gives up when a task does not freeze in time (seen on a loaded
#: 2-core machine: "OCI runtime pause failed: unable to freeze") and thaws the container.
FREEZE_FAILED = ("unable to freeze",)
ENGINE_ATTEMPTS = 5


def again_while(call: Callable[[], object], transient: tuple[str, ...], attempts: int) -> None:
    """``call``, again while it fails with an engine error naming one of ``transient``."""
    from docker.errors import APIError

    for attempt in range(1, attempts + 1):
        try:
            call()
            return
        except APIError as exc:
            if attempt == attempts or not any(t in str(exc).lower() for t in transient):
                raise


def start_container(c: Container, attempts: int = ENGINE_ATTEMPTS) -> None:
    """``docker start``, again while it fails only because the host port was taken."""
    again_while(c.start, PORT_TAKEN, attempts)


def pause_container(c: Container, attempts: int = ENGINE_ATTEMPTS) -> None:
    """``docker pause``, again while the freezer gave up (the container runs on meanwhile)."""
    again_while(c.pause, FREEZE_FAILED, attempts)


class LogFollower:
    """Appends a container's output from ``since`` to a file, from a thread, until the
    container stops.

    Its own Docker client (of the engine at ``base_url``; None: the one of the
    environment): the SDK's HTTP session is not shared across threads.
    """

    def __init__(
        self, container_id: str, path: Path, since: float | None, base_url: str | None = None
    ) -> None:
        self.container_id = container_id
        self.path = path
        self.since = since
        self.base_url = base_url
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"logs-{path.stem}")

    def start(self) -> LogFollower:
        self.thread.start()
        return self

    def _run(self) -> None:
        import docker
        from docker.errors import DockerException

        with contextlib.suppress(DockerException, OSError, ValueError):
            client = docker.DockerClient(base_url=self.base_url) if self.base_url else None
            client = client or docker.from_env()
            try:
                kwargs: dict[str, Any] = {"stream": True, "follow": True}
                if self.since is not None:
                    kwargs["since"] = self.since
                stream = client.containers.get(self.container_id).logs(**kwargs)
                with open(self.path, "ab") as out:
                    for chunk in stream:
                        out.write(chunk)
                        out.flush()
            finally:
                client.close()

    def join(self, timeout: float = 5.0) -> None:
        self.thread.join(timeout)


class ContainerCluster(Cluster, Generic[U]):
    """The ``Cluster`` of the docker layout; a subclass launches its units (``units``: by
    node name and TOXIPROXY_HOST), names the container a unit runs now
    (``_live_container``) and how a killed node comes back (``_start_again``)."""

    api_urls_known_before_start = False
    #: What runs a node, for messages: a container, a service.
    unit = "container"
    #: Whether the backend starts each node of its own image (``node_image``): a mixed
    #: testnet (the manifest's ``implementations``) is refused by one that does not.
    mixed_nodes = False
    start_timeout_s = START_TIMEOUT_S

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
        self.units: dict[str, U] = {}
        self._api_urls: dict[str, str] = {}
        self._fault_api: ToxiproxyApi | None = None
        self._followers: list[LogFollower] = []
        self._stopped = False
        self._started = False
        self._hold_links = False  # start()'s: the proxies are created disabled
        #: The image of each node that does not run ``images.node``: its kind's (a mixed
        #: testnet) or the one an ``upgrade`` named.
        self.node_images: dict[str, str] = {}
        self._kind_images: dict[str, str] = {}  # node kind -> its image, once resolved

    # ---- what a backend says -----------------------------------------------------------

    @abstractmethod
    async def _launch(self) -> None:
        """Create and start the run's objects with ``self.images``; every node's API URL
        known (``_serve``) and the Toxiproxy API populated (``_serve_toxiproxy``)."""

    @abstractmethod
    def _live_container(self, name: str) -> Container | None:
        """The container of node ``name`` (or of TOXIPROXY_HOST) as it is now; None when
        there is none (removed, or no task runs)."""

    @abstractmethod
    async def _start_again(self, name: str) -> None:
        """Bring the killed node ``name`` back with its volume and ``_serve`` it."""

    def _remove(self) -> None:
        """Remove every object of the run; from ``stop_sync``, so with no event loop."""
        remove_labelled(self.docker, self.run_id)

    # ---- names -------------------------------------------------------------------------

    @property
    def network_name(self) -> str:
        return f"clp-{self.run_id}"

    def object_name(self, name: str) -> str:
        """The name of the container (or service) of node ``name`` or TOXIPROXY_HOST."""
        return f"clp-{self.run_id}-{name}"

    def volume_name(self, name: str) -> str:
        return f"clp-{self.run_id}-{name}-data"

    def unit_of(self, name: str) -> U:
        """What runs node ``name`` (or TOXIPROXY_HOST)."""
        u = self.units.get(name)
        if u is None:
            raise RuntimeError(f"{name} has no {self.unit} (cluster not started)")
        return u

    # ---- Cluster -----------------------------------------------------------------------

    def api_url(self, name: str) -> str:
        url = self._api_urls.get(name)
        if url is None:
            raise RuntimeError(f"{name} has no published API port (not started)")
        return url

    def log_path(self, name: str) -> str:
        return str(self.log_dir / f"{name}.log")

    def fault_api(self) -> ToxiproxyApi | None:
        return self._fault_api

    def node_image(self, name: str) -> str:
        """The image node ``name`` runs."""
        assert self.images is not None
        return self.node_images.get(name, self.images.node)

    def kind_image(self, kind: str) -> str:
        """The node image of kind ``kind``: resolved once per run (making sure an image is
        current hashes the sources and may build it: not while a chain waits); blocking."""
        image = self._kind_images.get(kind)
        if image is None:
            image = self._kind_images[kind] = kind_images(kind, self.progress).node
        return image

    async def _resolve_mix(self) -> None:
        """The image of every node of a testnet that names its nodes' kinds (its kind's),
        before any starts; the other kinds' too, so an ``upgrade`` starts at once."""
        kinds = self.manifest.implementations
        if not kinds:
            return
        if not self.mixed_nodes and len(set(kinds.values())) > 1:
            raise TestnetError(
                f"the {type(self).__name__} cannot run a mixed testnet (nodes of several kinds)"
            )
        wanted = set(kinds.values()) | (set(KINDS) if self.mixed_nodes else set())
        for kind in sorted(wanted):
            await asyncio.to_thread(self.kind_image, kind)
        for name, kind in kinds.items():
            self.node_images.setdefault(name, self._kind_images[kind])

    def _say(self, text: str) -> None:
        if self.progress is not None:
            self.progress(text)

    async def start(self, hold_links: bool = False) -> None:
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
        await self._resolve_mix()
        self._hold_links = hold_links
        await self._launch()
        await self.wait_for(self._all_healthy, self.start_timeout_s, "every node's /health")

    async def _all_healthy(self) -> bool:
        heights = await self.heights()
        for name, h in heights.items():
            if h is None:  # not answering yet, or dead: a dead one fails the start at once
                await self._alive(name)
        return all(h is not None for h in heights.values())

    async def _alive(self, name: str) -> Container:
        """The container of ``name`` as it is now; with its last words when it stopped
        instead of serving."""
        c = await asyncio.to_thread(self._live_container, name)
        if c is not None and c.status in ALIVE:
            return c
        what, log = f"{self.unit} {self.object_name(name)}", self.log_dir / f"{name}.log"
        if c is None:
            raise RuntimeError(f"{what} stopped; log {log}")
        tail = await asyncio.to_thread(c.logs, tail=5)
        raise RuntimeError(
            f"{what} is {c.status} (exit code {c.attrs['State'].get('ExitCode')}); "
            f"log {log} ends with: {tail.decode(errors='replace').strip()}"
        )

    def _follow(
        self, container_id: str, name: str, since: float | None, engine: str | None = None
    ) -> None:
        """Follow a container's output (from ``since``: a restart's) into ``name``'s log."""
        path = self.log_dir / f"{name}.log"
        self._followers.append(LogFollower(container_id, path, since, engine).start())

    async def _serve(self, name: str, url: str) -> None:
        """Node ``name`` answers (or will) at ``url``: its client from now on."""
        self._api_urls[name] = url
        await self.open_client(name)

    async def _start_container(self, c: Container, name: str, port: int) -> str:
        """``docker start`` of a created (or killed) container, its output followed from
        now on; the URL of its ``port`` as published on the host (a new one each start)."""
        since = time.time()
        await asyncio.to_thread(start_container, c)
        self._follow(c.id, name, since)

        async def port_known() -> int | None:
            return published_port(await self._alive(name), port)

        host_port = await self.wait_for(port_known, 15.0, f"{c.name}'s published port {port}")
        return f"http://{PUBLISH_HOST}:{host_port}"

    async def _serve_toxiproxy(self, url: str) -> None:
        """Wait for the Toxiproxy API at ``url`` (failing at once if its container
        stopped), then create every link's proxy."""
        api = ToxiproxyApi(url)
        self._fault_api = api

        async def answers() -> bool:
            try:
                await asyncio.to_thread(api.version)
                return True
            except Exception:  # not listening yet: httpx errors, resets
                await self._alive(TOXIPROXY_HOST)
                return False

        await self.wait_for(answers, 30.0, f"the Toxiproxy API in its {self.unit}")
        specs = container_proxy_specs(self.manifest, enabled=not self._hold_links)
        await asyncio.to_thread(api.populate, specs)

    # ---- process faults ----------------------------------------------------------------

    def _node_container(self, name: str) -> Container | None:
        self.manifest.node(name)  # unknown names get the manifest's clear error
        return self._live_container(name)

    def is_running(self, name: str) -> bool:
        c = self._node_container(name)
        return c is not None and c.status in RUNNING

    async def kill(self, name: str) -> None:
        c = await asyncio.to_thread(self._node_container, name)
        if c is None or c.status not in RUNNING:
            return
        await asyncio.to_thread(c.kill)  # SIGKILL, also of a paused container
        await asyncio.to_thread(c.wait, timeout=30)

    async def pause(self, name: str) -> None:
        c = await asyncio.to_thread(self._node_container, name)
        if c is not None and c.status == "running":
            await asyncio.to_thread(pause_container, c)

    async def resume(self, name: str) -> None:
        c = await asyncio.to_thread(self._node_container, name)
        if c is not None and c.status == "paused":
            await asyncio.to_thread(c.unpause)

    async def restart(self, name: str) -> None:
        """Kill, then the backend's way back with the same volume; until it answers."""
        await self.kill(name)
        await self._start_again(name)

        async def healthy() -> bool:
            if (await self.heights([name]))[name] is not None:
                return True
            await self._alive(name)
            return False

        what = f"{name} to answer after restart (log {self.log_path(name)})"
        await self.wait_for(healthy, self.start_timeout_s, what)

    # ---- teardown ----------------------------------------------------------------------

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
            self._remove()
        finally:
            for f in self._followers:
                f.join(5.0)
            self._followers.clear()
