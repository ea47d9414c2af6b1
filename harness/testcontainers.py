"""A CLP testnet for any pytest suite, the way testcontainers gives it a Postgres.

    from harness.testcontainers import ClpTestnet

    with ClpTestnet(validators=5) as net:
        net.node_urls["v0"]            # http://127.0.0.1:PORT, the node API (CLP_SPEC §9)
        net.toxiproxy_url              # the Toxiproxy API carrying every peer link
        net.isolate("v4")              # any fault kind of the registry, called synchronously
        net.wait_for_height(30)
        net.heal()

Built on the ``testcontainers`` package: a ``Network``, one ``DockerContainer`` per
validator and one for Toxiproxy, files copied in before start, HTTP wait strategies on
``/health`` and ``/version``, testcontainers' session labels (so Ryuk reaps a crashed
run) beside the project's own (so ``clp-testnet down`` finds it too). Ryuk is turned off
when its image is neither local nor pullable (no registry here), as
TESTCONTAINERS_RYUK_DISABLED would; the atexit teardown by label covers that case.

The images are the ones ``clp-testnet images build`` makes (built when missing), or those
CLP_TESTNET_NODE_IMAGE and CLP_TESTNET_TOXIPROXY_IMAGE name. Faults are the Nemesis's:
``ClpTestnet`` only runs them on its own event loop, so a plain (non-async) test can call
them; ``net.cluster`` and ``net.nemesis`` are there for code that wants the async API.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from harness.cluster.base import Cluster
from harness.cluster.docker import (
    PUBLISH_HOST,
    START_TIMEOUT_S,
    LogFollower,
    StreamFollower,
    docker_client,
    images_from_env,
    labels,
    new_run_id,
    published_port,
    remove_labelled,
    start_container,
    toxiproxy_command,
)
from harness.cluster.docker_layout import (
    API_PORT,
    CONTAINER_ROOT,
    DATA_DIR,
    NODE_ENTRYPOINT,
    TOXIPROXY_API_PORT,
    TOXIPROXY_HOST,
    init_docker_testnet,
    node_command,
    node_files,
    proxy_specs,
    require_docker_layout,
)
from harness.cluster.testnet import TestnetManifest
from harness.faults.nemesis import Nemesis
from harness.faults.toxiproxy_api import ToxiproxyApi

if TYPE_CHECKING:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.network import Network

    from harness.contract.genesis import ConsensusParams
    from harness.contract.params import ClpParams
    from harness.images import Images

T = TypeVar("T")
RYUK_PULL_TIMEOUT_S = 20.0


def ryuk_usable() -> bool:
    """Whether Ryuk can run: its image is local or can be pulled (never here: no registry)."""
    from testcontainers.core.config import testcontainers_config

    from harness.images import docker_cli

    ref = testcontainers_config.ryuk_image
    return docker_cli.image_id(ref) is not None or (
        docker_cli.pull(ref, RYUK_PULL_TIMEOUT_S) and docker_cli.image_id(ref) is not None
    )


def configure_ryuk() -> bool:
    """Turn Ryuk off unless it was asked for and can run; returns whether it is on."""
    from testcontainers.core.config import testcontainers_config

    if not testcontainers_config.ryuk_disabled and not ryuk_usable():
        testcontainers_config.ryuk_disabled = True
    return not testcontainers_config.ryuk_disabled


class TestcontainersCluster(Cluster):
    """The ``Cluster`` interface over testcontainers' containers (the Docker layout)."""

    api_urls_known_before_start = False

    def __init__(
        self,
        manifest: TestnetManifest,
        images: Images | None = None,
        log_dir: Path | None = None,
        run_id: str | None = None,
    ) -> None:
        require_docker_layout(manifest)
        self.docker = docker_client()
        super().__init__(manifest)
        self.images = images
        self.log_dir = log_dir or manifest.root / "logs"
        self.run_id = run_id or new_run_id()
        self.network: Network | None = None
        self.containers: dict[str, DockerContainer] = {}
        self.toxiproxy: DockerContainer | None = None
        self._fault_api: ToxiproxyApi | None = None
        self._followers: list[StreamFollower] = []
        self._started = False
        self._stopped = False

    def volume_name(self, name: str) -> str:
        return f"clp-{self.run_id}-{name}-data"

    def api_url(self, name: str) -> str:
        c = self.containers.get(name)
        if c is None:
            raise RuntimeError(f"{name} has no container (not started)")
        return f"http://{PUBLISH_HOST}:{c.get_exposed_port(API_PORT)}"

    def log_path(self, name: str) -> str:
        return str(self.log_dir / f"{name}.log")

    def fault_api(self) -> ToxiproxyApi | None:
        return self._fault_api

    async def start(self) -> None:
        from testcontainers.core.network import Network

        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._started, self._stopped = True, False
        atexit.register(self.stop_sync)
        await asyncio.to_thread(configure_ryuk)
        if self.images is None:
            self.images = images_from_env()
        if self.images is None:
            from harness.images import ensure_images

            self.images = await asyncio.to_thread(ensure_images)
        self.network = Network(docker_network_kw={"labels": labels(self.run_id)})
        await asyncio.to_thread(self.network.create)
        jobs = [asyncio.to_thread(self._start_node, n) for n in self.names]
        if self.manifest.proxied:
            jobs.append(asyncio.to_thread(self._start_toxiproxy))
        from harness.cluster.docker import settle

        await settle(jobs)
        for n in self.names:
            await self.open_client(n)
        await self.wait_for(self._all_healthy, START_TIMEOUT_S, "every node's /health")

    def _container(
        self, image: str, alias: str, port: int, entrypoint: list[str] | None
    ) -> DockerContainer:
        from testcontainers.core.container import DockerContainer

        assert self.network is not None
        extra = {} if entrypoint is None else {"entrypoint": entrypoint}
        return (
            DockerContainer(image)
            .with_network(self.network)
            .with_network_aliases(alias)
            .with_exposed_ports(port)
            .with_env("PYTHONUNBUFFERED", "1")
            .with_kwargs(labels=labels(self.run_id), hostname=alias, **extra)
        )

    def _start_node(self, name: str) -> None:
        from testcontainers.core.wait_strategies import HttpWaitStrategy

        assert self.images is not None
        self.docker.volumes.create(self.volume_name(name), labels=labels(self.run_id))
        c = (
            self._container(self.images.node, name, API_PORT, NODE_ENTRYPOINT)
            .with_command(node_command(name))
            .with_volume_mapping(self.volume_name(name), DATA_DIR, "rw")
            .waiting_for(
                HttpWaitStrategy(API_PORT, "/health").with_startup_timeout(int(START_TIMEOUT_S))
            )
        )
        for rel, src in node_files(self.manifest, name).items():
            c.with_copy_into_container(src.read_bytes(), f"{CONTAINER_ROOT}/{rel}", 0o644)
        self.containers[name] = c
        try:
            c.start()
        finally:
            self._follow(c, name)

    def _start_toxiproxy(self) -> None:
        from testcontainers.core.wait_strategies import HttpWaitStrategy

        assert self.images is not None
        entrypoint, command = toxiproxy_command(self.images)
        c = self._container(self.images.toxiproxy, TOXIPROXY_HOST, TOXIPROXY_API_PORT, entrypoint)
        if command is not None:
            c.with_command(command)
        c.waiting_for(HttpWaitStrategy(TOXIPROXY_API_PORT, "/version").with_startup_timeout(30))
        self.toxiproxy = c
        try:
            c.start()
        finally:
            self._follow(c, "toxiproxy")
        api = ToxiproxyApi(f"http://{PUBLISH_HOST}:{c.get_exposed_port(TOXIPROXY_API_PORT)}")
        api.populate(proxy_specs(self.manifest))
        self._fault_api = api

    def _follow(self, c: DockerContainer, log_name: str, since: float | None = None) -> None:
        """Append the container's output (from ``since``: a restart's) to its log file."""
        if c._container is not None:
            path = self.log_dir / f"{log_name}.log"
            self._followers.append(LogFollower(c.get_container_id(), path, since).start())

    async def _all_healthy(self) -> bool:
        heights = await self.heights()
        return all(h is not None for h in heights.values())

    def _status(self, name: str) -> str:
        from docker.errors import NotFound

        self.manifest.node(name)
        c = self.containers.get(name)
        if c is None or c._container is None:
            raise RuntimeError(f"{name} has no container (not started)")
        try:
            c.reload()
        except NotFound:
            return "removed"
        return c.status

    def is_running(self, name: str) -> bool:
        return self._status(name) in ("running", "paused")

    async def kill(self, name: str) -> None:
        if await asyncio.to_thread(self._status, name) in ("running", "paused"):
            wrapped = self.containers[name].get_wrapped_container()
            await asyncio.to_thread(wrapped.kill)
            await asyncio.to_thread(wrapped.wait, timeout=30)

    async def pause(self, name: str) -> None:
        if await asyncio.to_thread(self._status, name) == "running":
            await asyncio.to_thread(self.containers[name].get_wrapped_container().pause)

    async def resume(self, name: str) -> None:
        if await asyncio.to_thread(self._status, name) == "paused":
            await asyncio.to_thread(self.containers[name].get_wrapped_container().unpause)

    async def restart(self, name: str) -> None:
        """``docker start`` of the same container: same volume and files, a new host port."""
        await self.kill(name)
        c = self.containers[name]
        since = time.time()
        # Another testnet may take the old host port meanwhile: started again on a new one.
        await asyncio.to_thread(start_container, c.get_wrapped_container())
        self._follow(c, name, since)

        async def port() -> int | None:
            await asyncio.to_thread(c.get_wrapped_container().reload)
            return published_port(c.get_wrapped_container(), API_PORT)

        await self.wait_for(port, 15.0, f"{name}'s published port")
        await self.open_client(name)
        await self.wait_for(
            lambda: self._answers(name), START_TIMEOUT_S, f"{name} to answer after restart"
        )

    async def _answers(self, name: str) -> bool:
        return (await self.heights([name]))[name] is not None

    async def stop(self) -> None:
        if self._stopped:
            return
        await asyncio.to_thread(self.stop_sync)
        await self.close_clients()

    def stop_sync(self) -> None:
        """testcontainers' own stop of each container and the network; then the label sweep
        removes the volumes and whatever a half-made start left."""
        if self._stopped or not self._started:
            return
        self._stopped = True
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop_sync)
        if self._fault_api is not None:
            self._fault_api.close()
        try:
            for c in [*self.containers.values(), *([self.toxiproxy] if self.toxiproxy else [])]:
                if c._container is not None:
                    with contextlib.suppress(Exception):
                        c.stop()
            if self.network is not None and self.network._network is not None:
                with contextlib.suppress(Exception):
                    self.network.remove()
            remove_labelled(self.docker, self.run_id)
        finally:
            for f in self._followers:
                f.join(5.0)
            self._followers.clear()


class ClpTestnet:
    """``with ClpTestnet(validators=5) as net:`` a started container testnet, then nothing.

    ``clp``/``consensus`` override the test profile (a mapping or a whole ClpParams or
    ConsensusParams, as the pytest plugin's factory takes them); the keys come from
    ``seed``; the files live in ``root`` (a temporary folder by default).
    """

    def __init__(
        self,
        validators: int = 5,
        *,
        clp: ClpParams | Mapping[str, int] | None = None,
        consensus: ConsensusParams | Mapping[str, int] | None = None,
        stakes: list[int] | None = None,
        seed: str | int = "testcontainers",
        proxied: bool = True,
        images: Images | None = None,
        root: Path | None = None,
    ) -> None:
        self.validators = validators
        self._clp, self._consensus = clp, consensus
        self.stakes = stakes
        self.seed = str(seed)
        self.proxied = proxied
        self.images = images
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.root = root
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._cluster: TestcontainersCluster | None = None
        self._nemesis: Nemesis | None = None

    # ---- lifecycle ---------------------------------------------------------------------

    def start(self) -> ClpTestnet:
        from harness.contract.genesis import ConsensusParams
        from harness.contract.params import ClpParams
        from harness.pytest_plugin import _overrides

        if self.root is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="clp-testnet-")
            self.root = Path(self._tmp.name)
        manifest = init_docker_testnet(
            self.root / "testnet",
            validators=self.validators,
            clp=_overrides(ClpParams, ClpParams.test_profile(), self._clp),
            consensus=_overrides(ConsensusParams, ConsensusParams.test_profile(), self._consensus),
            stakes=self.stakes,
            proxied=self.proxied,
            seed=self.seed,
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._cluster = TestcontainersCluster(manifest, self.images, self.root / "logs")
        try:
            self.call(self._cluster.start())
        except BaseException:
            self.stop()
            raise
        self._nemesis = Nemesis(self._cluster, self._cluster.fault_api())
        return self

    def stop(self) -> None:
        """Remove every container, the network and the volumes; safe to call twice."""
        if self._cluster is not None:
            try:
                if self._loop is not None and self._loop.is_running():
                    self.call(self._cluster.shutdown())
                else:
                    self._cluster.stop_sync()
            finally:
                self._cluster = None
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread is not None:
                self._thread.join(10)
            self._loop.close()
            self._loop = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> ClpTestnet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine of this testnet (its cluster, its nemesis) on its loop; wait."""
        if self._loop is None:
            coro.close()
            raise RuntimeError("the testnet is not started")
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result()

    # ---- what a test sees --------------------------------------------------------------

    @property
    def cluster(self) -> TestcontainersCluster:
        if self._cluster is None:
            raise RuntimeError("the testnet is not started")
        return self._cluster

    @property
    def nemesis(self) -> Nemesis:
        if self._nemesis is None:
            raise RuntimeError("the testnet is not started")
        return self._nemesis

    @property
    def names(self) -> list[str]:
        return self.cluster.names

    @property
    def node_urls(self) -> dict[str, str]:
        return {n: self.cluster.api_url(n) for n in self.cluster.names}

    @property
    def toxiproxy_url(self) -> str | None:
        api = self.cluster.fault_api()
        return api.base_url if api is not None else None

    def heights(self) -> dict[str, int | None]:
        return self.call(self.cluster.heights())

    def wait_for_height(self, height: int, names: list[str] | None = None) -> dict[str, int]:
        return self.call(self.cluster.wait_for_height(height, names))

    def wait_for_epoch_result(
        self, epoch: int, names: list[str] | None = None
    ) -> dict[str, dict[str, Any]]:
        return self.call(self.cluster.wait_for_epoch_result(epoch, names))

    def fault(self, kind: str, **fields: Any) -> Any:
        """Inject one fault of the registry (docs/faults.md) and return its fault-log record."""
        return self.call(self.nemesis.apply(kind, **fields))

    def __getattr__(self, name: str) -> Callable[..., Any]:
        """Every fault kind of the registry as a method (isolate, partition, kill, latency,
        heal, clear, reset, ...): positional arguments fill the kind's positional fields in
        order (``net.cut("v0", "v1")``), keywords the others (``net.latency("v2", ms=300)``)."""
        from harness.faults.kinds import KINDS

        kind = None if name.startswith("_") else KINDS.get(name)
        if kind is None:
            raise AttributeError(f"{type(self).__name__!r} has no attribute {name!r}")
        positional = [f.name for f in kind.fields if f.positional]

        def fault(*args: Any, **kwargs: Any) -> Any:
            if len(args) > len(positional):
                raise TypeError(f"{name} takes {len(positional)} positional argument(s)")
            return self.fault(name, **dict(zip(positional, args, strict=False)), **kwargs)

        fault.__name__ = name
        fault.__doc__ = kind.summary
        return fault
