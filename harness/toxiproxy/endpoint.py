"""One socket of a proxied connection, as an asyncio protocol.

It feeds what it reads into the link leaving it and is the sink of the link
arriving at it. EOF is not propagated as a half-close: the link carries it to
the far side, whose writer then closes that socket completely, which in turn
ends the opposite link; so EOF on either side closes both, as in Toxiproxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from .link import Link


class Endpoint(asyncio.Protocol):
    """A client or upstream socket; reading starts paused until its links exist."""

    def __init__(self, on_made: Callable[[Endpoint], None] | None = None) -> None:
        self.transport: asyncio.Transport | None = None
        self.link: Link | None = None
        self.closed = False
        self.on_lost: Callable[[], None] | None = None
        self._on_made = on_made
        self._writable: asyncio.Future[None] | None = None
        # Python before 3.11.3 ignores pause_reading() in connection_made for accepted
        # sockets, so data may arrive before the links exist: keep it for attach().
        self._early: list[bytes] = []
        self._early_eof = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.pause_reading()
        if self._on_made is not None:
            self._on_made(self)

    def data_received(self, data: bytes) -> None:
        if self.link is not None:
            self.link.feed(data)
        else:
            self._early.append(data)

    def eof_received(self) -> bool:
        if self.link is not None:
            self.link.feed_eof()
        else:
            self._early_eof = True
        return True  # keep the socket open for the opposite link to finish writing

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.link is not None:
            self.link.feed_eof()
        self._wake_writer()
        if self.on_lost is not None:
            self.on_lost()

    def pause_writing(self) -> None:
        if self._writable is None:
            self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        self._wake_writer()

    def attach(self, link: Link) -> None:
        """Start feeding ``link``, first with whatever arrived before it existed."""
        self.link = link
        early, self._early = self._early, []
        for data in early:
            link.feed(data)
        if self._early_eof:
            link.feed_eof()

    # link.Sink
    @property
    def writable(self) -> bool:
        return self._writable is None and not self.closed

    def write(self, data: bytes) -> bool:
        if self.closed or self.transport is None or self.transport.is_closing():
            return False
        self.transport.write(data)
        return True

    async def drained(self) -> None:
        writable = self._writable
        if writable is not None:
            await writable

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def pause_reading(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    # connection control
    def abort(self) -> None:
        """Close now, dropping anything not yet written (disable, delete, shutdown)."""
        if self.transport is not None:
            self.transport.abort()

    def set_linger_zero(self) -> None:
        """Make the eventual close send RST instead of FIN (reset_peer)."""
        if self.transport is None or self.closed:
            return
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def _wake_writer(self) -> None:
        writable, self._writable = self._writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)
