"""Hostile input against a running node: each attempt is refused, counted, and harmless."""

from __future__ import annotations

import asyncio
import os
import random
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from net_helpers import CHAIN_ID, KEYS, Cluster, Recorder, wait_until

from clp_node.net import P2PNetwork
from clp_node.net.framing import encode_frame, read_frame, read_frame_bytes
from clp_node.net.handshake import (
    auth_message,
    dial_handshake,
    hello_message,
    new_nonce,
    sign_bytes,
)

ADDR = [k.address for k in KEYS]
_RNG = random.Random(20261125)


def _noise(n: int) -> bytes:
    """Seeded random bytes whose first byte makes the length prefix far exceed any cap here."""
    return b"\x7f" + _RNG.randbytes(n - 1)


A, B, C, OUTSIDER = 0, 1, 2, 4  # C is a validator A knows but that is not running


async def _pair(cluster: Cluster) -> tuple[P2PNetwork, P2PNetwork, Recorder, Recorder]:
    rec_a, rec_b = Recorder(), Recorder()
    a = cluster.node(A, [B, C], rec_a, handshake_timeout=0.5)
    b = cluster.node(B, [A], rec_b)
    await a.start()
    await b.start()
    await wait_until(lambda: ADDR[B] in a.connected_peers() and b.connected_peers() == {ADDR[A]})
    return a, b, rec_a, rec_b


async def _still_works(a: P2PNetwork, b: P2PNetwork, rec_a: Recorder, rec_b: Recorder) -> None:
    """The node under attack still talks to its real peer both ways."""
    tag = os.urandom(4).hex()
    a.send(ADDR[B], {"check": tag})
    b.send(ADDR[A], {"check": tag})
    await wait_until(
        lambda: {"check": tag} in rec_b.from_(ADDR[A]) and {"check": tag} in rec_a.from_(ADDR[B]),
        what="real peers still exchange messages",
    )
    assert b.connected_peers() == {ADDR[A]} and ADDR[B] in a.connected_peers()
    assert a.inbound_peers() >= {ADDR[B]}


async def _closed_by_node(reader: asyncio.StreamReader) -> bytes:
    """Everything the node sent before closing; fails if it keeps the connection open."""
    chunks = []
    try:
        async with asyncio.timeout(3.0):
            while chunk := await reader.read(65536):
                chunks.append(chunk)
    except ConnectionResetError:
        pass
    return b"".join(chunks)


async def _open(node: P2PNetwork) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", node.listen_port)


async def _send(w: asyncio.StreamWriter, data: bytes | dict[str, Any]) -> None:
    w.write(data if isinstance(data, bytes) else encode_frame(data))
    await w.drain()


async def _hello(
    w: asyncio.StreamWriter, key_index: int, chain: str = CHAIN_ID, nonce: bytes | None = None
) -> bytes:
    nonce = nonce or new_nonce()
    await _send(w, hello_message(chain, KEYS[key_index].public_key, nonce))
    return nonce


Attack = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def random_bytes(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    await _send(w, _noise(3000))


async def oversized_prefix(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    await _send(w, struct.pack(">I", 0xFFFFFFF0))  # no body follows: must not wait for one


async def not_json_hello(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    await _send(w, b"\x00\x00\x00\x05hello")


async def not_object_hello(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    await _send(w, b"\x00\x00\x00\x02[]")


async def malformed_hello(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    await _send(w, {"type": "hello", "chain_id": CHAIN_ID, "public_key": "zz", "nonce": 5})


async def auth_before_hello(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    await _send(w, auth_message(b"\x00" * 64))


async def wrong_chain(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    await _hello(w, B, chain="some-other-chain")


async def unknown_key(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    await _hello(w, OUTSIDER)


async def own_key(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    await _hello(w, A)


async def bad_signature(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    await _hello(w, C)
    reply = await read_frame(r, 4096)
    assert reply is not None and reply["type"] == "hello"
    await _send(w, auth_message(os.urandom(64)))


async def signature_for_wrong_nonce(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    # A real key, a real signature, but over a stale transcript: a replay.
    nonce = await _hello(w, C)
    reply = await read_frame(r, 4096)
    assert reply is not None
    stale = sign_bytes(CHAIN_ID, nonce, new_nonce(), "dialer", KEYS[C].public_key)
    await _send(w, auth_message(KEYS[C].sign(stale)))


async def silent(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    return None  # say nothing; the handshake timeout must fire


async def truncated_hello(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    frame = encode_frame(hello_message(CHAIN_ID, KEYS[C].public_key, new_nonce()))
    await _send(w, frame[:-5])
    w.write_eof()


HANDSHAKE_ATTACKS: list[tuple[Attack, str]] = [
    (random_bytes, "oversized"),
    (oversized_prefix, "oversized"),
    (not_json_hello, "not_json"),
    (not_object_hello, "not_object"),
    (malformed_hello, "malformed"),
    (auth_before_hello, "malformed"),
    (wrong_chain, "wrong_chain"),
    (unknown_key, "unknown_peer"),
    (own_key, "self"),
    (bad_signature, "bad_signature"),
    (signature_for_wrong_nonce, "bad_signature"),
    (silent, "timeout"),
    (truncated_hello, "truncated"),
]


@pytest.mark.parametrize(
    ("attack", "reason"), HANDSHAKE_ATTACKS, ids=lambda x: getattr(x, "__name__", x)
)
async def test_handshake_attack_refused(cluster: Cluster, attack: Attack, reason: str) -> None:
    a, b, rec_a, rec_b = await _pair(cluster)
    r, w = await _open(a)
    await attack(r, w)
    sent_back = await _closed_by_node(r)
    w.close()
    await wait_until(lambda: a.stats()["handshake_failures"].get(reason, 0) == 1, what=reason)
    assert sum(a.stats()["handshake_failures"].values()) == 1
    # Nothing authenticated was granted, nothing delivered to the application.
    assert a.inbound_peers() == {ADDR[B]}
    assert rec_a.messages == []
    if reason != "bad_signature":
        # The node says nothing (not even its hello) to a dialer it has not accepted.
        assert sent_back == b""
    await _still_works(a, b, rec_a, rec_b)


async def _authenticated_as_c(a: P2PNetwork) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    r, w = await _open(a)
    await dial_handshake(
        r, w, key=KEYS[C], chain_id=CHAIN_ID, expected_public_key=KEYS[A].public_key
    )
    await wait_until(lambda: ADDR[C] in a.inbound_peers(), what="C authenticated")
    return r, w


POST_HANDSHAKE_GARBAGE: list[tuple[bytes, str]] = [
    (_noise(2000), "oversized"),
    (struct.pack(">I", 0x7FFFFFFF), "oversized"),
    (b"\x00\x00\x00\x04\xff\xfe\xfd\xfc", "not_json"),
    (b"\x00\x00\x00\x07[1,2,3]", "not_object"),
    (b"\x00\x00\x00\x00", "none"),  # a keepalive is fine; this row checks it stays open
]


@pytest.mark.parametrize(
    ("garbage", "reason"),
    POST_HANDSHAKE_GARBAGE,
    ids=["random", "oversized_prefix", "not_utf8", "not_object", "keepalive_ok"],
)
async def test_garbage_after_valid_handshake(cluster: Cluster, garbage: bytes, reason: str) -> None:
    rec_a, rec_b = Recorder(), Recorder()
    a = cluster.node(A, [B, C], rec_a, max_frame_bytes=1024)
    b = cluster.node(B, [A], rec_b)
    await a.start()
    await b.start()
    r, w = await _authenticated_as_c(a)
    await _send(w, {"first": "valid"})
    await wait_until(lambda: rec_a.from_(ADDR[C]) == [{"first": "valid"}])
    await _send(w, garbage)
    if reason == "none":
        assert await asyncio.wait_for(read_frame_bytes(r, 0), 2.0) == b""  # keepalive answer
        await _send(w, {"second": "valid"})
        await wait_until(lambda: rec_a.from_(ADDR[C]) == [{"first": "valid"}, {"second": "valid"}])
        assert a.stats()["rejected_frames"] == {}
        w.close()
        return
    await _closed_by_node(r)
    w.close()
    await wait_until(lambda: a.stats()["rejected_frames"] == {reason: 1}, what=reason)
    await wait_until(lambda: ADDR[C] not in a.inbound_peers())
    assert rec_a.from_(ADDR[C]) == [{"first": "valid"}]
    await wait_until(lambda: b.connected_peers() == {ADDR[A]} and ADDR[B] in a.connected_peers())
    await _still_works(a, b, rec_a, rec_b)


async def test_dialler_refuses_impostor_at_peer_endpoint(cluster: Cluster) -> None:
    """A's endpoint for C is answered by B: A must not treat B as C."""
    rec_b = Recorder()
    a = cluster.node(A, [C], Recorder(), endpoints={C: cluster.ports[ADDR[B]]})
    b = cluster.node(B, [A], rec_b)
    await a.start()
    await b.start()
    await wait_until(lambda: a.stats()["dial_failures"].get("unexpected_peer", 0) >= 1)
    assert a.connected_peers() == set()
    assert b.inbound_peers() == set()
    a.send(ADDR[C], {"for": "C only"})
    await wait_until(lambda: a.stats()["dial_failures"].get("unexpected_peer", 0) >= 3)
    assert rec_b.messages == []
    assert a.queued(ADDR[C]) == 1
