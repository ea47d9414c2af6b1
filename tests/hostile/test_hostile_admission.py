"""An idle flood cannot starve a real peer; refusals are counted and logged sparsely."""

from __future__ import annotations

import asyncio
import logging

import pytest
from net_helpers import CHAIN_ID, KEYS, Cluster, Recorder, wait_until

from clp_node.logs import LogLimiter
from clp_node.net import P2PNetwork
from clp_node.net.admission import (
    SOURCE_LIMIT,
    TOO_MANY_PENDING,
    Admission,
    AdmissionLimits,
)
from clp_node.net.framing import encode_frame
from clp_node.net.handshake import hello_message, new_nonce

ADDR = [k.address for k in KEYS]
A, B = 0, 1
KNOWN = "10.0.0.1"


def _admission(**limits: int) -> Admission:
    return Admission(AdmissionLimits(**limits), lambda source: source == KNOWN)


def test_waiting_pool_full_evicts_oldest_from_an_unknown_source_first() -> None:
    adm = _admission(max_waiting=3, max_waiting_per_source=3)
    adm.arrive("known-old", KNOWN)
    adm.arrive("flood-1", "6.6.6.6")
    adm.arrive("flood-2", "6.6.6.6")
    arrival = adm.arrive("known-new", KNOWN)
    assert arrival.evict == ("flood-1",) and arrival.reason == TOO_MANY_PENDING
    assert adm.waiting == 3


def test_unknown_source_is_bounded_per_source_and_only_displaces_itself() -> None:
    adm = _admission(max_waiting=100, max_waiting_per_source=2)
    adm.arrive("other", "7.7.7.7")
    adm.arrive("f1", "6.6.6.6")
    adm.arrive("f2", "6.6.6.6")
    arrival = adm.arrive("f3", "6.6.6.6")
    assert arrival.evict == ("f1",) and arrival.reason == SOURCE_LIMIT
    # A known source has no per-source bound.
    for i in range(10):
        assert adm.arrive(f"k{i}", KNOWN).evict == ()


def test_handshake_stage_is_bounded_per_source_and_in_total() -> None:
    """A flood that sends a hello (a validator's public key is public) and then stalls."""
    adm = _admission(max_handshakes=2, max_handshakes_per_source=1)
    for conn, source in (("u1", "6.6.6.6"), ("u2", "6.6.6.6"), ("k1", KNOWN), ("k2", KNOWN)):
        adm.arrive(conn, source)
    assert adm.hello("u1").evict == ()
    step = adm.hello("u2")  # the unknown source displaces its own oldest
    assert step.evict == ("u1",) and step.reason == SOURCE_LIMIT and not step.refused
    assert adm.hello("k1").evict == ()
    step = adm.hello("k2")  # full: an unknown source's connection goes first
    assert step.evict == ("u2",) and step.reason == TOO_MANY_PENDING
    assert adm.handshaking == 2 and adm.waiting == 0
    assert adm.hello("u1").refused  # it was evicted: no slot
    adm.leave("k1")
    adm.leave("k2")
    assert adm.handshaking == 0


def test_log_limiter_lets_one_line_per_interval_and_reports_the_rest() -> None:
    now = [0.0]
    limiter = LogLimiter(5.0, clock=lambda: now[0])
    assert limiter.allow("x") == 0
    assert [limiter.allow("x") for _ in range(99)] == [None] * 99
    assert limiter.allow("y") == 0
    now[0] = 5.0
    assert limiter.allow("x") == 99


async def _idle_flood(net: P2PNetwork, count: int) -> list[asyncio.StreamWriter]:
    """``count`` connections that never send a byte, from 127.0.0.1 like the real peers."""
    writers = []
    for _ in range(count):
        _r, w = await asyncio.open_connection("127.0.0.1", net.listen_port)
        writers.append(w)
    return writers


async def test_real_peer_gets_in_while_80_idle_connections_are_held(cluster: Cluster) -> None:
    """The issue's flood: the listener used to refuse every handshake while it lasted."""
    rec_a = Recorder()
    a = cluster.node(A, [B], rec_a, handshake_timeout=5.0)
    await a.start()
    flood = await _idle_flood(a, 80)
    try:
        b = cluster.node(B, [A], Recorder())
        await b.start()
        b.send(ADDR[A], {"during": "flood"})
        await wait_until(
            lambda: rec_a.messages == [(ADDR[B], {"during": "flood"})], what="B's message"
        )
        assert all(not w.is_closing() for w in flood[-64:]), "the flood was not even held"
    finally:
        for w in flood:
            w.close()


async def test_overflowing_flood_evicts_idle_connections_not_the_real_peer(
    cluster: Cluster,
) -> None:
    rejected: list[tuple[str, str]] = []
    rec_a = Recorder()
    a = cluster.node(
        A,
        [B],
        rec_a,
        handshake_timeout=5.0,
        admission=AdmissionLimits(max_waiting=8),
        on_rejected=lambda stage, reason: rejected.append((stage, reason)),
    )
    await a.start()
    flood = await _idle_flood(a, 20)
    try:
        await wait_until(lambda: len(rejected) == 12, what="12 evictions")
        assert set(rejected) == {("handshake", TOO_MANY_PENDING)}
        assert a.stats()["handshake_failures"] == {TOO_MANY_PENDING: 12}
        b = cluster.node(B, [A], Recorder())
        await b.start()
        b.send(ADDR[A], {"past": "the pool"})
        await wait_until(lambda: len(rec_a.messages) == 1, what="B's message")
    finally:
        for w in flood:
            w.close()


async def test_refusals_are_logged_at_most_once_per_interval(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: too_many_pending was never logged and every other refusal logged a line."""
    a = cluster.node(
        A, [B], Recorder(), handshake_timeout=5.0, admission=AdmissionLimits(max_waiting=2)
    )
    await a.start()
    with caplog.at_level(logging.WARNING, logger="clp_node.net"):
        flood = await _idle_flood(a, 30)
        await wait_until(lambda: a.stats()["handshake_failures"].get(TOO_MANY_PENDING) == 28)
        for _ in range(10):  # ten bad hellos: refused as malformed
            r, w = await asyncio.open_connection("127.0.0.1", a.listen_port)
            w.write(b"\x00\x00\x00\x02{}")
            await r.read()
            w.close()
        await wait_until(lambda: a.stats()["handshake_failures"].get("malformed") == 10)
    for w in flood:
        w.close()
    refused = [r for r in caplog.records if getattr(r, "event", "") == "p2p.inbound_refused"]
    reasons = [r.fields["reason"] for r in refused]  # type: ignore[attr-defined]
    assert sorted(reasons) == ["malformed", TOO_MANY_PENDING], reasons


async def test_outbound_dialling_is_unaffected_by_an_inbound_flood(cluster: Cluster) -> None:
    """A flooded node still reaches its peers: admission only ever touches inbound."""
    rec_b = Recorder()
    a = cluster.node(A, [B], Recorder(), admission=AdmissionLimits(max_waiting=2))
    b = cluster.node(B, [A], rec_b)
    await a.start()
    flood = await _idle_flood(a, 40)
    try:
        await b.start()
        a.send(ADDR[B], {"from": "the flooded node"})
        await wait_until(lambda: rec_b.messages == [(ADDR[A], {"from": "the flooded node"})])
        assert a.stats()["handshake_failures"].get(TOO_MANY_PENDING, 0) >= 38
    finally:
        for w in flood:
            w.close()


async def test_stalled_hellos_do_not_starve_a_real_peer(cluster: Cluster) -> None:
    """Connections that send a valid-looking hello and then never authenticate."""
    rec_a = Recorder()
    a = cluster.node(
        A, [B], rec_a, handshake_timeout=5.0, admission=AdmissionLimits(max_handshakes=4)
    )
    await a.start()
    stalled = []
    for _ in range(12):
        r, w = await asyncio.open_connection("127.0.0.1", a.listen_port)
        w.write(encode_frame(hello_message(CHAIN_ID, KEYS[B].public_key, new_nonce())))
        await r.readexactly(4)  # A answered our hello: we hold a handshake slot
        stalled.append(w)
    try:
        assert a.stats()["handshake_failures"].get(TOO_MANY_PENDING) == 8
        b = cluster.node(B, [A], Recorder())
        await b.start()
        b.send(ADDR[A], {"past": "stalled hellos"})
        await wait_until(lambda: len(rec_a.messages) == 1, what="B's message")
    finally:
        for w in stalled:
            w.close()
