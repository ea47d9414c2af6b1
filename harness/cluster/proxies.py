"""The fault-proxy layer of a local cluster: the Toxiproxy-API servers, one proxy per link.

The official ``toxiproxy-server`` is used when it is on PATH or named by the
TOXIPROXY_SERVER environment variable; otherwise the project's compatible server. A
testnet has one server unless its links need more open files than one process may hold
(harness.cluster.proxy_shards); the faults and checks then see the servers as one API.
"""

from __future__ import annotations

import asyncio
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from harness.cluster.process import terminate
from harness.cluster.proxy_shards import open_files_needed
from harness.cluster.testnet import LinkSpec, TestnetError, TestnetManifest, proxy_specs
from harness.cluster.toxiproxy_api import ProxyApi, ToxiproxyApi, ToxiproxyShards
from harness.official_toxiproxy import find_official_server

#: Proxies created per ``POST /populate``: each call answers well within the API client's
#: timeout, whatever the testnet's size (128 validators are 16,256 proxies).
POPULATE_CHUNK = 500
#: Where the local backend's proxy servers listen.
PROXY_HOST = "127.0.0.1"


def proxy_api(manifest: TestnetManifest, host: str = PROXY_HOST) -> ProxyApi:
    """The fault API of a local testnet's proxy servers: a call about a link goes to the
    server that carries it."""
    return joined(manifest, [server_api(host, port) for port in manifest.toxiproxy_ports])


def server_api(host: str, port: int) -> ToxiproxyApi:
    return ToxiproxyApi(f"http://{host}:{port}")


def joined(manifest: TestnetManifest, apis: list[ToxiproxyApi]) -> ProxyApi:
    """``apis``, one per server in the manifest's order, as one API."""
    if len(apis) == 1:
        return apis[0]
    servers = manifest.proxy_servers()
    home = {link.name: i for i, (_, links) in enumerate(servers) for link in links}
    return ToxiproxyShards(apis, home)


def chunks(items: list[dict[str, object]], size: int) -> list[list[dict[str, object]]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def raise_open_files(pid: int, need: int) -> None:
    """Let process ``pid`` hold ``need`` open files; a limit that cannot be raised that far
    (the hard limit, without the privilege to raise it) is a one-line TestnetError."""
    try:
        soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    except ProcessLookupError:
        return  # it exited at once: the wait for its API below says so
    if soft == resource.RLIM_INFINITY or soft >= need:
        return
    new_hard = hard if hard == resource.RLIM_INFINITY or hard >= need else need
    try:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (need, new_hard))
    except ProcessLookupError:
        return
    except (PermissionError, ValueError) as exc:
        raise TestnetError(
            f"the proxy server needs about {need} open files for this testnet's links but "
            f"may hold only {hard} (ulimit -Hn) and cannot raise that ({exc}): init the "
            "testnet again on this machine (it splits the links over as many servers as "
            "they need), or raise the hard limit"
        ) from None


class ProxyServer:
    """One proxy server process and the links it carries."""

    def __init__(self, api: ToxiproxyApi, port: int, links: list[LinkSpec], log: Path) -> None:
        self.api = api
        self.port = port
        self.links = links
        self.log_path = log
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self, command: list[str]) -> None:
        self._log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            command,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        raise_open_files(self.proc.pid, open_files_needed(len(self.links)))

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc)
        if self._log is not None:
            self._log.close()
            self._log = None


class ProxyLayer:
    """The proxy servers of a local testnet, one proxy per link."""

    def __init__(self, manifest: TestnetManifest, log_dir: Path, server: str | None = None) -> None:
        self.manifest = manifest
        self.log_dir = log_dir
        self.host = PROXY_HOST
        self.official = find_official_server(server)
        self.servers = [
            ProxyServer(server_api(self.host, port), port, links, log_dir / log_name(i))
            for i, (port, links) in enumerate(manifest.proxy_servers())
        ]
        self.api = joined(manifest, [s.api for s in self.servers])

    @property
    def kind(self) -> str:
        return "official" if self.official else "compatible"

    @property
    def pids(self) -> list[int]:
        return [s.proc.pid for s in self.servers if s.proc is not None]

    def command(self, port: int) -> list[str]:
        """A server's command line; ``-proxy-metrics`` serves the per-link byte counters
        (``GET /metrics``) the link-discipline check reads."""
        flags = ["-host", self.host, "-port", str(port), "-proxy-metrics"]
        if self.official:
            return [self.official, *flags]
        return [sys.executable, "-m", "harness.toxiproxy", *flags]

    async def start(self, enabled: bool = True) -> None:
        """Start the servers and create every link's proxy: ``enabled`` False with its
        listener closed (``Cluster.start``'s held links)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            for server in self.servers:
                server.start(self.command(server.port))
            await asyncio.gather(*(self._ready(s) for s in self.servers))
        except BaseException:
            self.stop_sync()
            raise
        for server in self.servers:
            specs = proxy_specs(self.manifest, self.host, server.links, enabled)
            for chunk in chunks(specs, POPULATE_CHUNK):
                await asyncio.to_thread(server.api.populate, chunk)

    async def _ready(self, server: ProxyServer) -> None:
        import httpx

        api = server.api
        deadline = time.monotonic() + 15
        while True:
            assert server.proc is not None
            if server.proc.poll() is not None:
                raise RuntimeError(
                    f"toxiproxy server exited with {server.proc.returncode}; see {server.log_path}"
                )
            try:
                await asyncio.to_thread(api.version)
                return
            except (httpx.HTTPError, OSError):
                if time.monotonic() > deadline:
                    raise RuntimeError("toxiproxy server did not answer within 15 s") from None
                await asyncio.sleep(0.05)

    async def stop(self) -> None:
        await asyncio.to_thread(self.stop_sync)

    def stop_sync(self) -> None:
        self.api.close()
        for server in self.servers:
            server.stop()


def log_name(index: int) -> str:
    """The first server logs to toxiproxy.log, as a testnet of one server always did."""
    return "toxiproxy.log" if index == 0 else f"toxiproxy-{index}.log"
