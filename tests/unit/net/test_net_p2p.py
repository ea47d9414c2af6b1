"""Running nodes on 127.0.0.1: delivery, ordering, reconnects, directed links, shutdown."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import pytest
from net_helpers import CHAIN_ID, KEYS, Cluster, Recorder, wait_until

from clp_node.net import FrameError, P2PNetwork, PeerInfo
from clp_node.net.framing import encode_frame
from clp_node.net.handshake import dial_handshake, listen_handshake

ADDR = [k.address for k in KEYS]


async def test_three_nodes_exchange_in_all_directions_in_order(cluster: Cluster) -> None:
    recs = [Recorder() for _ in range(3)]
    nodes = [cluster.node(i, [j for j in range(3) if j != i], recs[i]) for i in range(3)]
    for n in nodes:
        await n.start()
    await wait_until(
        lambda: all(len(n.connected_peers()) == 2 and len(n.inbound_peers()) == 2 for n in nodes),
        what="full mesh",
    )
    assert nodes[0].connected_peers() == {ADDR[1], ADDR[2]}
    assert nodes[0].inbound_peers() == {ADDR[1], ADDR[2]}
    count = 200
    for seq in range(count):
        for i, n in enumerate(nodes):
            for j in range(3):
                if j != i:
                    assert n.send(ADDR[j], {"from": i, "to": j, "seq": seq})
    await wait_until(lambda: all(len(r.messages) == 2 * count for r in recs), what="delivery")
    for j, rec in enumerate(recs):
        for i in range(3):
            if i == j:
                continue
            got = rec.from_(ADDR[i])
            assert got == [{"from": i, "to": j, "seq": s} for s in range(count)], (i, j)
    stats = nodes[0].stats()
    assert stats["frames_out"] == 2 * count
    assert stats["frames_in"] == 2 * count
    assert stats["bytes_in"] > 0 and stats["bytes_out"] > 0
    assert stats["connects"] == 2 and stats["inbound_connects"] == 2
    assert stats["rejected_frames"] == {} and stats["handshake_failures"] == {}


async def test_broadcast_reaches_every_peer(cluster: Cluster) -> None:
    recs = [Recorder() for _ in range(3)]
    nodes = [cluster.node(i, [j for j in range(3) if j != i], recs[i]) for i in range(3)]
    for n in nodes:
        await n.start()
    assert nodes[0].broadcast({"type": "block", "height": 1}) == 2
    await wait_until(lambda: len(recs[1].messages) == 1 and len(recs[2].messages) == 1)
    assert recs[1].messages == [(ADDR[0], {"type": "block", "height": 1})]
    assert recs[2].messages == [(ADDR[0], {"type": "block", "height": 1})]
    assert recs[0].messages == []


async def test_send_contract(cluster: Cluster) -> None:
    node = cluster.node(0, [1], Recorder(), max_frame_bytes=100)
    assert node.send(ADDR[2], {"x": 1}) is False  # not a configured peer
    assert node.send(ADDR[1], {"x": 1}) is True  # queued even before start
    assert node.queued(ADDR[1]) == 1
    with pytest.raises(FrameError):
        node.send(ADDR[1], {"x": "y" * 200})
    with pytest.raises(FrameError):
        node.send(ADDR[1], {"x": object()})
    await node.stop()
    assert node.send(ADDR[1], {"x": 2}) is False


def test_constructor_validates_peers() -> None:
    good = PeerInfo(ADDR[1], KEYS[1].public_key, "127.0.0.1", 1)
    with pytest.raises(ValueError):
        PeerInfo(ADDR[1], KEYS[2].public_key, "127.0.0.1", 1)
    with pytest.raises(ValueError):
        P2PNetwork(KEYS[0], CHAIN_ID, "127.0.0.1", 0, {ADDR[2]: good}, Recorder())
    own = PeerInfo(ADDR[0], KEYS[0].public_key, "127.0.0.1", 1)
    with pytest.raises(ValueError):
        P2PNetwork(KEYS[0], CHAIN_ID, "127.0.0.1", 0, {ADDR[0]: own}, Recorder())


async def test_messages_to_a_down_peer_arrive_when_it_starts(cluster: Cluster) -> None:
    rec_b = Recorder()
    a = cluster.node(0, [1], Recorder())
    await a.start()
    for seq in range(5):
        a.send(ADDR[1], {"seq": seq})
    await wait_until(lambda: a.stats()["dial_failures"].get("connect", 0) >= 2, what="retries")
    assert a.connected_peers() == set()
    assert a.queued(ADDR[1]) == 5
    b = cluster.node(1, [0], rec_b)
    await b.start()
    await wait_until(lambda: len(rec_b.messages) == 5, what="queued delivery")
    assert rec_b.from_(ADDR[0]) == [{"seq": s} for s in range(5)]
    assert a.queued(ADDR[1]) == 0


async def test_queue_is_bounded_and_drops_oldest(cluster: Cluster) -> None:
    rec_b = Recorder()
    a = cluster.node(0, [1], Recorder(), queue_size=3)
    await a.start()
    for seq in range(10):
        a.send(ADDR[1], {"seq": seq})
    assert a.queued(ADDR[1]) == 3
    assert a.stats()["messages_dropped"] == 7
    b = cluster.node(1, [0], rec_b)
    await b.start()
    await wait_until(lambda: len(rec_b.messages) == 3)
    assert rec_b.from_(ADDR[0]) == [{"seq": 7}, {"seq": 8}, {"seq": 9}]


async def _idle_link(cluster: Cluster, rec_b: Recorder, queue_size: int = 1024) -> P2PNetwork:
    a = cluster.node(0, [1], Recorder(), queue_size=queue_size)
    b = cluster.node(1, [0], rec_b)
    await a.start()
    await b.start()
    await wait_until(lambda: a.connected_peers() == {ADDR[1]} and ADDR[0] in b.inbound_peers())
    await wait_until(lambda: a.queued(ADDR[1]) == 0, what="idle link")
    return a


async def test_frames_of_one_loop_turn_leave_an_idle_link_in_one_write(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No sender task is woken per frame: what one turn enqueues goes out in one write."""
    rec_b = Recorder()
    a = await _idle_link(cluster, rec_b)
    writer = a._links[ADDR[1]]._writer
    assert writer is not None
    writes: list[bytes] = []
    real_write = writer.write

    def write(data: bytes) -> None:
        writes.append(data)
        real_write(data)

    monkeypatch.setattr(writer, "write", write)
    for seq in range(50):
        a.send(ADDR[1], {"seq": seq})
    assert writes == [] and a.queued(ADDR[1]) == 50  # held until the turn ends
    await wait_until(lambda: len(rec_b.messages) == 50)
    assert rec_b.from_(ADDR[0]) == [{"seq": s} for s in range(50)]
    data_writes = [w for w in writes if len(w) > 4]  # (a keepalive may come on its own)
    assert data_writes == [b"".join(encode_frame({"seq": s}) for s in range(50))]
    assert a.stats()["frames_out"] == 50


async def test_a_turn_that_floods_an_idle_link_keeps_the_queue_bound_and_order(
    cluster: Cluster,
) -> None:
    rec_b = Recorder()
    a = await _idle_link(cluster, rec_b, queue_size=3)
    for seq in range(10):
        a.send(ADDR[1], {"seq": seq})
    assert a.queued(ADDR[1]) == 3 and a.stats()["messages_dropped"] == 7
    await wait_until(lambda: len(rec_b.messages) == 3)
    assert rec_b.from_(ADDR[0]) == [{"seq": 7}, {"seq": 8}, {"seq": 9}]


async def test_reconnect_after_peer_restart(cluster: Cluster) -> None:
    rec_a, rec_b1, rec_b2 = Recorder(), Recorder(), Recorder()
    a = cluster.node(0, [1], rec_a)
    b1 = cluster.node(1, [0], rec_b1)
    await a.start()
    await b1.start()
    await wait_until(lambda: a.connected_peers() == {ADDR[1]} and b1.connected_peers() == {ADDR[0]})
    a.send(ADDR[1], {"n": 1})
    await wait_until(lambda: len(rec_b1.messages) == 1)

    await b1.stop()
    # EOF from the peer's side is noticed at once, not at the keepalive deadline.
    await wait_until(lambda: a.connected_peers() == set(), timeout=1.0, what="A notices")
    await wait_until(lambda: a.inbound_peers() == set(), timeout=1.0)
    a.send(ADDR[1], {"n": 2})
    a.send(ADDR[1], {"n": 3})

    b2 = cluster.node(1, [0], rec_b2)  # same key, same port: the restarted process
    await b2.start()
    await wait_until(lambda: len(rec_b2.messages) == 2, what="delivery after restart")
    assert rec_b2.from_(ADDR[0]) == [{"n": 2}, {"n": 3}]
    b2.send(ADDR[0], {"back": True})
    await wait_until(lambda: rec_a.messages == [(ADDR[1], {"back": True})])
    st = a.stats()
    assert st["connects"] == 2 and st["disconnects"] == 1
    # EOF, or RST when B closed with our keepalive still unread in its buffer.
    assert sum(st["disconnect_reasons"].values()) == 1
    assert set(st["disconnect_reasons"]) <= {"eof", "reset"}


async def test_directed_link_rule_with_relay(cluster: Cluster) -> None:
    """Cutting the proxy for A->B stops A->B only; B->A keeps flowing, A->B is held."""
    rec_a, rec_b = Recorder(), Recorder()
    relay = await cluster.relay(to=1)
    a = cluster.node(0, [1], rec_a, endpoints={1: relay.port})
    b = cluster.node(1, [0], rec_b)
    await a.start()
    await b.start()
    await wait_until(lambda: a.connected_peers() == {ADDR[1]} and b.connected_peers() == {ADDR[0]})
    assert relay.accepted >= 1
    a.send(ADDR[1], {"ab": 0})
    b.send(ADDR[0], {"ba": 0})
    await wait_until(lambda: len(rec_a.messages) == 1 and len(rec_b.messages) == 1)

    await relay.disable()
    await wait_until(lambda: a.connected_peers() == set(), timeout=1.0, what="A->B cut seen")
    await wait_until(lambda: b.inbound_peers() == set(), timeout=1.0)
    assert b.connected_peers() == {ADDR[0]}  # B->A untouched
    assert a.inbound_peers() == {ADDR[1]}

    a.send(ADDR[1], {"ab": 1})
    for seq in range(1, 21):
        b.send(ADDR[0], {"ba": seq})
    await wait_until(lambda: len(rec_a.messages) == 21, what="B->A still flows")
    # A->B must not have sneaked over B's connection to A: B got nothing new, A holds it.
    assert rec_b.from_(ADDR[0]) == [{"ab": 0}]
    assert a.queued(ADDR[1]) == 1
    assert b.stats()["frames_out"] == 21

    await relay.enable()  # the link heals: the held message goes through
    await wait_until(lambda: len(rec_b.messages) == 2, what="A->B after heal")
    assert rec_b.from_(ADDR[0]) == [{"ab": 0}, {"ab": 1}]


async def test_blackholed_link_is_detected_by_keepalive(cluster: Cluster) -> None:
    """A link that swallows bytes without closing (Toxiproxy's timeout toxic) is not 'up'."""
    rec_b = Recorder()
    relay = await cluster.relay(to=1)
    # B gives up later than A: when B drops its side first, the relay closes A's too and
    # A sees EOF instead of the silence this test is about. Both run on one event loop,
    # whose timers fire in deadline order however loaded the machine is.
    a = cluster.node(0, [1], Recorder(), endpoints={1: relay.port}, dead_after=0.6)
    b = cluster.node(1, [0], rec_b, dead_after=1.5)
    await a.start()
    await b.start()
    await wait_until(lambda: a.connected_peers() == {ADDR[1]})
    relay.blackhole = True
    await wait_until(lambda: a.connected_peers() == set(), timeout=2.0, what="dead link seen")
    assert a.stats()["disconnect_reasons"] == {"keepalive_timeout": 1}
    # B, too, drops the silent inbound connection rather than keeping it forever.
    await wait_until(lambda: b.inbound_peers() == set(), timeout=4.0)
    a.send(ADDR[1], {"held": 1})
    relay.blackhole = False
    await wait_until(lambda: rec_b.messages == [(ADDR[0], {"held": 1})], what="after heal")


async def test_dialler_that_ends_without_stop_is_restarted(cluster: Cluster) -> None:
    """A dialler ends only at stop(): if anything else ends it (a stray CancelledError,
    which OutboundLink.run rightly lets through), the link must not stay down for good."""
    rec_b = Recorder()
    a = cluster.node(0, [1], Recorder())
    b = cluster.node(1, [0], rec_b)
    link = a._links[ADDR[1]]
    real_connect = link._connect_once
    calls = 0

    async def cancelled_once() -> bool:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise asyncio.CancelledError  # not from stop(): nobody cancelled the task
        return await real_connect()

    link._connect_once = cancelled_once  # type: ignore[method-assign]
    await a.start()
    await b.start()
    a.send(ADDR[1], {"n": 1})
    await wait_until(lambda: rec_b.messages == [(ADDR[0], {"n": 1})], what="sent after restart")
    assert a.stats()["link_restarts"] == 1
    assert a.connected_peers() == {ADDR[1]}


async def test_link_that_stays_down_is_reported(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    """Failed dials are logged quietly, but a link down for dead_after is a warning."""
    caplog.set_level(logging.WARNING, logger="clp_node.net")
    a = cluster.node(0, [1], Recorder(), keepalive_interval=0.05, dead_after=0.3)
    await a.start()  # B never starts: every dial is refused

    def down_reports() -> list[dict[str, Any]]:
        return [
            getattr(r, "fields", {})
            for r in caplog.records
            if getattr(r, "event", "") == "p2p.link_down"
        ]

    await wait_until(lambda: len(down_reports()) >= 2, what="two link_down warnings")
    first, second = down_reports()[:2]
    assert first["peer"] == ADDR[1] and first["last_failure"] == "connect"
    assert first["down_s"] >= 0.3 and second["down_s"] >= first["down_s"] + 0.25


async def test_on_message_exception_does_not_kill_connection(cluster: Cluster) -> None:
    got: list[dict[str, Any]] = []

    def flaky(sender: str, msg: dict[str, Any]) -> None:
        if msg.get("boom"):
            raise RuntimeError("application bug")
        got.append(msg)

    a = cluster.node(0, [1], Recorder())
    b = cluster.node(1, [0], flaky)
    await a.start()
    await b.start()
    a.send(ADDR[1], {"boom": True})
    a.send(ADDR[1], {"n": 1})
    await wait_until(lambda: got == [{"n": 1}])
    st = b.stats()
    assert st["callback_errors"] == 1
    assert st["inbound_connects"] == 1 and st["inbound_disconnects"] == 0
    assert a.stats()["connects"] == 1


async def test_second_inbound_from_same_peer_replaces_first(cluster: Cluster) -> None:
    rec_a = Recorder()
    a = cluster.node(0, [1], rec_a)
    await a.start()
    port = a.listen_port

    async def connect_as_b() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        await dial_handshake(
            r, w, key=KEYS[1], chain_id=CHAIN_ID, expected_public_key=KEYS[0].public_key
        )
        return r, w

    r1, w1 = await connect_as_b()
    await wait_until(lambda: a.inbound_peers() == {ADDR[1]})
    _r2, w2 = await connect_as_b()
    # The first connection is closed by A: reading it hits EOF.
    assert await asyncio.wait_for(r1.read(), 2.0) == b""
    w2.write(b"\x00\x00\x00\x0b" + b'{"via":"2"}')
    await w2.drain()
    await wait_until(lambda: rec_a.messages == [(ADDR[1], {"via": "2"})])
    assert a.inbound_peers() == {ADDR[1]}
    assert a.stats()["inbound_connects"] == 2
    for w in (w1, w2):
        w.close()


async def test_listen_port_zero_and_clean_stop(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    a = P2PNetwork(KEYS[0], CHAIN_ID, "127.0.0.1", 0, {}, Recorder())
    cluster.nodes.append(a)
    await a.start()
    port = a.listen_port
    assert port > 0

    rec = Recorder()
    b = cluster.node(1, [2], rec)
    c = cluster.node(2, [1], Recorder())
    await b.start()
    await c.start()
    await wait_until(lambda: b.connected_peers() == {ADDR[2]} and b.inbound_peers() == {ADDR[2]})
    # A half-open hostile connection is pending in b's handshake while we stop.
    _r, w = await asyncio.open_connection("127.0.0.1", b.listen_port)
    await wait_until(lambda: len(b._inbound_tasks) == 2)
    await b.stop()
    await b.stop()  # idempotent
    await c.stop()
    await a.stop()
    leftover = {t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()}
    assert leftover == set()
    # asyncio itself must have nothing to complain about (e.g. "Exception in callback").
    assert [r for r in caplog.records if r.name == "asyncio"] == []
    # The attacker's socket was closed by the node, and every listen port is free again.
    assert await asyncio.wait_for(_r.read(), 1.0) == b""
    w.close()
    for p in (port, cluster.ports[ADDR[1]], cluster.ports[ADDR[2]]):
        with socket.socket() as s:
            # SO_REUSEADDR tolerates TIME_WAIT leftovers but not a listener still bound.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", p))
            s.listen()


async def test_idle_healthy_link_stays_up_past_dead_after(cluster: Cluster) -> None:
    """Keepalive answers keep a quiet link alive: no spurious reconnect churn."""
    a = cluster.node(0, [1], Recorder(), keepalive_interval=0.05, dead_after=0.5)
    b = cluster.node(1, [0], Recorder(), keepalive_interval=0.05, dead_after=0.5)
    await a.start()
    await b.start()
    await wait_until(lambda: a.connected_peers() == {ADDR[1]} and b.inbound_peers() == {ADDR[0]})
    loop = asyncio.get_running_loop()
    end = loop.time() + 1.5  # three dead_after periods with no application traffic
    while loop.time() < end:
        assert a.connected_peers() == {ADDR[1]}
        await asyncio.sleep(0.02)
    for n in (a, b):
        st = n.stats()
        assert st["disconnects"] == 0 and st["inbound_disconnects"] == 0, st
        assert st["connects"] == 1


async def test_dialler_drops_link_when_listener_sends_data(cluster: Cluster) -> None:
    """A listener may answer keepalives only; any message from it breaks the directed rule."""

    async def rogue(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await listen_handshake(
            r, w, key=KEYS[1], chain_id=CHAIN_ID, allowed={KEYS[0].public_key: ADDR[0]}
        )
        w.write(encode_frame({"type": "vote"}))
        await w.drain()
        await r.read()
        w.close()

    server = await asyncio.start_server(rogue, "127.0.0.1", cluster.ports[ADDR[1]])
    rec_a = Recorder()
    a = cluster.node(0, [1], rec_a)
    try:
        await a.start()
        await wait_until(lambda: a.stats()["disconnect_reasons"].get("listener_sent_data", 0) >= 1)
        assert rec_a.messages == []  # never delivered to the application
    finally:
        await a.stop()
        server.close()


class _ClosedTransport:
    """A transport the peer has closed; writing raises as uvloop's does."""

    def is_closing(self) -> bool:
        return True


class _ClosedWriter:
    transport = _ClosedTransport()

    def write(self, data: bytes) -> None:
        raise RuntimeError("unable to perform operation on <TCPTransport closed=True>")


async def test_a_write_to_a_closed_transport_is_a_reset_not_an_internal_error() -> None:
    from clp_node.net.handshake import HandshakeError, _write
    from clp_node.net.peer import NetStats, OutboundLink, TransportSettings

    peer = PeerInfo(KEYS[1].address, KEYS[1].public_key, "127.0.0.1", 9)
    link = OutboundLink(
        peer, KEYS[0], TransportSettings(CHAIN_ID, 1024), NetStats(), logging.getLogger("t")
    )
    link.enqueue(encode_frame({"x": 1}))
    watcher = asyncio.get_running_loop().create_future()  # never done: the link looks alive
    with pytest.raises(ConnectionResetError):
        await link._send_loop(_ClosedWriter(), watcher)  # type: ignore[arg-type]
    with pytest.raises(HandshakeError) as err:
        await _write(_ClosedWriter(), {"type": "hello"})  # type: ignore[arg-type]
    assert err.value.reason == "closed"


class _Transport:
    aborted = False

    def abort(self) -> None:
        self.aborted = True


async def test_an_idle_deadline_aborts_only_after_that_long_without_a_read() -> None:
    from clp_node.net.node import IdleDeadline

    loop = asyncio.get_running_loop()
    t = _Transport()
    deadline = IdleDeadline(t, 0.2)  # type: ignore[arg-type]
    start = loop.time()
    while loop.time() - start < 0.4:  # reads keep coming: never expires
        touched = loop.time()  # (no later than the deadline's own reading)
        deadline.touch()
        await asyncio.sleep(0.02)
        if loop.time() - touched < 0.2:  # (a loaded machine may oversleep past it)
            assert not deadline.expired and not t.aborted
    await wait_until(lambda: deadline.expired, timeout=2.0, what="expired")
    # never before 0.2 s without a touch, measured on the clock the deadline uses
    assert t.aborted and loop.time() - touched >= 0.2
    deadline.cancel()
