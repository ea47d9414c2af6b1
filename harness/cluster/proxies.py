"""The fault-proxy layer of a local cluster: one Toxiproxy-API server, one proxy per link.

The official ``toxiproxy-server`` is used when it is on PATH or named by the
TOXIPROXY_SERVER environment variable; otherwise the project's compatible server.
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
from harness.cluster.testnet import TestnetError, TestnetManifest
from harness.cluster.toxiproxy_api import ToxiproxyApi
from harness.official_toxiproxy import find_official_server

#: Proxies created per ``POST /populate``: each call answers well within the API client's
#: timeout, whatever the testnet's size (128 validators are 16,256 proxies).
POPULATE_CHUNK = 500
#: Open files the server holds besides its links: the API, its log, the runtime's own.
FILES_SPARE = 256


def open_files_needed(links: int) -> int:
    """Open files a server with ``links`` proxies holds when every link is connected: the
    listener, the accepted connection and the one to the upstream."""
    return 3 * links + FILES_SPARE


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
            f"may hold only {hard} (ulimit -Hn) and cannot raise that ({exc}): raise the "
            "hard limit, or use fewer validators or direct links"
        ) from None


class ProxyLayer:
    def __init__(self, manifest: TestnetManifest, log_dir: Path, server: str | None = None) -> None:
        self.manifest = manifest
        self.log_dir = log_dir
        self.host = "127.0.0.1"
        self.port = manifest.toxiproxy_port
        self.official = find_official_server(server)
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.api = ToxiproxyApi(self.base_url)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def kind(self) -> str:
        return "official" if self.official else "compatible"

    def command(self) -> list[str]:
        """The server's command line; ``-proxy-metrics`` serves the per-link byte counters
        (``GET /metrics``) the link-discipline check reads."""
        flags = ["-host", self.host, "-port", str(self.port), "-proxy-metrics"]
        if self.official:
            return [self.official, *flags]
        return [sys.executable, "-m", "harness.toxiproxy", *flags]

    async def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_dir / "toxiproxy.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            self.command(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        specs = self.proxy_specs()
        try:
            raise_open_files(self.proc.pid, open_files_needed(len(specs)))
        except TestnetError:
            self.stop_sync()
            raise
        import httpx

        deadline = time.monotonic() + 15
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"toxiproxy server exited with {self.proc.returncode}; "
                    f"see {self.log_dir / 'toxiproxy.log'}"
                )
            try:
                await asyncio.to_thread(self.api.version)
                break
            except (httpx.HTTPError, OSError):
                if time.monotonic() > deadline:
                    raise RuntimeError("toxiproxy server did not answer within 15 s") from None
                await asyncio.sleep(0.05)
        for chunk in chunks(specs, POPULATE_CHUNK):
            await asyncio.to_thread(self.api.populate, chunk)

    def proxy_specs(self) -> list[dict[str, object]]:
        by_name = {n.name: n for n in self.manifest.nodes}
        return [
            {
                "name": link.name,
                "listen": f"{self.host}:{link.listen_port}",
                "upstream": f"{by_name[link.dst].host}:{by_name[link.dst].p2p_port}",
                "enabled": True,
            }
            for link in self.manifest.links
        ]

    async def stop(self) -> None:
        await asyncio.to_thread(self.stop_sync)

    def stop_sync(self) -> None:
        self.api.close()
        if self.proc is not None:
            terminate(self.proc)
        if self._log is not None:
            self._log.close()
            self._log = None
