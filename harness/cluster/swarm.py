"""SwarmBackend: the container testnet as Docker Swarm services, so it can span hosts.

The same layout as the Docker backend (``docker_layout``: node ``vi`` is reached as ``vi``,
links go through ``toxiproxy:<port>``), as swarm objects instead of containers:
- one service per validator (one replica, never restarted by the swarm: a killed node must
  stay down until the harness restarts it) with a named volume at ``/data``, and the
  Toxiproxy service, all on one attachable overlay network; network aliases give the
  names the layout expects;
- the files reach the tasks as swarm configs (genesis, ``node.toml``) and a secret (the
  key, readable by the node's user only), which every node of the swarm can read, so
  nothing depends on the host's paths; a task the engine fails to start in its known
  mount race (``ENGINE_RACE``) is replaced by a new one;
- the API ports are published in host mode on ephemeral ports (no routing mesh, so no port
  of the 30000-32767 range is taken over on the host) and read back from the task;
- placement spreads the services over the swarm's nodes (``node.id``); constraints come
  from ``SwarmOptions`` (``--constraint``, ``CLP_SWARM_CONSTRAINTS``).

Faults: links through Toxiproxy exactly as on Docker. ``kill``, ``pause`` and ``resume``
act on the task's container through the Docker API of the swarm node running it (on a
one-node swarm, the local engine; for other nodes, ``CLP_SWARM_ENGINES``). ``restart`` is a
service update (``--force``) pinned to the node that ran the task, the only way to get a
new task of a service whose restart policy is "none"; the pin keeps the node's volume.

Everything carries the project and run labels; ``stop`` removes the services first, then
(once their containers are gone) the network, the volumes, the configs and the secrets, and
finally gives the swarm back (``swarm_lease``).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.cluster import swarm_lease
from harness.cluster.base import Cluster, wait_until
from harness.cluster.docker import (
    OWNER_LABEL,
    PROJECT,
    PROJECT_LABEL,
    RUN_LABEL,
    Labelled,
    LogFollower,
    Progress,
    StreamFollower,
    docker_client,
    images_from_env,
    labels,
    new_run_id,
    owner_alive,
    settle,
    toxiproxy_command,
)
from harness.cluster.docker_layout import (
    API_PORT,
    CONTAINER_ROOT,
    DATA_DIR,
    NODE_ENTRYPOINT,
    TOXIPROXY_API_PORT,
    TOXIPROXY_HOST,
    node_command,
    proxy_specs,
    require_docker_layout,
)
from harness.cluster.swarm_lease import SwarmError
from harness.cluster.testnet import TestnetError, TestnetManifest
from harness.faults.toxiproxy_api import ToxiproxyApi

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container
    from docker.models.services import Service

    from harness.images import Images

START_TIMEOUT_S = 90.0
REMOVE_TIMEOUT_S = 60.0
NODE_UID = "10001"  # the images' user: the key is readable by it alone
FAILED_STATES = {"failed", "rejected", "orphaned", "remove", "shutdown", "complete"}
# Docker 20.10 remounts a container's tmpfs of secrets and configs read-only as it starts
# the container; with several starting at once that fails now and then with EBUSY.
ENGINE_RACE = ("starting container failed", "remount", "device or resource busy")
ENGINE_RACE_RETRIES = 3


@dataclass(frozen=True)
class SwarmOptions:
    """What a multi-host swarm needs beyond a one-node one; read from the environment by
    default (the CLI's ``--registry`` and ``--constraint`` set it)."""

    registry: str | None = None  # push the images here and run them from there
    constraints: tuple[str, ...] = ()  # placement constraints of every service
    engines: dict[str, str] = field(default_factory=dict)  # node hostname -> Docker API URL

    @classmethod
    def from_env(cls) -> SwarmOptions:
        constraints = os.environ.get("CLP_SWARM_CONSTRAINTS", "")
        engines = {}
        for item in os.environ.get("CLP_SWARM_ENGINES", "").split(","):
            host, sep, url = item.strip().partition("=")
            if sep and host and url:
                engines[host] = url
            elif item.strip():
                raise TestnetError(f"CLP_SWARM_ENGINES: want hostname=URL, got {item.strip()!r}")
        return cls(
            os.environ.get("CLP_SWARM_REGISTRY") or None,
            tuple(c.strip() for c in constraints.split(",") if c.strip()),
            engines,
        )


def registry_ref(registry: str, ref: str) -> str:
    """``clp-testnet/node:abc`` pushed to ``reg:5000`` is ``reg:5000/clp-testnet/node:abc``."""
    return f"{registry.rstrip('/')}/{ref}"


def push_images(client: docker.DockerClient, images: Images, registry: str) -> Images:
    """Tag and push both images to ``registry``; the refs every swarm node can pull."""
    from harness.images import Images

    pushed = []
    for ref in (images.node, images.toxiproxy):
        target = registry_ref(registry, ref)
        repo, _, tag = target.rpartition(":")
        client.images.get(ref).tag(repo, tag)
        for line in client.images.push(repo, tag, stream=True, decode=True):
            if "error" in line:
                raise TestnetError(f"pushing {target}: {line['error']}")
        pushed.append(target)
    return Images(pushed[0], pushed[1], images.toxiproxy_official)


def by_image_id(client: docker.DockerClient, images: Images) -> Images:
    """The local images by ID: a swarm task pulls an image named by tag before it runs it
    (and waits on the registry's timeout when there is none); by ID it never pulls."""
    from harness.images import Images

    return Images(
        str(client.images.get(images.node).id),
        str(client.images.get(images.toxiproxy).id),
        images.toxiproxy_official,
    )


def latest_task(service: Service) -> dict[str, Any] | None:
    tasks = service.tasks()
    return max(tasks, key=lambda t: t.get("CreatedAt", "")) if tasks else None


def task_port(task: dict[str, Any], port: int) -> int | None:
    for p in (task.get("Status", {}).get("PortStatus") or {}).get("Ports") or []:
        if p.get("TargetPort") == port and p.get("PublishedPort"):
            return int(p["PublishedPort"])
    return None


def task_container_id(task: dict[str, Any]) -> str | None:
    cid = (task.get("Status", {}).get("ContainerStatus") or {}).get("ContainerID")
    return str(cid) if cid else None


class SwarmBackend(Cluster):
    api_urls_known_before_start = False

    def __init__(
        self,
        manifest: TestnetManifest,
        log_dir: Path | None = None,
        images: Images | None = None,
        run_id: str | None = None,
        progress: Progress | None = None,
        options: SwarmOptions | None = None,
    ) -> None:
        require_docker_layout(manifest)
        self.options = options if options is not None else SwarmOptions.from_env()
        self.docker = docker_client()
        super().__init__(manifest)
        self.log_dir = log_dir or manifest.root / "logs"
        self.images = images
        self.run_id = run_id or new_run_id()
        self.progress = progress
        self.services: dict[str, Service] = {}
        self._api_urls: dict[str, str] = {}
        self._fault_api: ToxiproxyApi | None = None
        self._followers: list[StreamFollower] = []
        self._engines: dict[str, docker.DockerClient] = {}
        self._leased = False
        self._stopped = False
        self._started = False

    # ---- names -------------------------------------------------------------------------

    @property
    def network_name(self) -> str:
        return f"clp-{self.run_id}"

    def service_name(self, name: str) -> str:
        return f"clp-{self.run_id}-{name}"

    def volume_name(self, name: str) -> str:
        return f"clp-{self.run_id}-{name}-data"

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

    def _say(self, text: str) -> None:
        if self.progress is not None:
            self.progress(text)

    async def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._stopped = False
        self._started = True
        atexit.register(self.stop_sync)
        self._say("joining the engine's swarm (initialised here if it is inactive)")
        await asyncio.to_thread(swarm_lease.acquire, self.docker)
        self._leased = True
        if self.images is None:
            self.images = images_from_env()
        if self.images is None:
            from harness.images import ensure_images

            self._say("making sure the node and Toxiproxy images exist")
            self.images = await asyncio.to_thread(ensure_images, self.progress)
        if self.options.registry:
            self._say(f"pushing the images to {self.options.registry}")
            self.images = await asyncio.to_thread(
                push_images, self.docker, self.images, self.options.registry
            )
        else:
            self.images = await asyncio.to_thread(by_image_id, self.docker, self.images)
        await asyncio.to_thread(self._create_shared)
        if self.manifest.proxied:
            # The proxy first: a node's first dials then reach it, instead of backing off
            # while an overlay endpoint and the proxies come up (seconds on a busy host).
            await asyncio.to_thread(self._create_toxiproxy)
            await self._serve_toxiproxy()
        await settle([asyncio.to_thread(self._create_node, n) for n in self.names])
        await settle([self._serve_node(n) for n in self.names])
        await self.wait_for(self._all_healthy, START_TIMEOUT_S, "every node's /health")

    # ---- creation ----------------------------------------------------------------------

    def _create_shared(self) -> None:
        self._say(f"creating overlay network {self.network_name}")
        self.docker.networks.create(
            self.network_name,
            driver="overlay",
            attachable=True,
            labels=labels(self.run_id),
        )
        self._genesis = self.docker.configs.create(
            name=f"clp-{self.run_id}-genesis",
            data=(self.manifest.root / "genesis.json").read_bytes(),
            labels=labels(self.run_id),
        )

    def _service_kwargs(self, alias: str, publish: int) -> dict[str, Any]:
        from docker.types import EndpointSpec, NetworkAttachmentConfig, RestartPolicy

        return {
            "labels": labels(self.run_id),
            "container_labels": labels(self.run_id),
            "hostname": alias,
            "networks": [NetworkAttachmentConfig(self.network_name, aliases=[alias])],
            "restart_policy": RestartPolicy(condition="none"),
            # DNS round robin, not a virtual IP: one task per service, so a name resolves to
            # the task itself and a restarted task is reached at once, without IPVS state
            "endpoint_spec": EndpointSpec(
                mode="dnsrr",
                ports=[{"TargetPort": publish, "Protocol": "tcp", "PublishMode": "host"}],
            ),
            "constraints": list(self.options.constraints),
            "preferences": [("spread", "node.id")],
            "env": ["PYTHONUNBUFFERED=1"],
        }

    def _create_node(self, name: str) -> None:
        from docker.types import ConfigReference, Mount, SecretReference

        assert self.images is not None
        lab = labels(self.run_id)
        toml = self.docker.configs.create(
            name=f"clp-{self.run_id}-{name}-toml",
            data=self.manifest.config_path(name).read_bytes(),
            labels=lab,
        )
        key = self.docker.secrets.create(
            name=f"clp-{self.run_id}-{name}-key",
            data=(self.manifest.node_dir(name) / "key.json").read_bytes(),
            labels=lab,
        )
        self.services[name] = self.docker.services.create(
            self.images.node,
            name=self.service_name(name),
            command=NODE_ENTRYPOINT,
            args=node_command(name),
            mounts=[Mount(DATA_DIR, self.volume_name(name), type="volume", labels=lab)],
            configs=[
                ConfigReference(
                    self._genesis.id, self._genesis.name, f"{CONTAINER_ROOT}/genesis.json"
                ),
                ConfigReference(toml.id, toml.name, f"{CONTAINER_ROOT}/{name}/node.toml"),
            ],
            secrets=[
                SecretReference(
                    key.id,
                    key.name,
                    f"{CONTAINER_ROOT}/{name}/key.json",
                    uid=NODE_UID,
                    gid=NODE_UID,
                    mode=0o400,
                )
            ],
            stop_grace_period=10 * 10**9,
            **self._service_kwargs(name, API_PORT),
        )

    def _create_toxiproxy(self) -> None:
        assert self.images is not None
        entrypoint, command = toxiproxy_command(self.images)
        self.services[TOXIPROXY_HOST] = self.docker.services.create(
            self.images.toxiproxy,
            name=self.service_name(TOXIPROXY_HOST),
            command=entrypoint,
            args=command,
            **self._service_kwargs(TOXIPROXY_HOST, TOXIPROXY_API_PORT),
        )

    # ---- tasks -------------------------------------------------------------------------

    async def _running_task(self, name: str, log_name: str, after: str = "") -> dict[str, Any]:
        """The service's task created after ``after`` once it runs; its error if it failed.

        A task whose container the engine failed to set up in the known mount race
        (``ENGINE_RACE``) is replaced by a new one, up to ``ENGINE_RACE_RETRIES`` times.
        """
        service = self.services[name]
        retries = ENGINE_RACE_RETRIES

        def state() -> dict[str, Any] | None:
            nonlocal after, retries
            task = latest_task(service)
            if task is None or task.get("CreatedAt", "") <= after:
                return None
            status = task.get("Status", {})
            if status.get("State") == "running" and task_port(task, self._port_of(name)):
                return task
            if status.get("State") in FAILED_STATES:
                error = f"{status.get('Err') or status.get('Message')}"
                if retries > 0 and all(part in error for part in ENGINE_RACE):
                    retries -= 1
                    after = task.get("CreatedAt", "")
                    self._say(f"{service.name}: the engine failed to mount its files; new task")
                    self._force_new_task(service, None)
                    return None
                raise RuntimeError(
                    f"service {service.name}: task {status.get('State')}: {error}; "
                    f"log {self.log_path(log_name)}"
                )
            return None

        return await wait_until(
            lambda: asyncio.to_thread(state),
            START_TIMEOUT_S,
            f"a running task of {service.name}",
            interval=0.25,
        )

    def _force_new_task(self, service: Service, pin: str | None) -> None:
        """``docker service update --force`` (with ``pin`` as its only node.id constraint)."""
        service.reload()
        template = dict(service.attrs["Spec"]["TaskTemplate"])
        if pin is not None:
            placement = dict(template.get("Placement") or {})
            kept = [c for c in placement.get("Constraints") or [] if not c.startswith("node.id")]
            placement["Constraints"] = [*kept, pin]
            template["Placement"] = placement
        template["ForceUpdate"] = int(template.get("ForceUpdate", 0)) + 1
        self.docker.api.update_service(
            service.id, service.version, task_template=template, fetch_current_spec=True
        )

    def _port_of(self, name: str) -> int:
        return TOXIPROXY_API_PORT if name == TOXIPROXY_HOST else API_PORT

    def _task_url(self, task: dict[str, Any], port: int) -> str:
        node = self.docker.nodes.get(task["NodeID"])
        addr = node.attrs.get("Status", {}).get("Addr") or swarm_lease.ADVERTISE_ADDR
        if addr == "0.0.0.0":
            addr = swarm_lease.ADVERTISE_ADDR
        return f"http://{addr}:{task_port(task, port)}"

    def _follow(self, task: dict[str, Any], log_name: str) -> None:
        """Follow the task's container through its node's engine until the container stops
        (a service's own log stream outlives the service, so it cannot be joined)."""
        cid = task_container_id(task)
        assert cid is not None, "a running task has a container"
        follower = LogFollower(
            cid, self.log_dir / f"{log_name}.log", None, self.engine_url(task["NodeID"])
        )
        self._followers.append(follower.start())

    async def _serve_node(self, name: str, after: str = "") -> None:
        task = await self._running_task(name, name, after)
        await asyncio.to_thread(self._follow, task, name)
        self._api_urls[name] = await asyncio.to_thread(self._task_url, task, API_PORT)
        await self.open_client(name)

    async def _serve_toxiproxy(self) -> None:
        self._say("starting the Toxiproxy service")
        task = await self._running_task(TOXIPROXY_HOST, "toxiproxy")
        await asyncio.to_thread(self._follow, task, "toxiproxy")
        url = await asyncio.to_thread(self._task_url, task, TOXIPROXY_API_PORT)
        api = ToxiproxyApi(url)
        self._fault_api = api

        async def answers() -> bool:
            try:
                await asyncio.to_thread(api.version)
                return True
            except Exception:  # not listening yet: httpx errors, resets
                return False

        await self.wait_for(answers, 30.0, "the Toxiproxy API in its service")
        await asyncio.to_thread(api.populate, proxy_specs(self.manifest))

    async def _all_healthy(self) -> bool:
        heights = await self.heights()
        for name, h in heights.items():
            if h is None and not await asyncio.to_thread(self.is_running, name):
                raise RuntimeError(
                    f"service {self.service_name(name)} stopped; log {self.log_path(name)}"
                )
        return all(h is not None for h in heights.values())

    # ---- process faults ----------------------------------------------------------------

    def _service(self, name: str) -> Service:
        self.manifest.node(name)  # unknown names get the manifest's clear error
        s = self.services.get(name)
        if s is None:
            raise RuntimeError(f"{name} has no service (cluster not started)")
        return s

    def engine_url(self, node_id: str) -> str | None:
        """The Docker API of swarm node ``node_id``: None for the local engine, else the URL
        CLP_SWARM_ENGINES gives for the node's hostname."""
        if node_id == swarm_lease.swarm_info(self.docker).get("NodeID"):
            return None
        hostname = self.docker.nodes.get(node_id).attrs["Description"]["Hostname"]
        url = self.options.engines.get(hostname)
        if url is None:
            raise SwarmError(
                f"a task runs on swarm node {hostname}, whose Docker API is unknown: set "
                f"CLP_SWARM_ENGINES={hostname}=tcp://ADDRESS:2376 (see docs/swarm.md)"
            )
        return url

    def engine(self, node_id: str) -> docker.DockerClient:
        """A client of swarm node ``node_id``'s engine (kill, pause and logs act there)."""
        url = self.engine_url(node_id)
        if url is None:
            return self.docker
        if node_id not in self._engines:
            import docker

            self._engines[node_id] = docker.DockerClient(base_url=url)
        return self._engines[node_id]

    def _container(self, name: str) -> Container | None:
        """The container of the service's current task (None: no task runs)."""
        from docker.errors import NotFound

        task = latest_task(self._service(name))
        if task is None or task.get("Status", {}).get("State") != "running":
            return None
        cid = task_container_id(task)
        if cid is None:
            return None
        try:
            return self.engine(task["NodeID"]).containers.get(cid)
        except NotFound:
            return None

    def is_running(self, name: str) -> bool:
        c = self._container(name)
        return c is not None and c.status in ("running", "paused")

    async def kill(self, name: str) -> None:
        c = await asyncio.to_thread(self._container, name)
        if c is None or c.status not in ("running", "paused"):
            return
        await asyncio.to_thread(c.kill)  # SIGKILL, also of a paused container
        await asyncio.to_thread(c.wait, timeout=30)

    async def pause(self, name: str) -> None:
        c = await asyncio.to_thread(self._container, name)
        if c is not None and c.status == "running":
            await asyncio.to_thread(c.pause)

    async def resume(self, name: str) -> None:
        c = await asyncio.to_thread(self._container, name)
        if c is not None and c.status == "paused":
            await asyncio.to_thread(c.unpause)

    async def restart(self, name: str) -> None:
        """A new task of the service on the node of the last one, so it finds its volume."""
        await self.kill(name)
        service = self._service(name)
        last = await asyncio.to_thread(latest_task, service)
        assert last is not None, f"{name} never had a task"
        pin = f"node.id=={last['NodeID']}"

        await asyncio.to_thread(self._force_new_task, service, pin)
        await self._serve_node(name, after=last.get("CreatedAt", ""))

        async def healthy() -> bool:
            if (await self.heights([name]))[name] is not None:
                return True
            if not await asyncio.to_thread(self.is_running, name):
                raise RuntimeError(f"{name} stopped again after restart; log {self.log_path(name)}")
            return False

        await self.wait_for(healthy, START_TIMEOUT_S, f"{name} to answer after restart")

    # ---- teardown ----------------------------------------------------------------------

    async def stop(self) -> None:
        if self._stopped:
            return
        await asyncio.to_thread(self.stop_sync)
        await self.close_clients()
        self.docker.close()

    def stop_sync(self) -> None:
        """Remove everything of this run (by label), then give the swarm back."""
        if self._stopped or not self._started:
            return
        self._stopped = True
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop_sync)
        if self._fault_api is not None:
            self._fault_api.close()
        try:
            remove_run(self.docker, self.run_id)
        finally:
            for f in self._followers:
                f.join(5.0)
            self._followers.clear()
            for engine in self._engines.values():
                engine.close()
            if self._leased:
                self._leased = False
                swarm_lease.release(self.docker)


@dataclass
class SwarmLabelled:
    """The project's swarm-scoped objects (or one run's): services, configs, secrets."""

    services: list[Any]
    configs: list[Any]
    secrets: list[Any]

    @classmethod
    def find(cls, client: docker.DockerClient, run_id: str | None = None) -> SwarmLabelled:
        if not swarm_lease.is_active(client):
            return cls([], [], [])
        flt = {"label": [f"{RUN_LABEL}={run_id}" if run_id else f"{PROJECT_LABEL}={PROJECT}"]}
        return cls(
            client.services.list(filters=flt),
            client.configs.list(filters=flt),
            client.secrets.list(filters=flt),
        )

    @property
    def all(self) -> list[Any]:
        return [*self.services, *self.configs, *self.secrets]

    def names(self) -> list[str]:
        return [o.name for o in self.all]

    def runs(self) -> dict[str, str]:
        """run id -> owner."""
        out: dict[str, str] = {}
        for obj in self.all:
            lab = obj.attrs.get("Spec", {}).get("Labels") or {}
            out.setdefault(lab.get(RUN_LABEL, ""), lab.get(OWNER_LABEL, ""))
        return out

    def without_runs(self, runs: set[str]) -> SwarmLabelled:
        def keep(obj: Any) -> bool:
            return (obj.attrs.get("Spec", {}).get("Labels") or {}).get(RUN_LABEL) not in runs

        return SwarmLabelled(
            [s for s in self.services if keep(s)],
            [c for c in self.configs if keep(c)],
            [s for s in self.secrets if keep(s)],
        )


def remove_swarm_objects(client: docker.DockerClient, found: SwarmLabelled) -> list[str]:
    """Services first; once their containers are gone, the containers' leftovers, the
    networks and volumes (``Labelled``), then configs and secrets. Returns removed names."""
    from docker.errors import APIError, NotFound

    removed: list[str] = []
    runs = set(found.runs())
    for s in found.services:
        with contextlib.suppress(NotFound):
            s.remove()
            removed.append(s.name)

    def containers() -> list[str]:
        # the low-level listing: no inspect per container, which races their removal
        listed = client.api.containers(all=True, filters={"label": f"{PROJECT_LABEL}={PROJECT}"})
        return [c["Id"] for c in listed if (c.get("Labels") or {}).get(RUN_LABEL) in runs]

    def containers_gone() -> bool:
        return not containers()

    # The swarm would stop each task with SIGTERM and a grace period; the run is over, so
    # its local containers go at once, as the Docker backend's do.
    for cid in containers() if found.services else []:
        with contextlib.suppress(NotFound, APIError):
            client.api.remove_container(cid, force=True, v=True)
    deadline = time.monotonic() + REMOVE_TIMEOUT_S
    while found.services and not containers_gone() and time.monotonic() < deadline:
        time.sleep(0.2)
    for obj in [*found.configs, *found.secrets]:
        with contextlib.suppress(NotFound, APIError):
            obj.remove()
            removed.append(obj.name)
    return removed


def remove_run(client: docker.DockerClient, run_id: str) -> None:
    """Remove every object of one run: swarm-scoped ones, then containers, networks, volumes.

    An overlay network keeps its endpoints a moment after the last container left: its
    removal is retried until it succeeds or the time is up.
    """
    from docker.errors import APIError

    remove_swarm_objects(client, SwarmLabelled.find(client, run_id))
    deadline = time.monotonic() + REMOVE_TIMEOUT_S
    while True:
        try:
            Labelled.find(client, run_id).remove()
            return
        except APIError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.5)


def remove_swarm_leftovers(
    client: docker.DockerClient, run_id: str | None = None, force: bool = False
) -> tuple[list[str], dict[str, str]]:
    """The swarm objects of crashed runs (``clp-testnet down``); live owners' runs are kept."""
    found = SwarmLabelled.find(client, run_id)
    kept = {
        rid: owner
        for rid, owner in found.runs().items()
        if not force and owner and owner_alive(owner)
    }
    return remove_swarm_objects(client, found.without_runs(set(kept))), kept
