"""A proxy: a listener that dials the upstream for each accepted client and joins them.

Disabling closes the listener and every open connection but keeps the toxics
and the bound ``listen`` address, so re-enabling listens on the same port.
"""

from __future__ import annotations

import asyncio
import socket

from . import address
from .connection import Connection
from .endpoint import Endpoint
from .errors import internal
from .metrics import ProxyMetrics
from .toxic_collection import ToxicCollection


class _Listening:
    """One period of listening; connections accepted after it ends are dropped."""

    def __init__(self) -> None:
        self.open = True
        self.server: asyncio.AbstractServer | None = None


class Proxy:
    def __init__(
        self, name: str, listen: str, upstream: str, metrics: ProxyMetrics | None = None
    ) -> None:
        self.name = name
        self.metrics = metrics if metrics is not None else ProxyMetrics()
        self.listen = listen
        self.upstream = upstream
        self.toxics = ToxicCollection()
        self._listening: _Listening | None = None
        self._connections: set[Connection] = set()
        self._dialing: set[asyncio.Task[None]] = set()

    @property
    def enabled(self) -> bool:
        return self._listening is not None

    @property
    def open_connections(self) -> int:
        """Connections accepted and not yet closed on both sides."""
        return len(self._connections)

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": [toxic.to_json() for toxic in self.toxics.all()],
        }

    async def start(self, bound: tuple[socket.socket, str] | None = None) -> None:
        """Listen (on ``bound`` if already reserved); ``listen`` becomes the real address.

        Raises a 500 ApiError with Go's wording if the address cannot be bound.
        """
        if self.enabled:
            if bound is not None:
                bound[0].close()
            return
        if bound is None:
            try:
                bound = await address.bind(self.listen)
            except address.AddressError as exc:
                raise internal(str(exc)) from exc
        sock, real = bound
        listening = _Listening()
        loop = asyncio.get_running_loop()
        try:
            listening.server = await loop.create_server(
                lambda: Endpoint(on_made=lambda client: self._accepted(listening, client)),
                sock=sock,
            )
        except OSError as exc:
            sock.close()
            raise internal(str(exc)) from exc
        self.listen = real
        self._listening = listening

    async def stop(self) -> None:
        """Stop listening and close every connection; returns once they are closed."""
        listening, self._listening = self._listening, None
        if listening is None:
            return
        listening.open = False
        if listening.server is not None:
            listening.server.close()
        for task in list(self._dialing):
            task.cancel()
        connections = list(self._connections)
        for connection in connections:
            connection.abort()
        await asyncio.gather(
            *self._dialing, *(c.wait_closed() for c in connections), return_exceptions=True
        )

    async def update(self, listen: str, upstream: str, enabled: bool) -> None:
        """Apply a merged update: a new address restarts the proxy, ``enabled`` toggles it."""
        if listen != self.listen or upstream != self.upstream:
            await self.stop()
            self.listen, self.upstream = listen, upstream
        if enabled and not self.enabled:
            await self.start()
        elif not enabled:
            await self.stop()

    def _accepted(self, listening: _Listening, client: Endpoint) -> None:
        if not listening.open:
            client.abort()
            return
        task = asyncio.create_task(self._dial(listening, client))
        self._dialing.add(task)
        task.add_done_callback(self._dialing.discard)

    async def _dial(self, listening: _Listening, client: Endpoint) -> None:
        """Dial the upstream for ``client``; if that fails the client is closed."""
        loop = asyncio.get_running_loop()
        try:
            host, port = address.split_host_port(self.upstream)
            _, upstream = await loop.create_connection(Endpoint, host, port)
        except asyncio.CancelledError:
            client.abort()
            raise
        except (OSError, address.AddressError):
            client.close()
            return
        if not listening.open or client.closed:
            upstream.abort()
            client.abort()
            return
        counters = tuple(
            self.metrics.counter(d, self.listen, self.name, self.upstream)
            for d in ("upstream", "downstream")
        )
        self._connections.add(
            Connection(
                client,
                upstream,
                self.toxics,
                self._connections.discard,
                (counters[0], counters[1]),
            )
        )
