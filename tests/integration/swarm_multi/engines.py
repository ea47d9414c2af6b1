"""A swarm of several Docker engines on one machine, and a registry, for the swarm tests.

Each engine is a Docker daemon in a container of the host engine (its own image store and
network namespace, like a separate host), all on a bridge network made here; the first is
the swarm manager, the others join it. A Docker registry (Debian's ``docker-registry``)
runs in a container on the same network. Nothing but the project's containers and
127.0.0.1 take part: each engine's API and the registry are published on 127.0.0.1 only.

- The image is the debootstrap Debian base with ``docker.io``, ``docker-registry`` and
  ``socat`` (``ENGINE_RECIPE``), made here with no registry.
- The nested daemons run with the settings this host allows (``privileged`` and ``cap-add
  ALL`` are refused): SYS_ADMIN, NET_ADMIN and MKNOD, no seccomp or AppArmor profile, the
  host's cgroup tree, ``/var/lib/docker`` on a volume (exec allowed), the ``overlay2``
  storage driver (``vfs`` with CLP_TEST_ENGINE_STORAGE=vfs) and a cgroup parent of their
  own.
- The registry's address is ``127.0.0.1:PORT`` everywhere: the host engine pushes to its
  published port, and in each engine container ``socat`` forwards the same address to the
  registry container; so one image reference works on every engine (Docker treats
  registries on 127.0.0.0/8 as insecure, i.e. plain HTTP, by default).

``TestSwarm.env`` is what the harness needs (``CLP_SWARM_MANAGER``, ``CLP_SWARM_ENGINES``,
``CLP_SWARM_REGISTRY``). Only the tests need this: a real multi-host swarm has its hosts.

    python tests/integration/swarm/engines.py [--engines 3] -- COMMAND ...

runs COMMAND (``{registry}`` in it replaced by the registry's address) with that
environment, and removes everything on exit, also on Ctrl-C and SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import string
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import docker
from docker.errors import APIError, DockerException, NotFound

from harness.cluster.engine import Labelled, labels, new_run_id
from harness.images import debian

ENGINE_RECIPE = debian.BaseRecipe(
    include=(*debian.INCLUDE, "docker.io", "docker-registry", "socat")
)
# overlay2 on the engine's volume (the host's ext4) works here and unpacks an image once;
# vfs, which works on any file system, copies every layer whole (minutes per engine)
STORAGE_DRIVER = os.environ.get("CLP_TEST_ENGINE_STORAGE", "overlay2")
ENGINE_PORT = 2375  # the nested daemon's API, plain TCP: published on 127.0.0.1 only
REGISTRY_PORT = 5000
START_TIMEOUT_S = 120.0
CGROUP_ROOT = Path("/sys/fs/cgroup")
# The Debian package's own config asks for htpasswd; the test registry needs none.
REGISTRY_CONFIG = (
    "version: 0.1\n"
    "storage:\n  filesystem:\n    rootdirectory: /var/lib/docker-registry\n"
    "  delete:\n    enabled: true\n"
    "http:\n  addr: :5000\n"
)

Say = Callable[[str], None]


def engine_names(count: int) -> list[str]:
    """``engine-a``, ``engine-b``, ...: the containers' hostnames, so the swarm's node names."""
    if not 1 <= count <= 26:
        raise ValueError(f"1 to 26 engines, not {count}")
    return [f"engine-{letter}" for letter in string.ascii_lowercase[:count]]


def engine_command(cgroup_parent: str, registry: str, registry_port: int) -> list[str]:
    """The engine container's command: the forwarder of 127.0.0.1:``registry_port`` to the
    ``registry`` container, then dockerd."""
    forward = (
        f"socat TCP-LISTEN:{registry_port},bind=127.0.0.1,fork,reuseaddr "
        f"TCP:{registry}:{REGISTRY_PORT}"
    )
    dockerd = (
        f"dockerd -H tcp://0.0.0.0:{ENGINE_PORT} -H unix:///var/run/docker.sock --tls=false "
        f"--storage-driver={STORAGE_DRIVER} --cgroup-parent={cgroup_parent} "
        f"--insecure-registry=127.0.0.1:{registry_port}"
    )
    return ["sh", "-c", f"{forward} & exec {dockerd}"]


def cgroup_leftovers(prefix: str, root: Path = CGROUP_ROOT) -> list[Path]:
    """Cgroup folders of the host named ``prefix...`` (a nested daemon's cgroup parent),
    deepest first, so they can be removed in this order."""
    found = [*root.glob(f"{prefix}*"), *root.glob(f"*/{prefix}*")]
    nested = [p for top in found if top.is_dir() for p in top.rglob("*") if p.is_dir()]
    return sorted({*found, *nested}, key=lambda p: len(p.parts), reverse=True)


@dataclass
class Engine:
    name: str
    api_url: str  # tcp://127.0.0.1:PORT
    address: str  # on the network of the test swarm

    def client(self) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.api_url, timeout=60)


@dataclass
class TestSwarm:
    """Engines in containers joined in one swarm (the first manages it) and a registry."""

    __test__ = False  # not a pytest class

    count: int = 3
    say: Say = field(default=lambda _: None)
    run_id: str = field(default_factory=lambda: f"engines-{new_run_id()}")
    engines: list[Engine] = field(default_factory=list)
    registry: str = ""  # 127.0.0.1:PORT

    def __post_init__(self) -> None:
        self.host = docker.from_env(timeout=120)

    @property
    def prefix(self) -> str:
        return f"clp-{self.run_id}"

    @property
    def manager(self) -> Engine:
        return self.engines[0]

    @property
    def env(self) -> dict[str, str]:
        return {
            "CLP_SWARM_MANAGER": self.manager.api_url,
            "CLP_SWARM_ENGINES": ",".join(f"{e.name}={e.api_url}" for e in self.engines),
            "CLP_SWARM_REGISTRY": self.registry,
        }

    # ---- start -------------------------------------------------------------------------

    def start(self) -> TestSwarm:
        """The network, the registry, the engines, the swarm; ``stop`` removes a half-made
        one as well."""
        started = time.monotonic()
        image = self._image()
        lab = labels(self.run_id)
        self.say(f"network {self.prefix}, registry and {self.count} engines from {image}")
        self.host.networks.create(self.prefix, driver="bridge", labels=lab)
        registry = self.host.containers.run(
            image,
            [
                "sh",
                "-c",
                f"printf '{REGISTRY_CONFIG}' > /tmp/r.yml && exec docker-registry serve /tmp/r.yml",
            ],
            name=f"{self.prefix}-registry",
            detach=True,
            labels=lab,
            network=self.prefix,
            ports={f"{REGISTRY_PORT}/tcp": ("127.0.0.1", None)},
            tmpfs={"/var/lib/docker-registry": "exec"},
        )
        self.registry = f"127.0.0.1:{self._published(registry, REGISTRY_PORT)}"
        port = int(self.registry.rsplit(":", 1)[1])
        for name in engine_names(self.count):
            self.engines.append(self._engine(image, name, port, lab))
        self._form_swarm()
        self.say(f"{self.count} engines in one swarm in {time.monotonic() - started:.0f} s")
        return self

    def _image(self) -> str:
        with contextlib.suppress(NotFound):
            self.host.images.get(ENGINE_RECIPE.tag)
            return ENGINE_RECIPE.tag
        from harness.cache import cache_dir

        self.say(f"building {ENGINE_RECIPE.tag} with debootstrap")
        return debian.build_base(ENGINE_RECIPE, cache_dir(), lambda _: None)

    def _published(self, container: Any, port: int) -> int:
        deadline = time.monotonic() + 30
        while True:
            container.reload()
            bound = (container.attrs["NetworkSettings"]["Ports"] or {}).get(f"{port}/tcp")
            if bound:
                return int(bound[0]["HostPort"])
            if container.status not in ("created", "running") or time.monotonic() > deadline:
                raise RuntimeError(f"{container.name}: port {port} not published")
            time.sleep(0.2)

    def _engine(self, image: str, name: str, registry_port: int, lab: dict[str, str]) -> Engine:
        volume = self.host.volumes.create(f"{self.prefix}-{name}-docker", labels=lab)
        c = self.host.containers.run(
            image,
            engine_command(f"{self.prefix}-{name}", f"{self.prefix}-registry", registry_port),
            name=f"{self.prefix}-{name}",
            hostname=name,
            detach=True,
            init=True,
            labels=lab,
            network=self.prefix,
            cap_add=["SYS_ADMIN", "NET_ADMIN", "MKNOD", "SYS_PTRACE"],  # PTRACE: docker exec
            security_opt=["seccomp=unconfined", "apparmor=unconfined"],
            volumes={
                "/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"},
                volume.name: {"bind": "/var/lib/docker", "mode": "rw"},
            },
            ports={f"{ENGINE_PORT}/tcp": ("127.0.0.1", None)},
        )
        url = f"tcp://127.0.0.1:{self._published(c, ENGINE_PORT)}"
        c.reload()
        address = c.attrs["NetworkSettings"]["Networks"][self.prefix]["IPAddress"]
        engine = Engine(name, url, address)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                client = engine.client()
                client.ping()
                client.close()
                return engine
            except DockerException:
                c.reload()
                if c.status != "running" or time.monotonic() > deadline:
                    tail = c.logs(tail=10).decode(errors="replace")
                    raise RuntimeError(f"engine {name} did not start: {tail}") from None
                time.sleep(0.5)

    def _form_swarm(self) -> None:
        manager = self.manager.client()
        try:
            manager.swarm.init(advertise_addr=self.manager.address, listen_addr="0.0.0.0:2377")
            manager.swarm.reload()
            token = manager.swarm.attrs["JoinTokens"]["Worker"]
            for engine in self.engines[1:]:
                worker = engine.client()
                try:
                    worker.swarm.join(
                        remote_addrs=[f"{self.manager.address}:2377"],
                        join_token=token,
                        advertise_addr=engine.address,
                        listen_addr="0.0.0.0:2377",
                    )
                finally:
                    worker.close()
            deadline = time.monotonic() + START_TIMEOUT_S
            while True:
                ready = [n for n in manager.nodes.list() if n.attrs["Status"]["State"] == "ready"]
                if len(ready) == self.count:
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{len(ready)} of {self.count} swarm nodes ready")
                time.sleep(0.5)
        finally:
            manager.close()

    # ---- stop --------------------------------------------------------------------------

    def stop(self) -> list[str]:
        """Remove the engines (their tasks first, so each daemon clears its cgroups), the
        registry, the network, the volumes, and the cgroup folders; what could not go."""
        for engine in self.engines:
            with contextlib.suppress(DockerException, OSError):
                client = engine.client()
                try:
                    for c in client.containers.list(all=True, ignore_removed=True):
                        with contextlib.suppress(DockerException):
                            c.remove(force=True, v=True)
                finally:
                    client.close()
        remove_test_swarm(self.host, self.run_id)
        self.host.close()
        return leftovers(self.run_id)


def remove_test_swarm(host: docker.DockerClient, run_id: str) -> None:
    """Stop the engines (SIGTERM: dockerd shuts its containers down), then remove every
    labelled object of the test swarm and its cgroup folders."""
    found = Labelled.find(host, run_id)
    for c in found.containers:
        with contextlib.suppress(DockerException):
            c.stop(timeout=20)
    with contextlib.suppress(APIError):
        found.remove()
    for path in cgroup_leftovers(f"clp-{run_id}-"):
        with contextlib.suppress(OSError):
            path.rmdir()


def leftovers(run_id: str) -> list[str]:
    """What a removed test swarm left on the host: labelled objects and cgroup folders."""
    host = docker.from_env()
    try:
        names = Labelled.find(host, run_id).names()
    finally:
        host.close()
    return [
        *(f"container {n}" for n in names.containers),
        *(f"network {n}" for n in names.networks),
        *(f"volume {n}" for n in names.volumes),
        *(f"cgroup {p}" for p in cgroup_leftovers(f"clp-{run_id}-")),
    ]


@contextlib.contextmanager
def test_swarm(count: int = 3, say: Say | None = None) -> Iterator[TestSwarm]:
    """A started ``TestSwarm``, removed on the way out (also when its start failed)."""
    swarm = TestSwarm(count, say or (lambda _: None))
    try:
        yield swarm.start()
    finally:
        left = swarm.stop()
        if left:
            raise RuntimeError(f"the test swarm left {left}")


class _Terminated(Exception):
    pass


def _raise_terminated(signum: int, _frame: FrameType | None) -> None:
    raise _Terminated(signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", type=int, default=3)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give a command after --")

    def say(text: str) -> None:
        print(f"engines: {text}", file=sys.stderr, flush=True)

    signal.signal(signal.SIGTERM, _raise_terminated)
    code = 1
    started = time.monotonic()
    try:
        with test_swarm(args.engines, say) as swarm:
            cmd = [part.replace("{registry}", swarm.registry) for part in command]
            say(f"running {' '.join(cmd)}")
            code = _run_child(cmd, {**os.environ, **swarm.env})
    except (KeyboardInterrupt, _Terminated) as exc:  # during the start or the stop
        code = 130 if isinstance(exc, KeyboardInterrupt) else 143
    say(f"removed; {time.monotonic() - started:.0f} s in all, exit {code}")
    return code


def _run_child(cmd: list[str], env: dict[str, str]) -> int:
    """Run ``cmd``; a Ctrl-C or SIGTERM is passed on, and the child's own teardown awaited
    before the engines go."""
    child = subprocess.Popen(cmd, env=env)
    try:
        return child.wait()
    except (KeyboardInterrupt, _Terminated) as exc:
        child.send_signal(signal.SIGINT if isinstance(exc, KeyboardInterrupt) else signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(120)
        return 130 if isinstance(exc, KeyboardInterrupt) else 143


if __name__ == "__main__":
    sys.exit(main())
