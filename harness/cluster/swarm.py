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

Images: each validator's service runs its kind's node image (a mixed testnet), named by
local image ID on one host, or (``--registry``) pushed with every other image the run may
start (``run_images``: both kinds' node images when the testnet names its nodes' kinds)
and named by the registry's tag.

Faults: links through Toxiproxy exactly as on Docker. ``kill``, ``pause`` and ``resume``
act on the task's container through the Docker API of the swarm node running it (on a
one-node swarm, the local engine; for other nodes, ``CLP_SWARM_ENGINES``). ``restart`` is a
service update (``--force``) pinned to the node that ran the task, the only way to get a
new task of a service whose restart policy is "none"; the pin keeps the node's volume.
``upgrade`` is the same update to the other kind's image, with a new (empty) volume at
``/data`` when the store changes kind; the configs and the key secret stay.

Everything carries the project and run labels; ``stop`` removes the services first, then
(once their containers are gone) the network, the volumes, the configs and the secrets, and
finally gives the swarm back (``swarm_lease``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from harness.cluster import docker_layout as layout
from harness.cluster import swarm_lease
from harness.cluster.base import wait_until
from harness.cluster.containers import ContainerCluster, settle, toxiproxy_command
from harness.cluster.engine import (
    PROJECT,
    PROJECT_LABEL,
    RUN_LABEL,
    Labelled,
    ObjectSet,
    label_filter,
    labels,
)
from harness.cluster.swarm_lease import SwarmError
from harness.cluster.testnet import TestnetError

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
    # The Docker API of a swarm manager when the harness's own engine is not one: the
    # images are still built (and pushed) by the local engine, the services made there.
    manager: str | None = None

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
            os.environ.get("CLP_SWARM_MANAGER") or None,
        )


def registry_ref(registry: str, ref: str) -> str:
    """``clp-testnet/node:abc`` pushed to ``reg:5000`` is ``reg:5000/clp-testnet/node:abc``."""
    return f"{registry.rstrip('/')}/{ref}"


def run_images(images: Images, kind_images: Iterable[str] = ()) -> list[str]:
    """Every local image a run may start, each once: its node and Toxiproxy images, then
    the node image of each kind resolved for it (``ContainerCluster._resolve_mix``: both
    kinds' when the testnet names its nodes' kinds, as a mixed one or one that may be
    upgraded does)."""
    return list(dict.fromkeys([images.node, images.toxiproxy, *kind_images]))


def push_image(client: docker.DockerClient, ref: str, registry: str) -> str:
    """Tag and push ``ref`` to ``registry``; the ref every swarm node can pull. The
    registry's tag is removed from the local engine again: the image lives on there under
    its own name, and the registry is the only place that gained something."""
    from docker.errors import APIError, NotFound

    target = registry_ref(registry, ref)
    repo, _, tag = target.rpartition(":")
    client.images.get(ref).tag(repo, tag)
    try:
        for line in client.images.push(repo, tag, stream=True, decode=True):
            if "error" in line:
                raise TestnetError(f"pushing {target}: {line['error']}")
    finally:
        with contextlib.suppress(NotFound, APIError):
            client.images.remove(target, noprune=True)
    return target


def swarm_ref(client: docker.DockerClient, ref: str, registry: str | None) -> str:
    """What a service names the local image ``ref`` by: the tag pushed to ``registry``;
    with none, the image's ID (a swarm task pulls an image named by tag before it runs it,
    and waits on the registry's timeout when there is none; by ID it never pulls)."""
    from docker.errors import ImageNotFound

    try:
        return push_image(client, ref, registry) if registry else str(client.images.get(ref).id)
    except ImageNotFound as exc:
        raise TestnetError(f"image {ref} is not in the local engine: {exc}") from exc


def placement_line(placed: dict[str, list[str]]) -> str:
    """``placement: 5 validators on 3 engines: engine-a v0 v3, engine-b v1 v4, ...``
    from swarm node hostname -> the validators whose task runs there."""
    count = sum(len(names) for names in placed.values())
    parts = ", ".join(f"{host} {' '.join(names)}" for host, names in sorted(placed.items()))
    return f"placement: {count} validators on {len(placed)} engines: {parts}"


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


def new_task_template(
    template: Mapping[str, Any],
    pin: str | None = None,
    image: str | None = None,
    volume: str | None = None,
) -> dict[str, Any]:
    """The task template of ``docker service update --force`` (a new task even when
    nothing else changed): with ``pin`` as its only ``node.id`` constraint, the container
    of ``image``, the volume ``volume`` at the node's data directory (None: as they were)."""
    t = dict(template)
    if pin is not None:
        placement = dict(t.get("Placement") or {})
        kept = [c for c in placement.get("Constraints") or [] if not c.startswith("node.id")]
        placement["Constraints"] = [*kept, pin]
        t["Placement"] = placement
    spec = dict(t.get("ContainerSpec") or {})
    if image is not None:
        spec["Image"] = image
    if volume is not None:
        spec["Mounts"] = [
            {**m, "Source": volume} if m.get("Target") == layout.DATA_DIR else m
            for m in spec.get("Mounts") or []
        ]
    t["ContainerSpec"] = spec
    t["ForceUpdate"] = int(t.get("ForceUpdate", 0)) + 1
    return t


class SwarmBackend(ContainerCluster["Service"]):
    """Services of one task each; a node's container is its current task's, on the engine
    of the swarm node running it; a restart is a new task pinned to the last one's node,
    an upgrade the same with another image (and, when the store changes kind, a new
    volume)."""

    unit = "service"
    start_timeout_s = START_TIMEOUT_S
    mixed_nodes = True

    _leased = False  # whether this run holds a lease of the engine's swarm mode

    @cached_property
    def options(self) -> SwarmOptions:
        """From the environment unless set before ``start``."""
        return SwarmOptions.from_env()

    @cached_property
    def _refs(self) -> dict[str, str]:
        """Local image ref -> what the services name it by (``swarm_ref``), once each."""
        return {}

    @cached_property
    def _stores(self) -> dict[str, int]:
        """Node name -> how many times an upgrade gave it a new, empty volume."""
        return {}

    @cached_property
    def _engines(self) -> dict[str, docker.DockerClient]:
        """Clients of other swarm nodes' engines, by node ID."""
        return {}

    @cached_property
    def swarm(self) -> docker.DockerClient:
        """The manager the services, configs and secrets are made through: the local
        engine, or the one ``SwarmOptions.manager`` names."""
        if self.options.manager is None:
            return self.docker
        import docker

        return docker.DockerClient(base_url=self.options.manager)

    def _join(self) -> None:
        """Borrow the local engine's swarm mode; a remote manager's swarm is used as it is."""
        if self.options.manager is None:
            swarm_lease.acquire(self.docker)
            self._leased = True
            return
        if not self.options.registry:
            raise SwarmError(
                "CLP_SWARM_MANAGER: the swarm's nodes cannot see this engine's images; "
                "give them a registry (--registry HOST:PORT)"
            )
        info = swarm_lease.swarm_info(self.swarm)
        if info.get("LocalNodeState") != "active" or not info.get("ControlAvailable"):
            raise SwarmError(f"CLP_SWARM_MANAGER={self.options.manager} is no swarm manager")

    @property
    def services(self) -> dict[str, Service]:
        return self.units

    async def _launch(self) -> None:
        assert self.images is not None
        self._say("joining the engine's swarm (initialised here if it is inactive)")
        await asyncio.to_thread(self._join)
        if self.options.registry:
            count = len(run_images(self.images, self._kind_images.values()))
            self._say(f"pushing {count} images to {self.options.registry}")
        await asyncio.to_thread(self._publish_images)
        await asyncio.to_thread(self._create_shared)
        if self.manifest.proxied:
            # The proxy first: a node's first dials then reach it, instead of backing off
            # while an overlay endpoint and the proxies come up (seconds on a busy host).
            await asyncio.to_thread(self._create_toxiproxy)
            self._say("starting the Toxiproxy service")
            await self._serve_toxiproxy(await self._serve_task(layout.TOXIPROXY_HOST))
        await settle([asyncio.to_thread(self._create_node, n) for n in self.names])
        await settle([self._serve_node(n) for n in self.names])
        placed = await asyncio.to_thread(self.placement)
        if len(placed) > 1:
            line = placement_line(placed)
            self._say(line)
            if self.progress is None:
                print(line, file=sys.stderr, flush=True)

    # ---- images ------------------------------------------------------------------------

    def _swarm_ref(self, ref: str) -> str:
        """The ref a service names the local image ``ref`` by (pushed once, when pushed)."""
        if ref not in self._refs:
            self._refs[ref] = swarm_ref(self.docker, ref, self.options.registry)
        return self._refs[ref]

    def _publish_images(self) -> None:
        """Every image the run may start (``run_images``) as the services name it; the
        run's images and each node's from now on by those names."""
        from harness.images import Images

        assert self.images is not None
        for ref in run_images(self.images, self._kind_images.values()):
            self._swarm_ref(ref)
        self.images = Images(
            self._refs[self.images.node],
            self._refs[self.images.toxiproxy],
            self.images.toxiproxy_official,
        )
        self.node_images = {n: self._refs[ref] for n, ref in self.node_images.items()}

    def volume_name(self, name: str) -> str:
        """The node's volume; an upgrade to another kind gives it a new one (``-2``, ...)."""
        base = super().volume_name(name)
        stores = self._stores.get(name, 0)
        return f"{base}-{stores + 1}" if stores else base

    # ---- creation ----------------------------------------------------------------------

    def _create_shared(self) -> None:
        self._say(f"creating overlay network {self.network_name}")
        self.swarm.networks.create(
            self.network_name,
            driver="overlay",
            attachable=True,
            labels=labels(self.run_id),
        )
        self._genesis = self.swarm.configs.create(
            name=f"clp-{self.run_id}-genesis",
            data=(self.manifest.root / "genesis.json").read_bytes(),
            labels=labels(self.run_id),
        )

    def _service_kwargs(self, alias: str, publish: int) -> dict[str, Any]:
        from docker.types import EndpointSpec, NetworkAttachmentConfig, RestartPolicy

        return {
            "name": self.object_name(alias),
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
        lab = labels(self.run_id)
        toml = self.swarm.configs.create(
            name=f"clp-{self.run_id}-{name}-toml",
            data=self.manifest.config_path(name).read_bytes(),
            labels=lab,
        )
        key = self.swarm.secrets.create(
            name=f"clp-{self.run_id}-{name}-key",
            data=(self.manifest.node_dir(name) / "key.json").read_bytes(),
            labels=lab,
        )
        self.units[name] = self.swarm.services.create(**self._node_service(name, toml, key))

    def _node_service(self, name: str, toml: Any, key: Any) -> dict[str, Any]:
        """The ``services.create`` arguments of node ``name``: its image (its kind's), its
        volume at the data directory, its ``node.toml`` (the config ``toml``) and the
        genesis as configs, its key as the secret ``key``."""
        from docker.types import ConfigReference, Mount, SecretReference

        return {
            "image": self.node_image(name),
            "command": layout.NODE_ENTRYPOINT,
            "args": layout.node_command(name),
            "mounts": [
                Mount(
                    layout.DATA_DIR,
                    self.volume_name(name),
                    type="volume",
                    labels=labels(self.run_id),
                )
            ],
            "configs": [
                ConfigReference(
                    self._genesis.id, self._genesis.name, f"{layout.CONTAINER_ROOT}/genesis.json"
                ),
                ConfigReference(toml.id, toml.name, f"{layout.CONTAINER_ROOT}/{name}/node.toml"),
            ],
            "secrets": [
                SecretReference(
                    key.id,
                    key.name,
                    f"{layout.CONTAINER_ROOT}/{name}/key.json",
                    uid=NODE_UID,
                    gid=NODE_UID,
                    mode=0o400,
                )
            ],
            "stop_grace_period": 10 * 10**9,
            "cap_add": ["NET_ADMIN"],  # packet loss acts on the node's interface (node_exec)
            **self._service_kwargs(name, layout.API_PORT),
        }

    def _create_toxiproxy(self) -> None:
        assert self.images is not None
        entrypoint, command = toxiproxy_command(self.images)
        self.units[layout.TOXIPROXY_HOST] = self.swarm.services.create(
            self.images.toxiproxy,
            command=entrypoint,
            args=command,
            **self._service_kwargs(layout.TOXIPROXY_HOST, layout.TOXIPROXY_API_PORT),
        )

    # ---- tasks -------------------------------------------------------------------------

    async def _running_task(self, name: str, after: str = "") -> dict[str, Any]:
        """The service's task created after ``after`` once it runs; its error if it failed.

        A task whose container the engine failed to set up in the known mount race
        (``ENGINE_RACE``) is replaced by a new one, up to ``ENGINE_RACE_RETRIES`` times.
        """
        service = self.unit_of(name)
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
                    f"log {self.log_path(name)}"
                )
            return None

        return await wait_until(
            lambda: asyncio.to_thread(state),
            self.start_timeout_s,
            f"a running task of {service.name}",
            interval=0.25,
        )

    def _force_new_task(self, service: Service, pin: str | None, **change: str) -> None:
        """``docker service update --force`` (``new_task_template``: ``pin``, and the
        ``image`` and ``volume`` of ``change``)."""
        service.reload()
        template = new_task_template(service.attrs["Spec"]["TaskTemplate"], pin, **change)
        self.swarm.api.update_service(
            service.id, service.version, task_template=template, fetch_current_spec=True
        )

    def _port_of(self, name: str) -> int:
        return layout.TOXIPROXY_API_PORT if name == layout.TOXIPROXY_HOST else layout.API_PORT

    def _task_url(self, task: dict[str, Any], port: int) -> str:
        node = self.swarm.nodes.get(task["NodeID"])
        addr = node.attrs.get("Status", {}).get("Addr") or swarm_lease.ADVERTISE_ADDR
        if addr == "0.0.0.0":
            addr = swarm_lease.ADVERTISE_ADDR
        return f"http://{addr}:{task_port(task, port)}"

    async def _serve_task(self, name: str, after: str = "") -> str:
        """Wait for the running task of ``name`` (created after ``after``), follow its
        container through its node's engine until the container stops (a service's own log
        stream outlives the service, so it cannot be joined); the URL of its port."""
        task = await self._running_task(name, after)
        cid = task_container_id(task)
        assert cid is not None, "a running task has a container"
        engine = await asyncio.to_thread(self.engine_url, task["NodeID"])
        self._follow(cid, name, None, engine)
        return await asyncio.to_thread(self._task_url, task, self._port_of(name))

    async def _serve_node(self, name: str, after: str = "") -> None:
        await self._serve(name, await self._serve_task(name, after))

    async def _start_again(self, name: str) -> None:
        """A new task of the service on the node of the last one, so it finds its volume;
        of the node's image and volume as they are now (an upgrade changed them)."""
        service = self.unit_of(name)
        last = await asyncio.to_thread(latest_task, service)
        assert last is not None, f"{name} never had a task"
        pin = f"node.id=={last['NodeID']}"
        change = {"image": self.node_image(name), "volume": self.volume_name(name)}
        await asyncio.to_thread(self._force_new_task, service, pin, **change)
        await self._serve_node(name, after=last.get("CreatedAt", ""))

    async def upgrade(
        self,
        name: str,
        kind: str,
        keep_data: bool,
        command: str | None = None,
        image: str | None = None,
    ) -> None:
        """The service updated to kind ``kind``'s image (or ``image``), started like a
        restart; on a new, empty volume unless ``keep_data``. Its configs and key stay."""
        local = image if image else await asyncio.to_thread(self.kind_image, kind)
        new_image = await asyncio.to_thread(self._swarm_ref, local)
        await self.kill(name)
        self.node_images[name] = new_image
        if not keep_data:
            self._stores[name] = self._stores.get(name, 0) + 1
        await self.restart(name)

    # ---- the engines of the swarm's nodes ----------------------------------------------

    def engine_url(self, node_id: str) -> str | None:
        """The Docker API of swarm node ``node_id``: None for the local engine, the
        manager's for the manager, else the URL CLP_SWARM_ENGINES gives for the node's
        hostname."""
        if node_id == swarm_lease.swarm_info(self.swarm).get("NodeID"):
            return self.options.manager
        hostname = self.swarm.nodes.get(node_id).attrs["Description"]["Hostname"]
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

    def placement(self) -> dict[str, list[str]]:
        """Swarm node hostname -> the validators whose current task runs there."""
        placed: dict[str, list[str]] = {}
        hostnames: dict[str, str] = {}
        for name in self.names:
            task = latest_task(self.unit_of(name))
            if task is None or "NodeID" not in task:
                continue
            node_id = task["NodeID"]
            if node_id not in hostnames:
                node = self.swarm.nodes.get(node_id)
                hostnames[node_id] = str(node.attrs["Description"]["Hostname"])
            placed.setdefault(hostnames[node_id], []).append(name)
        return placed

    async def node_exec(self, name: str, command: list[str]) -> tuple[int, str]:
        """Run ``command`` as root in the node's task container, through the engine of the
        swarm node running it: (exit code, output). Root there holds NET_ADMIN."""
        c = await asyncio.to_thread(self._node_container, name)
        if c is None:
            raise RuntimeError(f"{name} has no running task")
        code, out = await asyncio.to_thread(c.exec_run, command, user="0")
        return int(code), out.decode(errors="replace") if isinstance(out, bytes) else str(out)

    def _live_container(self, name: str) -> Container | None:
        """The container of the service's current task (None: no task runs)."""
        from docker.errors import NotFound

        task = latest_task(self.unit_of(name))
        if task is None or task.get("Status", {}).get("State") != "running":
            return None
        cid = task_container_id(task)
        if cid is None:
            return None
        try:
            return self.engine(task["NodeID"]).containers.get(cid)
        except NotFound:
            return None

    # ---- teardown ----------------------------------------------------------------------

    def _remove(self) -> None:
        """Remove everything of this run (by label), then give the swarm back."""
        try:
            remove_run(self.swarm, self.run_id)
            remote = set(self.options.engines.values()) - {self.options.manager}
            for url in sorted(remote):
                remove_on_engine(url, self.run_id)
        finally:
            for engine in self._engines.values():
                engine.close()
            if self.swarm is not self.docker:
                self.swarm.close()
            if self._leased:
                self._leased = False
                swarm_lease.release(self.docker)


@dataclass
class SwarmLabelled(ObjectSet):
    """The project's swarm-scoped objects (or one run's): services, configs, secrets."""

    services: list[Any]
    configs: list[Any]
    secrets: list[Any]

    @classmethod
    def find(cls, client: docker.DockerClient, run_id: str | None = None) -> SwarmLabelled:
        if not swarm_lease.is_active(client):
            return cls([], [], [])
        flt = label_filter(run_id)
        return cls(
            client.services.list(filters=flt),
            client.configs.list(filters=flt),
            client.secrets.list(filters=flt),
        )

    def names(self) -> list[str]:
        return [o.name for o in self.all]


def remove_swarm_objects(client: docker.DockerClient, found: SwarmLabelled) -> list[str]:
    """Services first; once their containers are gone, the containers' leftovers, the
    networks and volumes (``Labelled``), then configs and secrets. Returns removed names."""
    from docker.errors import APIError, NotFound

    removed: list[str] = []
    runs = set(found.owners())
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


def remove_on_engine(url: str, run_id: str) -> None:
    """A run's containers and volumes on the engine of another swarm node (``url``): the
    swarm stops the tasks there, the volumes are that engine's alone. The engine's copy of
    the run's overlay network goes by itself once the manager removed it: waited for, so
    the engine is as it was when the run ends."""
    import docker
    from docker.errors import APIError, DockerException

    client = docker.DockerClient(base_url=url)
    try:
        deadline = time.monotonic() + REMOVE_TIMEOUT_S
        while True:
            try:
                found = Labelled.find(client, run_id)
                Labelled(found.containers, [], found.volumes).remove()
                if not found.networks or time.monotonic() >= deadline:
                    return
            except APIError:
                if time.monotonic() >= deadline:
                    raise
            time.sleep(0.5)
    except DockerException as exc:
        raise SwarmError(f"removing run {run_id} from the engine at {url}: {exc}") from exc
    finally:
        client.close()


def remove_swarm_leftovers(
    client: docker.DockerClient, run_id: str | None = None, force: bool = False
) -> tuple[list[str], dict[str, str]]:
    """The swarm objects of crashed runs (``clp-testnet down``); live owners' runs are kept."""
    found = SwarmLabelled.find(client, run_id)
    kept = found.live_runs(force)
    return remove_swarm_objects(client, found.without_runs(set(kept))), kept
