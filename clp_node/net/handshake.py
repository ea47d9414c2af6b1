"""Signed mutual handshake run on every new P2P connection, in both roles.

Flow (each line one frame):
    dialer   -> listener  {"type": "hello", "chain_id", "public_key", "nonce"}
    listener -> dialer    {"type": "hello", ...}   (only if the dialer is acceptable)
    dialer   -> listener  {"type": "auth", "signature"}
    listener -> dialer    {"type": "auth", "signature"}   (only if the dialer's verified)

Each signature covers both fresh nonces, so a recorded handshake cannot be replayed, and
the signer's role, so a dialer's signature cannot be reflected back as a listener's.
The handshake authenticates the connection's endpoints only; it does not encrypt or MAC
later frames (application messages that matter are signed by the application).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from typing import Any, Literal

from clp_node.chain.keys import (
    PUBLIC_KEY_BYTES,
    SIGNATURE_BYTES,
    ValidatorKey,
    address_from_public_key,
    verify_signature,
)
from clp_node.net.framing import FrameError, encode_frame, read_frame

DOMAIN_TAG = b"clp.p2p.handshake.v1"
NONCE_BYTES = 32
HANDSHAKE_MAX_FRAME_BYTES = 4096
DEFAULT_HANDSHAKE_TIMEOUT = 3.0

Role = Literal["dialer", "listener"]


class HandshakeError(Exception):
    """The handshake failed; ``reason`` is the counter label."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def new_nonce() -> bytes:
    return os.urandom(NONCE_BYTES)


def sign_bytes(
    chain_id: str, dialer_nonce: bytes, listener_nonce: bytes, role: Role, public_key: bytes
) -> bytes:
    """The bytes a side signs; the chain id is length-prefixed so fields cannot be shifted."""
    chain = chain_id.encode("utf-8")
    return b"".join(
        (
            DOMAIN_TAG,
            len(chain).to_bytes(2, "big"),
            chain,
            dialer_nonce,
            listener_nonce,
            role.encode("ascii"),
            public_key,
        )
    )


def hello_message(chain_id: str, public_key: bytes, nonce: bytes) -> dict[str, Any]:
    return {
        "type": "hello",
        "chain_id": chain_id,
        "public_key": public_key.hex(),
        "nonce": nonce.hex(),
    }


def auth_message(signature: bytes) -> dict[str, Any]:
    return {"type": "auth", "signature": signature.hex()}


def _hex_field(msg: dict[str, Any], name: str, size: int) -> bytes:
    value = msg.get(name)
    if not isinstance(value, str) or len(value) != 2 * size:
        raise HandshakeError("malformed", f"field {name!r} must be {2 * size} hex chars")
    try:
        return bytes.fromhex(value)
    except ValueError as exc:
        raise HandshakeError("malformed", f"field {name!r} is not hex") from exc


def parse_hello(msg: dict[str, Any]) -> tuple[str, bytes, bytes]:
    """(chain_id, public_key, nonce) of a well-formed hello."""
    if msg.get("type") != "hello":
        raise HandshakeError("malformed", f"expected hello, got type {msg.get('type')!r}")
    chain_id = msg.get("chain_id")
    if not isinstance(chain_id, str):
        raise HandshakeError("malformed", "field 'chain_id' must be a string")
    return (
        chain_id,
        _hex_field(msg, "public_key", PUBLIC_KEY_BYTES),
        _hex_field(msg, "nonce", NONCE_BYTES),
    )


def parse_auth(msg: dict[str, Any]) -> bytes:
    if msg.get("type") != "auth":
        raise HandshakeError("malformed", f"expected auth, got type {msg.get('type')!r}")
    return _hex_field(msg, "signature", SIGNATURE_BYTES)


async def _read(reader: asyncio.StreamReader) -> dict[str, Any]:
    try:
        msg = await read_frame(reader, HANDSHAKE_MAX_FRAME_BYTES)
    except FrameError as exc:
        raise HandshakeError(exc.reason, exc.detail) from exc
    except (ConnectionError, OSError) as exc:
        raise HandshakeError("closed", str(exc)) from exc
    if msg is None:
        raise HandshakeError("closed", "peer closed the connection during the handshake")
    return msg


async def read_hello(reader: asyncio.StreamReader) -> dict[str, Any]:
    """The dialer's first frame, read on its own so admission can see it arrive."""
    return await _read(reader)


async def _write(writer: asyncio.StreamWriter, msg: dict[str, Any]) -> None:
    if writer.transport.is_closing():  # uvloop raises RuntimeError on such a write
        raise HandshakeError("closed", "connection closed during the handshake")
    try:
        writer.write(encode_frame(msg, HANDSHAKE_MAX_FRAME_BYTES))
        await writer.drain()
    except (ConnectionError, OSError) as exc:
        raise HandshakeError("closed", str(exc)) from exc


def _check_signature(
    chain_id: str,
    dialer_nonce: bytes,
    listener_nonce: bytes,
    role: Role,
    public_key: bytes,
    signature: bytes,
) -> None:
    message = sign_bytes(chain_id, dialer_nonce, listener_nonce, role, public_key)
    if not verify_signature(public_key, message, signature):
        raise HandshakeError("bad_signature", f"{role} signature does not verify")


async def dial_handshake(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    key: ValidatorKey,
    chain_id: str,
    expected_public_key: bytes,
    timeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
) -> None:
    """Authenticate the node we dialled; it must hold the key configured for the endpoint."""
    own_key = key.public_key
    nonce = new_nonce()
    try:
        async with asyncio.timeout(timeout):
            await _write(writer, hello_message(chain_id, own_key, nonce))
            their_chain, their_key, their_nonce = parse_hello(await _read(reader))
            if their_chain != chain_id:
                raise HandshakeError("wrong_chain", f"peer is on chain {their_chain[:64]!r}")
            if their_key != expected_public_key:
                reason = "self" if their_key == own_key else "unexpected_peer"
                raise HandshakeError(
                    reason, f"endpoint answered as {address_from_public_key(their_key)}"
                )
            if their_nonce == nonce:
                raise HandshakeError("malformed", "peer reflected our nonce")
            signature = key.sign(sign_bytes(chain_id, nonce, their_nonce, "dialer", own_key))
            await _write(writer, auth_message(signature))
            their_sig = parse_auth(await _read(reader))
            _check_signature(chain_id, nonce, their_nonce, "listener", their_key, their_sig)
    except TimeoutError as exc:
        raise HandshakeError("timeout", f"no complete handshake within {timeout}s") from exc


async def listen_handshake(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    key: ValidatorKey,
    chain_id: str,
    allowed: Mapping[bytes, str],
    timeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
    hello: dict[str, Any] | None = None,
) -> str:
    """Authenticate an inbound dialer against ``allowed`` (public key -> address); its address.

    ``hello``: the dialer's first frame when the caller has already read it.
    """
    own_key = key.public_key
    try:
        async with asyncio.timeout(timeout):
            first = hello if hello is not None else await _read(reader)
            their_chain, their_key, their_nonce = parse_hello(first)
            if their_chain != chain_id:
                raise HandshakeError("wrong_chain", f"dialer is on chain {their_chain[:64]!r}")
            if their_key == own_key:
                raise HandshakeError("self", "a node dialled itself")
            address = allowed.get(their_key)
            if address is None:
                raise HandshakeError(
                    "unknown_peer", f"{address_from_public_key(their_key)} is not a validator"
                )
            nonce = new_nonce()
            await _write(writer, hello_message(chain_id, own_key, nonce))
            their_sig = parse_auth(await _read(reader))
            _check_signature(chain_id, their_nonce, nonce, "dialer", their_key, their_sig)
            signature = key.sign(sign_bytes(chain_id, their_nonce, nonce, "listener", own_key))
            await _write(writer, auth_message(signature))
            return address
    except TimeoutError as exc:
        raise HandshakeError("timeout", f"no complete handshake within {timeout}s") from exc
