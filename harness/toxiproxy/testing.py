"""Run a Toxiproxy server for tests and benchmarks; each helper yields the API base URL.

- ``in_thread``: the compatible server on its own event loop in a daemon thread,
  for tests that must not block on (or be blocked by) the caller's loop.
- ``in_subprocess``: ``python -m harness.toxiproxy`` in a child process, the
  closest to how the official binary runs.
- ``official``: an official ``toxiproxy-server`` binary at the given path.

Each serves ``/metrics`` (``-proxy-metrics``), as the harness runs them.
"""

from __future__ import annotations

import asyncio
import os
import re
import select
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .server import ToxiproxyServer

_REPO_ROOT = Path(__file__).resolve().parents[2]
_URL = re.compile(r"http://[^\s]+")


@contextmanager
def in_thread(host: str = "127.0.0.1", port: int = 0, proxy_metrics: bool = True) -> Iterator[str]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="toxiproxy", daemon=True)
    thread.start()
    server = ToxiproxyServer(proxy_metrics)
    try:
        asyncio.run_coroutine_threadsafe(server.start(host, port), loop).result(10)
        yield server.url
    finally:
        try:
            asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()


@contextmanager
def in_subprocess(host: str = "127.0.0.1", port: int = 0, timeout: float = 15.0) -> Iterator[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_REPO_ROOT), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "harness.toxiproxy", "--host", host, "--port", str(port)]
    command.append("--proxy-metrics")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], timeout)
        line = process.stdout.readline() if ready else ""
        match = _URL.search(line)
        if match is None:
            raise RuntimeError(f"toxiproxy subprocess did not start (said {line!r})")
        yield match.group(0)
    finally:
        _terminate(process)


@contextmanager
def official(binary: str, host: str = "127.0.0.1", timeout: float = 15.0) -> Iterator[str]:
    """Start an official ``toxiproxy-server`` on a free port and wait until it answers."""
    port = free_port(host)
    process = subprocess.Popen([binary, "-host", host, "-port", str(port), "-proxy-metrics"])
    url = f"http://{host}:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{binary} exited with {process.returncode}")
            try:
                with urllib.request.urlopen(f"{url}/version", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{binary} did not answer on {url}") from None
                time.sleep(0.05)
        yield url
    finally:
        _terminate(process)


def free_port(host: str = "127.0.0.1") -> int:
    """A port free right now (only for servers that cannot be told to bind port 0)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _terminate(process: subprocess.Popen[str] | subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()
