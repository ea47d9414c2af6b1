"""The node's P2P transport: authenticated, framed, message-agnostic.

Directed links: we send to peer j only over the connection we dial to j's configured
endpoint, and we receive only on connections j dialled to us. The harness cuts the link
i->j by disabling one proxy, so mixing directions would make partitions leak.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from clp_node.chain.keys import ValidatorKey
from clp_node.logs import LogLimiter, log_event
from clp_node.net.admission import Admission, AdmissionLimits, Arrival
from clp_node.net.framing import (
    DEFAULT_MAX_FRAME_BYTES,
    KEEPALIVE_FRAME,
    FrameError,
    FrameReader,
    decode_payload,
    encode_frame,
)
from clp_node.net.handshake import HandshakeError, listen_handshake, read_hello
from clp_node.net.peer import (
    NetStats,
    OutboundLink,
    PeerInfo,
    TransportSettings,
    abort,
    set_nodelay,
)

OnMessage = Callable[[str, Any], None]
# A frame's payload -> the message handed to on_message; raises FrameError for a payload
# that must close the connection (default: ``decode_payload``, a JSON object as a dict).
Decode = Callable[[bytes], Any]
# (stage, reason): stage "handshake" before authentication, "frame" after it.
OnRejected = Callable[[str, str], None]

_DEFAULT_LOGGER = logging.getLogger("clp_node.net")


@dataclass
class _Inbound:
    peer: str
    writer: asyncio.StreamWriter


class P2PNetwork:
    """Connections to and from the other validators; delivers each valid frame to on_message.

    All methods must be called from the event loop's thread. ``on_message`` runs inline on
    the receiving task, so it should be quick (e.g. put the message on a queue).
    """

    def __init__(
        self,
        key: ValidatorKey,
        chain_id: str,
        listen_host: str,
        listen_port: int,
        peers: Mapping[str, PeerInfo],
        on_message: OnMessage,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        logger: logging.Logger | None = None,
        *,
        queue_size: int = TransportSettings.queue_size,
        handshake_timeout: float = TransportSettings.handshake_timeout,
        connect_timeout: float = TransportSettings.connect_timeout,
        backoff_initial: float = TransportSettings.backoff_initial,
        backoff_max: float = TransportSettings.backoff_max,
        keepalive_interval: float = TransportSettings.keepalive_interval,
        dead_after: float = TransportSettings.dead_after,
        admission: AdmissionLimits | None = None,
        on_rejected: OnRejected | None = None,
        log_interval_s: float = 5.0,
        decode: Decode = decode_payload,
    ) -> None:
        if max_frame_bytes < 1:
            raise ValueError("max_frame_bytes must be positive")
        if queue_size < 1:
            raise ValueError("queue_size must be positive")
        if dead_after <= keepalive_interval:
            raise ValueError("dead_after must exceed keepalive_interval")
        for addr, info in peers.items():
            if addr != info.address:
                raise ValueError(f"peers[{addr!r}] holds the PeerInfo of {info.address}")
            if addr == key.address:
                raise ValueError(f"peer list contains this node's own address {addr}")
        self._key = key
        self._listen_host = listen_host
        self._listen_port = listen_port
        self._peers = dict(peers)
        self._on_message = on_message
        self._decode = decode
        self._log = logger if logger is not None else _DEFAULT_LOGGER
        self._on_rejected = on_rejected
        self._log_limit = LogLimiter(log_interval_s)
        # Where our peers' links come from: the endpoints we dial (literal IPs at once,
        # names once a dial has resolved them).
        self._known_sources = {
            info.endpoint_host for info in self._peers.values() if _is_ip(info.endpoint_host)
        }
        self._admission: Admission[asyncio.StreamWriter] = Admission(
            admission or AdmissionLimits(), self._known_sources.__contains__
        )
        self._evicted: set[asyncio.StreamWriter] = set()
        self._cfg = TransportSettings(
            chain_id=chain_id,
            max_frame_bytes=max_frame_bytes,
            queue_size=queue_size,
            handshake_timeout=handshake_timeout,
            connect_timeout=connect_timeout,
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
            stable_after=max(backoff_max, 2 * keepalive_interval),
            keepalive_interval=keepalive_interval,
            dead_after=dead_after,
        )
        self._stats = NetStats()
        self._allowed = {info.public_key: addr for addr, info in self._peers.items()}
        self._links = {
            addr: OutboundLink(
                info, key, self._cfg, self._stats, self._log, self._known_sources.add
            )
            for addr, info in self._peers.items()
        }
        self._link_tasks: dict[str, asyncio.Task[None]] = {}
        self._server: asyncio.Server | None = None
        self._bound_port: int | None = None
        self._inbound: dict[str, _Inbound] = {}
        self._inbound_tasks: set[asyncio.Task[Any]] = set()
        self._started = False
        self._stopped = False

    # ---- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Listen, then start one dialler per peer."""
        if self._started:
            raise RuntimeError("P2PNetwork.start() called twice")
        self._started = True
        self._server = await asyncio.start_server(
            self._handle_inbound, self._listen_host, self._listen_port
        )
        self._bound_port = int(self._server.sockets[0].getsockname()[1])
        for addr in self._links:
            self._start_link(addr)
        log_event(
            self._log,
            logging.INFO,
            "p2p.started",
            address=self._key.address,
            listen=f"{self._listen_host}:{self.listen_port}",
            peers=len(self._peers),
        )

    async def stop(self) -> None:
        """Close the listener and every connection; returns when all our tasks have ended."""
        if self._stopped:
            return
        self._stopped = True
        if self._server is not None:
            self._server.close()
        tasks: list[asyncio.Task[Any]] = [*self._link_tasks.values(), *self._inbound_tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for conn in list(self._inbound.values()):
            await abort(conn.writer)
        self._inbound.clear()
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    await self._server.wait_closed()
        log_event(self._log, logging.INFO, "p2p.stopped", address=self._key.address)

    def _start_link(self, addr: str) -> None:
        task = asyncio.create_task(self._links[addr].run(), name=f"p2p-dial-{addr[:8]}")
        self._link_tasks[addr] = task
        task.add_done_callback(lambda t: self._link_ended(addr, t))

    def _link_ended(self, addr: str, task: asyncio.Task[None]) -> None:
        """A dialler ends only when stop() cancels it; any other end would cut the link for good.

        Nothing else would notice: the peer's inbound side just times out, and a stray
        CancelledError (which ``OutboundLink.run`` must let through) leaves no trace.
        """
        if self._stopped:
            return
        error = "cancelled" if task.cancelled() else repr(task.exception())
        self._stats.link_restarts += 1
        log_event(self._log, logging.ERROR, "p2p.link_restarted", peer=addr, error=error)

        def restart() -> None:
            if not self._stopped:
                self._start_link(addr)

        # Not at once: a dialler that dies on start must not spin the event loop.
        asyncio.get_running_loop().call_later(self._cfg.backoff_max, restart)

    # ---- sending ---------------------------------------------------------------------

    def send(self, peer_address: str, message: dict[str, Any]) -> bool:
        """Queue a message for one peer; False if the peer is unknown or we are stopped.

        Raises FrameError for a message that is not a JSON object or exceeds the frame cap:
        that is a bug in the caller, not a network condition.
        """
        link = self._links.get(peer_address)
        if link is None or self._stopped:
            return False
        link.enqueue(encode_frame(message, self._cfg.max_frame_bytes))
        return True

    def broadcast(self, message: dict[str, Any]) -> int:
        """Queue a message for every peer (encoded once); how many queues took it."""
        if self._stopped:
            return 0
        frame = encode_frame(message, self._cfg.max_frame_bytes)
        for link in self._links.values():
            link.enqueue(frame)
        return len(self._links)

    def send_frame(self, peer_addresses: list[str], frame: bytes) -> None:
        """Queue one already encoded frame (``encode_frame``) for some peers."""
        if self._stopped:
            return
        for addr in peer_addresses:
            link = self._links.get(addr)
            if link is not None:
                link.enqueue(frame)

    # ---- observation -----------------------------------------------------------------

    def link_generation(self, peer_address: str) -> int:
        """Changes whenever the link to the peer may have lost frames (a reconnect or a
        queue overflow): what was sent before is no longer known to have arrived."""
        link = self._links.get(peer_address)
        return link.generation if link is not None else -1

    @property
    def address(self) -> str:
        return self._key.address

    @property
    def listen_port(self) -> int:
        """The bound port (the real one when started with port 0)."""
        if self._bound_port is None:
            raise RuntimeError("P2PNetwork.start() has not been called")
        return self._bound_port

    @property
    def peers(self) -> Mapping[str, PeerInfo]:
        return dict(self._peers)

    def connected_peers(self) -> set[str]:
        """Peers we can currently send to (authenticated outbound connection)."""
        return {addr for addr, link in self._links.items() if link.connected}

    def inbound_peers(self) -> set[str]:
        """Peers currently connected to us (authenticated inbound connection)."""
        return set(self._inbound)

    def queued(self, peer_address: str) -> int:
        link = self._links.get(peer_address)
        return link.queued if link is not None else 0

    def stats(self) -> dict[str, Any]:
        """A snapshot of the counters; Counter fields become plain dicts keyed by reason."""
        snap = self._stats.snapshot()
        snap["connected_peers"] = len(self.connected_peers())
        snap["inbound_peers"] = len(self._inbound)
        snap["queued"] = {addr: link.queued for addr, link in self._links.items()}
        return snap

    # ---- receiving -------------------------------------------------------------------

    async def _handle_inbound(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._inbound_tasks.add(task)
        try:
            await self._serve_inbound(reader, writer)
        except asyncio.CancelledError:
            # Only stop() cancels these. Ending quietly matters: asyncio's server calls
            # task.exception() on this task, which logs a spurious error if it was cancelled.
            if not self._stopped:
                raise
        except Exception as exc:  # the listener must survive anything one connection does
            self._log.exception("p2p.inbound_error error=%r", exc)
        finally:
            if task is not None:
                self._inbound_tasks.discard(task)
            await abort(writer)

    def _refused(self, stage: str, reason: str, **fields: Any) -> None:
        """Count a refusal by reason; log it, at most once per reason and interval."""
        counter = (
            self._stats.handshake_failures if stage == "handshake" else self._stats.rejected_frames
        )
        counter[reason] += 1
        if self._on_rejected is not None:
            self._on_rejected(stage, reason)
        held = self._log_limit.allow(f"{stage}:{reason}")
        if held is not None:
            event = "p2p.inbound_refused" if stage == "handshake" else "p2p.frame_rejected"
            log_event(self._log, logging.WARNING, event, reason=reason, suppressed=held, **fields)

    def _evict(self, arrival: Arrival[asyncio.StreamWriter]) -> None:
        for victim in arrival.evict:
            self._evicted.add(victim)
            victim.transport.abort()
            self._refused("handshake", arrival.reason, remote=victim.get_extra_info("peername"))

    async def _serve_inbound(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if self._stopped:
            return
        remote = writer.get_extra_info("peername")
        source = str(remote[0]) if isinstance(remote, tuple) and remote else "?"
        self._evict(self._admission.arrive(writer, source))
        set_nodelay(writer)
        try:
            # One deadline from accept to authenticated, whatever the stage.
            async with asyncio.timeout(self._cfg.handshake_timeout):
                first = await read_hello(reader)
                step = self._admission.hello(writer)
                self._evict(step)
                if step.refused:
                    raise HandshakeError(step.reason, "no handshake slot free")
                peer = await listen_handshake(
                    reader,
                    writer,
                    key=self._key,
                    chain_id=self._cfg.chain_id,
                    allowed=self._allowed,
                    timeout=self._cfg.handshake_timeout,
                    hello=first,
                )
        except (HandshakeError, TimeoutError) as exc:
            if writer in self._evicted:
                return  # counted when it was evicted
            reason = exc.reason if isinstance(exc, HandshakeError) else "timeout"
            detail = exc.detail if isinstance(exc, HandshakeError) else ""
            self._refused("handshake", reason, remote=source, detail=detail)
            return
        finally:
            self._admission.leave(writer)
            self._evicted.discard(writer)
        conn = _Inbound(peer, writer)
        old = self._inbound.get(peer)
        self._inbound[peer] = conn
        self._stats.inbound_connects += 1
        log_event(
            self._log,
            logging.INFO,
            "p2p.inbound_connected",
            peer=peer,
            remote=remote,
            replaced=old is not None,
        )
        if old is not None:
            # The peer reconnected: its old connection is dead or half-dead on its side.
            await abort(old.writer)
        reason = ""
        try:
            reason = await self._receive_loop(peer, reader, writer)
        finally:
            reason = reason or ("stopped" if self._stopped else "error")
            if self._inbound.get(peer) is conn:
                del self._inbound[peer]
            self._stats.inbound_disconnects += 1
            level = logging.WARNING if reason.startswith("rejected") else logging.INFO
            log_event(self._log, level, "p2p.inbound_disconnected", peer=peer, reason=reason)

    async def _receive_loop(
        self, peer: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> str:
        frames = FrameReader(reader, self._cfg.max_frame_bytes)
        silence = IdleDeadline(writer.transport, self._cfg.dead_after)
        try:
            return await self._receive_frames(peer, frames, writer, silence)
        finally:
            silence.cancel()

    async def _receive_frames(
        self,
        peer: str,
        frames: FrameReader,
        writer: asyncio.StreamWriter,
        silence: IdleDeadline,
    ) -> str:
        while True:
            try:
                payload = frames.next_buffered()
                if payload is None:
                    try:
                        more = await frames.fill()
                    except (ConnectionError, OSError, FrameError):
                        if silence.expired:
                            return "keepalive_timeout"
                        raise
                    if silence.expired:
                        return "keepalive_timeout"
                    if not more:
                        return "eof"
                    silence.touch()
                    continue
                if not payload:
                    # Keepalive: answer so the dialler knows the link still works both ways.
                    if writer.transport.is_closing():
                        return "reset"  # (uvloop raises on a write to a closed transport)
                    writer.write(KEEPALIVE_FRAME)
                    if writer.transport.get_write_buffer_size() > self._cfg.max_unread_bytes:
                        return "dialler_not_reading"
                    continue
                message = self._decode(payload)
            except FrameError as exc:
                self._refused("frame", exc.reason, peer=peer, detail=exc.detail)
                return f"rejected:{exc.reason}"
            except (ConnectionError, OSError):
                return "reset"
            self._stats.frames_in += 1
            self._stats.bytes_in += len(payload) + 4
            self._stats.bytes_in_by_peer[peer] += len(payload) + 4
            try:
                self._on_message(peer, message)
            except Exception as exc:
                self._stats.callback_errors += 1
                self._log.exception("p2p.on_message_error peer=%s error=%r", peer, exc)


class IdleDeadline:
    """Aborts a transport that received nothing for ``after`` seconds (``touch`` on each
    read): one timer per ``after``, where a timeout around every read cost a timer each."""

    def __init__(self, transport: asyncio.WriteTransport, after: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._transport = transport
        self._after = after
        self._last = self._loop.time()
        self.expired = False
        self._timer = self._loop.call_later(after, self._check)

    def touch(self) -> None:
        self._last = self._loop.time()

    def _check(self) -> None:
        idle = self._loop.time() - self._last
        if idle >= self._after:
            self.expired = True
            self._transport.abort()
        else:
            self._timer = self._loop.call_later(self._after - idle, self._check)

    def cancel(self) -> None:
        self._timer.cancel()


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
