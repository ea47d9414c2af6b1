"""DockerBackend: every validator a container on a private bridge network, links via Toxiproxy.

Why the choices (the rest is ``ContainerCluster``'s):
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
import io
import tarfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from harness.cluster import docker_layout as layout
from harness.cluster.containers import PUBLISH_HOST, ContainerCluster, settle, toxiproxy_command
from harness.cluster.engine import labels

if TYPE_CHECKING:
    from docker.models.containers import Container


def files_archive(files: dict[str, Path], root: str = layout.CONTAINER_ROOT) -> bytes:
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


class DockerBackend(ContainerCluster["Container"]):
    """Containers created and started through the Docker API; a restart is ``docker start``
    of the same container, an upgrade a new container on the same volume."""

    mixed_nodes = True

    async def _launch(self) -> None:
        await self._create_all()
        # All at once: nodes keep dialling until the proxy (and their peers) listen.
        starts = [self._start_node(n) for n in self.names]
        if self.manifest.proxied:
            starts.append(self._start_toxiproxy())
        await settle(starts)

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
            self.units[layout.TOXIPROXY_HOST] = self._create(
                images.toxiproxy,
                layout.TOXIPROXY_HOST,
                layout.TOXIPROXY_API_PORT,
                *toxiproxy_command(images),
                volumes=None,
            )

        jobs = [asyncio.to_thread(self._create_node, n) for n in self.names]
        if self.manifest.proxied:
            jobs.append(asyncio.to_thread(toxiproxy))
        await settle(jobs)

    def _create_node(self, name: str) -> None:
        """Node ``name``'s volume (kept if it exists) and container, of its image."""
        volume = self.docker.volumes.create(self.volume_name(name), labels=labels(self.run_id))
        c = self._create(
            self.node_image(name),
            name,
            layout.API_PORT,
            entrypoint=layout.NODE_ENTRYPOINT,
            command=layout.node_command(name),
            volumes={volume.name: {"bind": layout.DATA_DIR, "mode": "rw"}},
            cap_add=["NET_ADMIN"],  # packet loss and netem act on the node's interface
        )
        c.put_archive("/", files_archive(layout.node_files(self.manifest, name)))
        self.units[name] = c

    async def upgrade(
        self,
        name: str,
        kind: str,
        keep_data: bool,
        command: str | None = None,
        image: str | None = None,
    ) -> None:
        """A new container of the other image on the node's volume (a fresh volume when
        the store changes kind), started like a restart."""
        new_image = image if image else await asyncio.to_thread(self.kind_image, kind)
        await self.kill(name)

        def replace() -> None:
            self.unit_of(name).remove(force=True)
            if not keep_data:
                self.docker.volumes.get(self.volume_name(name)).remove(force=True)
            self.node_images[name] = new_image
            self._create_node(name)

        await asyncio.to_thread(replace)
        await self.restart(name)

    def _create(
        self,
        image: str,
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
            name=self.object_name(alias),
            hostname=alias,
            labels=labels(self.run_id),
            network=self.network_name,
            networking_config={self.network_name: endpoint},
            ports={f"{publish}/tcp": (PUBLISH_HOST, None)},
            volumes=volumes,
            environment={"PYTHONUNBUFFERED": "1"},
            cap_add=cap_add,
        )

    async def _start_toxiproxy(self) -> None:
        self._say("starting the Toxiproxy container")
        c = self.unit_of(layout.TOXIPROXY_HOST)
        await self._serve_toxiproxy(
            await self._start_container(c, layout.TOXIPROXY_HOST, layout.TOXIPROXY_API_PORT)
        )

    async def _start_node(self, name: str) -> None:
        await self._serve(
            name, await self._start_container(self.unit_of(name), name, layout.API_PORT)
        )

    _start_again = _start_node  # ``docker start`` of the same container: same volume and files

    def _live_container(self, name: str) -> Container | None:
        from docker.errors import NotFound

        c = self.unit_of(name)
        try:
            c.reload()
        except NotFound:
            return None
        return c

    async def node_exec(self, name: str, command: list[str]) -> tuple[int, str]:
        """Run ``command`` as root inside the node's container: (exit code, output). The
        node itself runs unprivileged; root there holds the container's NET_ADMIN."""
        c = await asyncio.to_thread(self._node_container, name)
        if c is None:
            raise RuntimeError(f"{name} has no container (removed)")
        code, out = await asyncio.to_thread(c.exec_run, command, user="0")
        return int(code), out.decode(errors="replace") if isinstance(out, bytes) else str(out)
