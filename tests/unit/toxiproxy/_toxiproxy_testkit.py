"""Helpers shared by the Toxiproxy conformance and data-path tests.

Everything here talks to the server only over its API and its proxy ports, so
the same tests run against the official toxiproxy-server (TOXIPROXY_SERVER).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

OFFICIAL = bool(os.environ.get("TOXIPROXY_SERVER"))
"""True when the tests run against an official toxiproxy-server binary."""

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def refuses(address: str) -> bool:
    """Whether nothing listens on ``address`` (connection refused)."""
    try:
        with socket.create_connection(host_port(address), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def poll(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``condition()`` holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


async def create_proxy(
    api: httpx.AsyncClient, name: str, upstream: str, listen: str = "127.0.0.1:0", **extra: Any
) -> dict[str, Any]:
    response = await api.post(
        "/proxies", json={"name": name, "listen": listen, "upstream": upstream, **extra}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def add_toxic(
    api: httpx.AsyncClient,
    proxy: str,
    type_name: str,
    stream: str = "downstream",
    toxicity: float | None = None,
    name: str | None = None,
    **attributes: int,
) -> dict[str, Any]:
    body: dict[str, Any] = {"type": type_name, "stream": stream, "attributes": attributes}
    if toxicity is not None:
        body["toxicity"] = toxicity
    if name is not None:
        body["name"] = name
    response = await api.post(f"/proxies/{proxy}/toxics", json=body)
    assert response.status_code == 200, response.text
    toxic: dict[str, Any] = response.json()
    return toxic


class Upstream:
    """A TCP server on 127.0.0.1:0 in the test's loop, with a per-connection handler."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._server: asyncio.Server | None = None
        self._live: dict[asyncio.StreamWriter, asyncio.Task[Any]] = {}
        self.connections = 0
        self.address = ""

    async def start(self) -> Upstream:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.address = f"127.0.0.1:{port}"
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._live[writer] = task
        try:
            await self._handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            del self._live[writer]
            writer.close()

    async def close(self) -> None:
        """Stop listening, drop live connections and wait for their handlers."""
        if self._server is not None:
            self._server.close()
        tasks = list(self._live.values())
        for writer in list(self._live):
            writer.transport.abort()  # handlers then read EOF and return
        if tasks:
            await asyncio.wait(tasks, timeout=5)


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()


def sender(payload: bytes, then_close: bool = True) -> Handler:
    """A handler that sends ``payload`` on connect, then closes (or waits for EOF)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(payload)
        await writer.drain()
        if not then_close:
            while await reader.read(65536):
                pass

    return handler


async def connect(address: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = host_port(address)
    return await asyncio.open_connection(host, port)


async def round_trip(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, payload: bytes = b"ping"
) -> float:
    """Seconds for ``payload`` to come back through an echo upstream."""
    started = time.perf_counter()
    writer.write(payload)
    await writer.drain()
    assert await reader.readexactly(len(payload)) == payload
    return time.perf_counter() - started


async def read_until_closed(
    reader: asyncio.StreamReader, timeout: float = 5.0
) -> tuple[bytes, BaseException | None]:
    """Read until EOF or reset; return the bytes and the reset (None on clean EOF)."""
    data = bytearray()
    async with asyncio.timeout(timeout):
        try:
            while chunk := await reader.read(65536):
                data += chunk
        except ConnectionResetError as exc:
            return bytes(data), exc
    return bytes(data), None
