"""Per-peer sending side: a bounded queue and the task that keeps one dialled connection up.

Node i sends to peer j only over the connection it dials to j's configured endpoint (which
may be a fault proxy carrying only i->j traffic), so this module owns all sending. The
listener sends nothing back after the handshake except keepalive answers, which is how a
dead or black-holed link is noticed even when no write ever fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from clp_node.chain.keys import PUBLIC_KEY_BYTES, ValidatorKey, address_from_public_key
from clp_node.logs import log_event
from clp_node.net.framing import KEEPALIVE_FRAME, FrameError, read_frame_bytes
from clp_node.net.handshake import DEFAULT_HANDSHAKE_TIMEOUT, HandshakeError, dial_handshake

# Failures that are routine while a peer or its link is down; logged quietly.
_QUIET_DIAL_REASONS = frozenset({"connect", "closed", "timeout", "truncated"})


@dataclass(frozen=True)
class PeerInfo:
    """A validator we talk to: who it is and where we dial to send to it."""

    address: str
    public_key: bytes
    endpoint_host: str
    endpoint_port: int

    def __post_init__(self) -> None:
        if len(self.public_key) != PUBLIC_KEY_BYTES:
            raise ValueError(f"peer {self.address}: public key must be {PUBLIC_KEY_BYTES} bytes")
        if address_from_public_key(self.public_key) != self.address:
            raise ValueError(f"peer {self.address}: address does not match its public key")
        if not 0 < self.endpoint_port < 65536:
            raise ValueError(f"peer {self.address}: bad endpoint port {self.endpoint_port}")


@dataclass(frozen=True)
class TransportSettings:
    """Timing and size knobs shared by every connection of one node."""

    chain_id: str
    max_frame_bytes: int
    queue_size: int = 1024
    handshake_timeout: float = DEFAULT_HANDSHAKE_TIMEOUT
    connect_timeout: float = 3.0
    backoff_initial: float = 0.05
    backoff_max: float = 2.0
    # A connection that lived this long was healthy: the next retry starts fast again.
    stable_after: float = 2.0
    # A keepalive (answered by the listener) at most this often; the answers are what tells
    # the dialler the link works both ways. Each is two frames a second per link and side,
    # so not more often than dead_after needs (docs/scale.md).
    keepalive_interval: float = 2.0
    # No byte from the other side for this long means the link is dead. Must exceed the
    # link's round trip plus the time to carry the largest frame.
    dead_after: float = 10.0
    # Keepalive answers the dialler does not read pile up here before we give up on it.
    max_unread_bytes: int = 64 * 1024


@dataclass
class NetStats:
    frames_in: int = 0
    frames_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    messages_dropped: int = 0
    callback_errors: int = 0
    connects: int = 0
    disconnects: int = 0
    inbound_connects: int = 0
    inbound_disconnects: int = 0
    link_restarts: int = 0  # diallers that ended without stop() and were started again
    rejected_frames: Counter[str] = field(default_factory=Counter)
    bytes_in_by_peer: Counter[str] = field(default_factory=Counter)  # peer address -> bytes
    bytes_out_by_peer: Counter[str] = field(default_factory=Counter)
    handshake_failures: Counter[str] = field(default_factory=Counter)
    dial_failures: Counter[str] = field(default_factory=Counter)
    disconnect_reasons: Counter[str] = field(default_factory=Counter)

    def snapshot(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in vars(self).items():
            out[name] = dict(value) if isinstance(value, Counter) else value
        return out


def set_nodelay(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def abort(writer: asyncio.StreamWriter) -> None:
    """Drop a connection now, unsent bytes included, and wait until the socket is closed."""
    writer.transport.abort()
    with contextlib.suppress(Exception):
        async with asyncio.timeout(1.0):
            await writer.wait_closed()


class OutboundLink:
    """The sending side towards one peer; survives any number of reconnects."""

    def __init__(
        self,
        peer: PeerInfo,
        key: ValidatorKey,
        settings: TransportSettings,
        stats: NetStats,
        logger: logging.Logger,
        on_resolved: Callable[[str], None] | None = None,
    ) -> None:
        self.peer = peer
        self._on_resolved = on_resolved
        self._key = key
        self._cfg = settings
        self._stats = stats
        self._log = logger
        self._queue: deque[bytes] = deque()
        self._wake = asyncio.Event()
        self._writer: asyncio.StreamWriter | None = None  # while authenticated and sending
        self._pending: list[bytes] = []  # this loop turn's frames for an idle link
        self.connected = False
        self.generation = 0  # see P2PNetwork.link_generation
        self._last_failure = ""  # why the latest dial failed, for the link_down warning

    @property
    def queued(self) -> int:
        return len(self._queue) + len(self._pending)

    def enqueue(self, frame: bytes) -> None:
        """Never blocks: when the queue is full the oldest frame goes, as it is the stalest.

        On an idle, connected link (nothing queued, nothing unsent in the socket's buffer)
        the frames of this event-loop turn leave together in one write right after it
        (``_flush``): a broadcast to N peers would otherwise wake N sender tasks. Anything
        else (backpressure, a reconnect) goes through the queue and the task, in order.
        """
        if len(self._pending) >= self._cfg.queue_size:
            self._requeue_pending()  # a turn that floods one link: the queue's bound from here
        if self._pending:
            self._pending.append(frame)
        elif self._idle_writer() is not None:
            self._pending.append(frame)
            asyncio.get_running_loop().call_soon(self._flush)
        else:
            self._queue_frame(frame)

    def _queue_frame(self, frame: bytes) -> None:
        if len(self._queue) >= self._cfg.queue_size:
            self._queue.popleft()
            self._stats.messages_dropped += 1
            self.generation += 1
        self._queue.append(frame)
        self._wake.set()

    async def run(self) -> None:
        """Dial, authenticate, send; on any failure back off (with jitter) and start over."""
        loop = asyncio.get_running_loop()
        delay = self._cfg.backoff_initial
        down_since = next_report = loop.time()
        while True:
            started = loop.time()
            try:
                was_up = await self._connect_once()
            except Exception as exc:  # a bug here must not silence the link for good
                was_up = False
                self._last_failure = "internal_error"
                self._stats.dial_failures["internal_error"] += 1
                self._log.exception("p2p.link_error peer=%s error=%r", self.peer.address, exc)
            now = loop.time()
            if was_up:
                down_since = next_report = now
            elif now - down_since >= self._cfg.dead_after and now >= next_report:
                # Each failed dial is logged quietly; a link that stays down is not quiet.
                next_report = now + self._cfg.dead_after
                log_event(
                    self._log,
                    logging.WARNING,
                    "p2p.link_down",
                    peer=self.peer.address,
                    down_s=round(now - down_since, 1),
                    last_failure=self._last_failure,
                )
            if was_up and now - started >= self._cfg.stable_after:
                delay = self._cfg.backoff_initial
            # Jitter keeps a restarted node from being hit by every peer at the same instant.
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, self._cfg.backoff_max)

    async def _connect_once(self) -> bool:
        peer = self.peer
        try:
            async with asyncio.timeout(self._cfg.connect_timeout):
                reader, writer = await asyncio.open_connection(
                    peer.endpoint_host, peer.endpoint_port
                )
        except (OSError, TimeoutError) as exc:
            self._last_failure = "connect"
            self._stats.dial_failures["connect"] += 1
            log_event(self._log, logging.DEBUG, "p2p.dial_failed", peer=peer.address, error=exc)
            return False
        try:
            set_nodelay(writer)
            remote = writer.get_extra_info("peername")
            if self._on_resolved is not None and isinstance(remote, tuple) and remote:
                self._on_resolved(str(remote[0]))  # the address this peer's link comes from
            try:
                await dial_handshake(
                    reader,
                    writer,
                    key=self._key,
                    chain_id=self._cfg.chain_id,
                    expected_public_key=peer.public_key,
                    timeout=self._cfg.handshake_timeout,
                )
            except HandshakeError as exc:
                self._last_failure = f"handshake:{exc.reason}"
                self._stats.dial_failures[exc.reason] += 1
                level = logging.DEBUG if exc.reason in _QUIET_DIAL_REASONS else logging.WARNING
                log_event(
                    self._log,
                    level,
                    "p2p.dial_handshake_failed",
                    peer=peer.address,
                    reason=exc.reason,
                    detail=exc.detail,
                )
                return False
            self.connected = True
            self.generation += 1
            self._stats.connects += 1
            log_event(
                self._log,
                logging.INFO,
                "p2p.outbound_connected",
                peer=peer.address,
                queued=len(self._queue),
            )
            reason = "error"
            try:
                reason = await self._pump(reader, writer)
            finally:
                self.connected = False
                self._stats.disconnects += 1
                self._stats.disconnect_reasons[reason] += 1
                log_event(
                    self._log,
                    logging.INFO,
                    "p2p.outbound_disconnected",
                    peer=peer.address,
                    reason=reason,
                    queued=len(self._queue),
                )
            return True
        finally:
            await abort(writer)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str:
        """Send queued frames until the connection dies; returns why it died."""
        watcher = asyncio.create_task(self._watch(reader, writer))
        watcher.add_done_callback(lambda _t: self._wake.set())
        write_error = ""
        try:
            await self._send_loop(writer, watcher)
        except (ConnectionError, OSError) as exc:
            write_error = f"write_failed:{type(exc).__name__}"
        finally:
            if not watcher.done():
                watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        # The watcher usually sees the cause (EOF, silence) first; a failed write is the rest.
        if not watcher.cancelled():
            return watcher.result()
        return write_error or "stopped"

    async def _send_loop(self, writer: asyncio.StreamWriter, watcher: asyncio.Future[str]) -> None:
        loop = asyncio.get_running_loop()
        interval = self._cfg.keepalive_interval
        ping_due = True
        timer: asyncio.TimerHandle | None = None

        def due() -> None:
            nonlocal ping_due
            ping_due = True
            self._wake.set()

        self._writer = writer
        try:
            while not watcher.done():
                chunks: list[bytes] = []
                if ping_due:
                    # One timer per keepalive, not one per wait: most waits end in a frame.
                    chunks.append(KEEPALIVE_FRAME)
                    ping_due = False
                    timer = loop.call_later(interval, due)
                if self._queue:
                    # At most once: a frame leaves the queue when written, so a frame caught
                    # in a dying connection is lost rather than sent twice.
                    batch = list(self._queue)
                    self._queue.clear()
                    self._count_out(batch)
                    chunks += batch
                if chunks:
                    if writer.transport.is_closing():
                        # uvloop raises RuntimeError on a write to a closed transport,
                        # asyncio drops it: either way the connection is gone.
                        raise ConnectionResetError("transport closed")
                    # One write, one send call, for the batch and a keepalive that is due.
                    writer.write(chunks[0] if len(chunks) == 1 else b"".join(chunks))
                    await writer.drain()
                    continue
                self._wake.clear()
                if self._queue or ping_due or watcher.done():
                    continue
                await self._wake.wait()
        finally:
            self._writer = None
            if timer is not None:
                timer.cancel()

    def _idle_writer(self) -> asyncio.StreamWriter | None:
        """The connection's writer when the link is up with nothing queued or unsent."""
        writer = self._writer
        if writer is None or self._queue:
            return None
        transport = writer.transport
        if transport.is_closing() or transport.get_write_buffer_size():
            return None
        return writer

    def _requeue_pending(self) -> None:
        frames, self._pending = self._pending, []
        for frame in frames:
            self._queue_frame(frame)

    def _flush(self) -> None:
        """The frames enqueued during one turn of the loop: one write, or the queue (the
        link went down or backed up meanwhile)."""
        writer = self._idle_writer()
        if writer is None:
            self._requeue_pending()
        elif self._pending:
            frames, self._pending = self._pending, []
            writer.write(frames[0] if len(frames) == 1 else b"".join(frames))
            self._count_out(frames)

    def _count_out(self, frames: tuple[bytes, ...] | list[bytes]) -> None:
        sent = sum(map(len, frames))
        self._stats.frames_out += len(frames)
        self._stats.bytes_out += sent
        self._stats.bytes_out_by_peer[self.peer.address] += sent

    async def _watch(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str:
        """Read the listener's side: only keepalive answers may come; EOF or silence is death."""
        try:
            while True:
                async with asyncio.timeout(self._cfg.dead_after):
                    payload = await read_frame_bytes(reader, 0)
                if payload is None:
                    return "eof"
        except TimeoutError:
            return "keepalive_timeout"
        except FrameError:
            return "listener_sent_data"
        except (ConnectionError, OSError):
            return "reset"
        finally:
            # Unblocks a sender stuck in drain() on a stalled link.
            writer.transport.abort()
