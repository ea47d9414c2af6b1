"""The handshake on its own, both roles over a real loopback socket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from net_helpers import CHAIN_ID, KEYS

from clp_node.chain.keys import verify_signature
from clp_node.net.framing import encode_frame, read_frame
from clp_node.net.handshake import (
    HandshakeError,
    dial_handshake,
    hello_message,
    listen_handshake,
    new_nonce,
    sign_bytes,
)

A, B, C = KEYS[0], KEYS[1], KEYS[2]
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def listener(handler: Handler) -> AsyncIterator[int]:
    """A one-off server whose handler tasks and sockets are all gone on exit."""
    tasks: set[asyncio.Task[None]] = set()
    writers: list[asyncio.StreamWriter] = []

    async def tracked(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        writers.append(w)
        await handler(r, w)

    server = await asyncio.start_server(tracked, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for w in writers:
            w.transport.abort()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


async def run_pair(
    *,
    listener_key: object = B,
    dialer_chain: str = CHAIN_ID,
    listener_chain: str = CHAIN_ID,
    expected: bytes | None = None,
    allowed: dict[bytes, str] | None = None,
) -> tuple[str | BaseException, BaseException | None]:
    """Run one handshake; (listener outcome, dialer error or None)."""
    result: asyncio.Future[str | BaseException] = asyncio.get_running_loop().create_future()

    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            addr = await listen_handshake(
                r,
                w,
                key=listener_key,  # type: ignore[arg-type]
                chain_id=listener_chain,
                allowed=allowed if allowed is not None else {A.public_key: A.address},
                timeout=1.0,
            )
            result.set_result(addr)
        except HandshakeError as exc:
            result.set_result(exc)
        finally:
            w.close()

    async with listener(handle) as port:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        dial_error: BaseException | None = None
        try:
            await dial_handshake(
                r,
                w,
                key=A,
                chain_id=dialer_chain,
                expected_public_key=expected if expected is not None else B.public_key,
                timeout=1.0,
            )
        except HandshakeError as exc:
            dial_error = exc
        finally:
            w.close()
        return await asyncio.wait_for(result, 2.0), dial_error


def test_sign_bytes_bind_every_field() -> None:
    d, n = new_nonce(), new_nonce()
    base = sign_bytes(CHAIN_ID, d, n, "dialer", A.public_key)
    variants = [
        sign_bytes(CHAIN_ID + "x", d, n, "dialer", A.public_key),
        sign_bytes(CHAIN_ID, n, d, "dialer", A.public_key),
        sign_bytes(CHAIN_ID, d, n, "listener", A.public_key),
        sign_bytes(CHAIN_ID, d, n, "dialer", B.public_key),
    ]
    assert base.startswith(b"clp.p2p.handshake.v1")
    assert all(v != base for v in variants)
    sig = A.sign(base)
    assert verify_signature(A.public_key, base, sig)
    assert not any(verify_signature(A.public_key, v, sig) for v in variants)


async def test_mutual_handshake_succeeds() -> None:
    outcome, dial_error = await run_pair()
    assert dial_error is None
    assert outcome == A.address


async def test_listener_refuses_wrong_chain() -> None:
    outcome, dial_error = await run_pair(dialer_chain="other-chain")
    assert isinstance(outcome, HandshakeError) and outcome.reason == "wrong_chain"
    assert isinstance(dial_error, HandshakeError) and dial_error.reason == "closed"


async def test_dialer_refuses_listener_on_other_chain() -> None:
    """A fake listener answers with the right key but another chain id."""

    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await read_frame(r, 4096)
        w.write(encode_frame(hello_message("other-chain", B.public_key, new_nonce())))
        await w.drain()
        await r.read()  # hold the connection until the dialer gives up
        w.close()

    async with listener(handle) as port:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        with pytest.raises(HandshakeError) as info:
            await dial_handshake(
                r, w, key=A, chain_id=CHAIN_ID, expected_public_key=B.public_key, timeout=1.0
            )
        w.close()
    assert info.value.reason == "wrong_chain"


async def test_listener_refuses_unknown_key() -> None:
    outcome, dial_error = await run_pair(allowed={C.public_key: C.address})
    assert isinstance(outcome, HandshakeError) and outcome.reason == "unknown_peer"
    assert dial_error is not None


async def test_dialer_refuses_node_that_is_not_the_configured_peer() -> None:
    # A meant to dial C, but the endpoint is served by B (a valid validator).
    outcome, dial_error = await run_pair(expected=C.public_key)
    assert isinstance(dial_error, HandshakeError) and dial_error.reason == "unexpected_peer"
    assert isinstance(outcome, HandshakeError) and outcome.reason == "closed"


async def test_self_connection_refused_by_both_roles() -> None:
    outcome, dial_error = await run_pair(
        listener_key=A, expected=B.public_key, allowed={A.public_key: A.address}
    )
    assert isinstance(outcome, HandshakeError) and outcome.reason == "self"
    assert dial_error is not None


async def test_listener_times_out_silent_dialer() -> None:
    result: asyncio.Future[BaseException] = asyncio.get_running_loop().create_future()

    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        with pytest.raises(HandshakeError) as info:
            await listen_handshake(r, w, key=B, chain_id=CHAIN_ID, allowed={}, timeout=0.2)
        result.set_result(info.value)
        w.close()

    async with listener(handle) as port:
        _r, w = await asyncio.open_connection("127.0.0.1", port)
        err = await asyncio.wait_for(result, 2.0)
        w.close()
    assert isinstance(err, HandshakeError) and err.reason == "timeout"
