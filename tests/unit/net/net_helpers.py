"""Helpers for the P2P tests: keys, a node factory, a TCP relay, polling."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from clp_node.chain.keys import ValidatorKey
from clp_node.net import P2PNetwork, PeerInfo
from harness.cluster.ports import free_ports

CHAIN_ID = "clp-unit-net"
KEYS = [ValidatorKey.from_seed_text(f"net-test-validator-{i}") for i in range(5)]

# Fast timings so reconnects and dead-link detection fit in a short test.
FAST: dict[str, Any] = {
    "backoff_initial": 0.02,
    "backoff_max": 0.2,
    "keepalive_interval": 0.2,
    "dead_after": 2.0,
    "handshake_timeout": 1.0,
    "connect_timeout": 1.0,
}


def free_port() -> int:
    """A free port below the kernel's ephemeral range (harness.cluster.ports): one bound to
    port 0 is the kind the kernel also hands to outgoing connections, and beside a flood
    of them one was taken before the node could listen on it."""
    return free_ports(1)[0]


async def wait_until(pred: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    """Poll a condition; fail with a message rather than hang or sleep blindly."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or pred}")
        await asyncio.sleep(0.01)


@dataclass
class Recorder:
    """on_message sink that remembers what arrived from whom, in order."""

    messages: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __call__(self, sender: str, message: dict[str, Any]) -> None:
        self.messages.append((sender, message))

    def from_(self, sender: str) -> list[dict[str, Any]]:
        return [m for s, m in self.messages if s == sender]


class Relay:
    """A plain TCP forwarder standing in for one directed fault-proxy link.

    Like Toxiproxy: disabling closes the listener and every open connection, and EOF on
    one side closes both. ``blackhole`` keeps connections open but drops all bytes.
    """

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self.blackhole = False
        self.accepted = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    async def enable(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def disable(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for w in list(self._writers):
            w.transport.abort()
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._writers.clear()

    async def _handle(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.accepted += 1
        self._writers.add(cw)
        uw: asyncio.StreamWriter | None = None
        try:
            ur, uw = await asyncio.open_connection(*self.upstream)
            self._writers.add(uw)
            pipes = [
                asyncio.create_task(self._pipe(cr, uw)),
                asyncio.create_task(self._pipe(ur, cw)),
            ]
            try:
                await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for p in pipes:
                    p.cancel()
                await asyncio.gather(*pipes, return_exceptions=True)
        except OSError:
            pass
        finally:
            for w in (cw, uw):
                if w is not None:
                    w.transport.abort()
                    self._writers.discard(w)
            self._tasks.discard(task)

    async def _pipe(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await r.read(65536):
                if not self.blackhole:
                    w.write(data)
                    await w.drain()


class Cluster:
    """Builds nodes on fixed 127.0.0.1 ports and stops everything at teardown."""

    def __init__(self) -> None:
        self.ports = {k.address: free_port() for k in KEYS}
        self.nodes: list[P2PNetwork] = []
        self.relays: list[Relay] = []

    def peer_info(self, key: ValidatorKey, port: int | None = None) -> PeerInfo:
        return PeerInfo(
            address=key.address,
            public_key=key.public_key,
            endpoint_host="127.0.0.1",
            endpoint_port=port if port is not None else self.ports[key.address],
        )

    def node(
        self,
        i: int,
        peers: list[int],
        on_message: Callable[[str, dict[str, Any]], None],
        endpoints: Mapping[int, int] | None = None,
        **kw: Any,
    ) -> P2PNetwork:
        """Node i knowing validators ``peers``; ``endpoints`` overrides ports per peer."""
        endpoints = endpoints or {}
        key = KEYS[i]
        infos = {KEYS[j].address: self.peer_info(KEYS[j], endpoints.get(j)) for j in peers}
        net = P2PNetwork(
            key,
            CHAIN_ID,
            "127.0.0.1",
            self.ports[key.address],
            infos,
            on_message,
            **{**FAST, **kw},
        )
        self.nodes.append(net)
        return net

    async def relay(self, to: int) -> Relay:
        r = Relay("127.0.0.1", self.ports[KEYS[to].address])
        await r.enable()
        self.relays.append(r)
        return r

    async def close(self) -> None:
        for n in self.nodes:
            await n.stop()
        for r in self.relays:
            await r.disable()
