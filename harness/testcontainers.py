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
CLP_TESTNET_NODE_IMAGE and CLP_TESTNET_TOXIPROXY_IMAGE name; ``ClpTestnet(node="rust")``
runs the Rust node's image (``clp-testnet images build --node rust``, built when missing).
Faults are the Nemesis's: ``ClpTestnet`` only runs them on its own event loop, so a plain
(non-async) test can call them; ``net.cluster`` and ``net.nemesis`` are there for code
that wants the async API.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import threading
from collections.abc import Callable, Coroutine, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from harness.cluster import docker_layout as layout
from harness.cluster.containers import (
    PUBLISH_HOST,
    START_TIMEOUT_S,
    ContainerCluster,
    settle,
    toxiproxy_command,
)
from harness.cluster.engine import labels, remove_labelled
from harness.cluster.node_choice import container_images
from harness.faults.nemesis import Nemesis
from harness.node_kinds import DEFAULT_KIND, node_kind
from harness.node_mix import mix_nodes

if TYPE_CHECKING:
    from docker.models.containers import Container
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


def reach_published_ports_on_loopback() -> str:
    """The host testcontainers' wait strategies and URLs use: PUBLISH_HOST, as for the
    Docker backend, unless TC_HOST / TESTCONTAINERS_HOST_OVERRIDE names another. Left to
    itself, testcontainers takes the default gateway whenever /.dockerenv exists (a
    sandbox or CI runner that is itself a container), an address outside this machine
    that need not lead back to the published ports."""
    from testcontainers.core.config import testcontainers_config

    if not testcontainers_config.tc_host_override:
        testcontainers_config.tc_host_override = PUBLISH_HOST
    return testcontainers_config.tc_host_override


def configure_ryuk() -> bool:
    """Turn Ryuk off unless it was asked for and can run; returns whether it is on."""
    from testcontainers.core.config import testcontainers_config

    if not testcontainers_config.ryuk_disabled and not ryuk_usable():
        testcontainers_config.ryuk_disabled = True
    return not testcontainers_config.ryuk_disabled


class TestcontainersCluster(ContainerCluster["DockerContainer"]):
    """The ``Cluster`` interface over testcontainers' containers (the Docker layout): they
    start with testcontainers' wait strategies; a restart is ``docker start`` of the same
    container."""

    network: Network | None = None
    mixed_nodes = True

    async def _launch(self) -> None:
        from testcontainers.core.network import Network

        reach_published_ports_on_loopback()
        await asyncio.to_thread(configure_ryuk)
        self.network = Network(docker_network_kw={"labels": labels(self.run_id)})
        await asyncio.to_thread(self.network.create)
        jobs = [self._start_node(n) for n in self.names]
        if self.manifest.proxied:
            jobs.append(self._start_toxiproxy())
        await settle(jobs)

    def _container(
        self, image: str, alias: str, port: int, entrypoint: list[str] | None
    ) -> DockerContainer:
        from testcontainers.core.container import DockerContainer

        assert self.network is not None
        extra = {} if entrypoint is None else {"entrypoint": entrypoint}
        c = (
            DockerContainer(image)
            .with_network(self.network)
            .with_network_aliases(alias)
            .with_exposed_ports(port)
            .with_env("PYTHONUNBUFFERED", "1")
            .with_kwargs(labels=labels(self.run_id), hostname=alias, **extra)
        )
        self.units[alias] = c
        return c

    def _start(self, c: DockerContainer, name: str, port: int) -> str:
        """testcontainers' start (until its wait strategy holds), the output followed; the
        URL of ``port`` as published on the host."""
        try:
            c.start()
        finally:
            if c._container is not None:
                self._follow(c.get_container_id(), name, None)
        return f"http://{c.get_container_host_ip()}:{c.get_exposed_port(port)}"

    def _node(self, name: str) -> DockerContainer:
        """Node ``name``'s container: its volume, its files, ready once it serves /health."""
        from testcontainers.core.wait_strategies import HttpWaitStrategy

        assert self.images is not None
        volume = self.volume_name(name)
        self.docker.volumes.create(volume, labels=labels(self.run_id))
        c = (
            self._container(self.node_image(name), name, layout.API_PORT, layout.NODE_ENTRYPOINT)
            .with_command(layout.node_command(name))
            .with_volume_mapping(volume, layout.DATA_DIR, "rw")
            .waiting_for(
                HttpWaitStrategy(layout.API_PORT, "/health").with_startup_timeout(
                    int(START_TIMEOUT_S)
                )
            )
        )
        for rel, src in layout.node_files(self.manifest, name).items():
            c.with_copy_into_container(src.read_bytes(), f"{layout.CONTAINER_ROOT}/{rel}", 0o644)
        return c

    async def _start_node(self, name: str) -> None:
        def start() -> str:
            return self._start(self._node(name), name, layout.API_PORT)

        await self._serve(name, await asyncio.to_thread(start))

    def _toxiproxy(self) -> DockerContainer:
        """The Toxiproxy container, ready once its API answers."""
        from testcontainers.core.wait_strategies import HttpWaitStrategy

        assert self.images is not None
        entrypoint, command = toxiproxy_command(self.images)
        c = self._container(
            self.images.toxiproxy, layout.TOXIPROXY_HOST, layout.TOXIPROXY_API_PORT, entrypoint
        )
        if command is not None:
            c.with_command(command)
        return c.waiting_for(
            HttpWaitStrategy(layout.TOXIPROXY_API_PORT, "/version").with_startup_timeout(30)
        )

    async def _start_toxiproxy(self) -> None:
        def start() -> str:
            return self._start(self._toxiproxy(), layout.TOXIPROXY_HOST, layout.TOXIPROXY_API_PORT)

        await self._serve_toxiproxy(await asyncio.to_thread(start))

    async def _start_again(self, name: str) -> None:
        """Another testnet may take the old host port meanwhile: started again on a new one."""
        c = self.unit_of(name).get_wrapped_container()
        await self._serve(name, await self._start_container(c, name, layout.API_PORT))

    def _live_container(self, name: str) -> Container | None:
        from docker.errors import NotFound

        c = self.unit_of(name)
        if c._container is None:
            raise RuntimeError(f"{name} has no container (not started)")
        wrapped = c.get_wrapped_container()
        try:
            wrapped.reload()
        except NotFound:
            return None
        return wrapped

    def _remove(self) -> None:
        """testcontainers' own stop of each container and the network; then the label sweep
        removes the volumes and whatever a half-made start left."""
        for c in self.units.values():
            if c._container is not None:
                with contextlib.suppress(Exception):
                    c.stop()
        if self.network is not None and self.network._network is not None:
            with contextlib.suppress(Exception):
                self.network.remove()
        remove_labelled(self.docker, self.run_id)


class ClpTestnet:
    """``with ClpTestnet(validators=5) as net:`` a started container testnet, then nothing.

    ``clp``/``consensus`` override the test profile (a mapping or a whole ClpParams or
    ConsensusParams, as the pytest plugin's factory takes them); the keys come from
    ``seed``; the files live in ``root`` (a temporary folder by default). ``node`` is a
    kind of ``harness.node_kinds`` (python, rust); ``images``, when given, win over it.
    ``nodes`` (a kind per validator, or counts: ``{"python": 3, "rust": 2}``) makes a
    mixed testnet, each node of its kind's image.
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
        node: str = DEFAULT_KIND,
        nodes: Sequence[str] | Mapping[str, int] | None = None,
    ) -> None:
        node_kind(node)  # an unknown kind: a clear error before anything starts
        self.node = node
        self.nodes = mix_nodes(nodes, validators) if nodes is not None else None
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

        images = self.images or container_images(self.node)  # the Rust binary missing: here
        if self.root is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="clp-testnet-")
            self.root = Path(self._tmp.name)
        manifest = layout.init_docker_testnet(
            self.root / "testnet",
            validators=self.validators,
            clp=_overrides(ClpParams, ClpParams.test_profile(), self._clp),
            consensus=_overrides(ConsensusParams, ConsensusParams.test_profile(), self._consensus),
            stakes=self.stakes,
            proxied=self.proxied,
            seed=self.seed,
        )
        if self.nodes is not None:  # a mixed testnet: each node of its kind's image
            names = [n.name for n in manifest.nodes]
            manifest.implementations = dict(zip(names, self.nodes, strict=True))
            manifest.save()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._cluster = TestcontainersCluster(manifest, log_dir=self.root / "logs", images=images)
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
