"""A proxied connection: client and upstream sockets joined by an upstream and a downstream link."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from .endpoint import Endpoint
from .link import Link
from .metrics import LinkCounter
from .toxic_collection import ToxicCollection


class Connection:
    """Lives until both sockets are closed; registers its links for toxic changes."""

    def __init__(
        self,
        client: Endpoint,
        upstream: Endpoint,
        toxics: ToxicCollection,
        on_closed: Callable[[Connection], None],
        counters: tuple[LinkCounter, LinkCounter] | None = None,
    ) -> None:
        self._client = client
        self._upstream = upstream
        self._toxics = toxics
        self._on_closed = on_closed
        self._closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        up, down = counters if counters is not None else (None, None)
        self._links = (
            Link("upstream", client, upstream, toxics.chain("upstream"), self, up),
            Link("downstream", upstream, client, toxics.chain("downstream"), self, down),
        )
        client.attach(self._links[0])
        upstream.attach(self._links[1])
        for endpoint in (client, upstream):
            endpoint.on_lost = self._maybe_closed
        for link in self._links:
            toxics.register(link)
        for endpoint, link in zip((client, upstream), self._links, strict=True):
            if endpoint.closed:
                link.feed_eof()
            endpoint.resume_reading()
        self._maybe_closed()

    def set_reset(self) -> None:
        """Make both sockets close with RST (reset_peer)."""
        self._client.set_linger_zero()
        self._upstream.set_linger_zero()

    def abort(self) -> None:
        """Close both sockets now, as disabling or deleting the proxy does."""
        self._client.abort()
        self._upstream.abort()

    async def wait_closed(self) -> None:
        await asyncio.shield(self._closed)

    def _maybe_closed(self) -> None:
        if self._closed.done() or not (self._client.closed and self._upstream.closed):
            return
        for link in self._links:
            link.cancel()
            self._toxics.unregister(link)
        self._closed.set_result(None)
        self._on_closed(self)
