"""Length-prefixed JSON frames: 4-byte big-endian payload length, then a UTF-8 JSON object.

The size cap is checked on the length prefix, before any of the body is read, so a
hostile peer cannot make the node buffer more than ``max_frame_bytes`` for one frame.
A zero-length frame is a transport keepalive (see ``KEEPALIVE_FRAME``), never a message.
"""

from __future__ import annotations

import asyncio
import json
import struct
from typing import Any

DEFAULT_MAX_FRAME_BYTES = 4 * 1024 * 1024
HEADER_BYTES = 4
_HEADER = struct.Struct(">I")
KEEPALIVE_FRAME = _HEADER.pack(0)


class FrameError(Exception):
    """A frame that must close its connection; ``reason`` is the counter label."""

    reason = "malformed"

    def __init__(self, detail: str = "") -> None:
        super().__init__(f"{self.reason}: {detail}" if detail else self.reason)
        self.detail = detail


class FrameTooLarge(FrameError):
    reason = "oversized"


class FrameTruncated(FrameError):
    reason = "truncated"


class FrameNotJson(FrameError):
    reason = "not_json"


class FrameNotObject(FrameError):
    reason = "not_object"


def _reject_constant(name: str) -> Any:
    # NaN/Infinity are not JSON; accepting them would let two nodes disagree on a value.
    raise ValueError(f"non-standard JSON constant {name}")


def encode_payload(message: dict[str, Any]) -> bytes:
    """The JSON body of a frame; compact and ASCII-only so it is valid UTF-8 by construction."""
    if not isinstance(message, dict):
        raise FrameNotObject(f"a message must be a dict, got {type(message).__name__}")
    try:
        text = json.dumps(message, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise FrameNotJson(str(exc)) from exc
    return text.encode("ascii")


def encode_frame(message: dict[str, Any], max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> bytes:
    """A complete frame; refuses at the sender what every receiver would refuse anyway."""
    payload = encode_payload(message)
    if len(payload) > max_frame_bytes:
        raise FrameTooLarge(f"{len(payload)} bytes > cap {max_frame_bytes}")
    return _HEADER.pack(len(payload)) + payload


def decode_payload(payload: bytes) -> dict[str, Any]:
    try:
        value = json.loads(payload.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        # RecursionError: deeply nested hostile input must not escape as a crash.
        raise FrameNotJson(str(exc)[:200]) from exc
    if not isinstance(value, dict):
        raise FrameNotObject(f"payload is a JSON {type(value).__name__}, not an object")
    return value


def decode_frame(
    data: bytes, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
) -> tuple[dict[str, Any], bytes]:
    """Decode the first frame of ``data``; returns the message and the bytes after it."""
    if len(data) < HEADER_BYTES:
        raise FrameTruncated(f"{len(data)} of {HEADER_BYTES} header bytes")
    (length,) = _HEADER.unpack_from(data)
    if length > max_frame_bytes:
        raise FrameTooLarge(f"length prefix {length} > cap {max_frame_bytes}")
    end = HEADER_BYTES + length
    if len(data) < end:
        raise FrameTruncated(f"{len(data) - HEADER_BYTES} of {length} body bytes")
    return decode_payload(data[HEADER_BYTES:end]), data[end:]


async def read_frame_bytes(reader: asyncio.StreamReader, max_frame_bytes: int) -> bytes | None:
    """The raw payload of the next frame (``b""`` for a keepalive); None on EOF between frames."""
    try:
        header = await reader.readexactly(HEADER_BYTES)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise FrameTruncated(f"EOF after {len(exc.partial)} header bytes") from exc
    (length,) = _HEADER.unpack(header)
    if length > max_frame_bytes:
        raise FrameTooLarge(f"length prefix {length} > cap {max_frame_bytes}")
    if length == 0:
        return b""
    try:
        return await reader.readexactly(length)
    except asyncio.IncompleteReadError as exc:
        raise FrameTruncated(f"EOF after {len(exc.partial)} of {length} body bytes") from exc


class FrameReader:
    """Frames of one stream, read in chunks: one read (and one timeout) serves every frame
    that has already arrived, instead of two reads per frame.

    The cap is still checked on each length prefix as soon as it is in: at most one chunk
    of an oversized frame is ever buffered.
    """

    CHUNK = 64 * 1024

    def __init__(self, reader: asyncio.StreamReader, max_frame_bytes: int) -> None:
        self._reader = reader
        self._max = max_frame_bytes
        self._buf = bytearray()
        self._pos = 0

    def next_buffered(self) -> bytes | None:
        """The payload of the next frame if it is complete in the buffer (``b""``: keepalive)."""
        buf, pos = self._buf, self._pos
        if len(buf) - pos < HEADER_BYTES:
            return None
        (length,) = _HEADER.unpack_from(buf, pos)
        if length > self._max:
            raise FrameTooLarge(f"length prefix {length} > cap {self._max}")
        end = pos + HEADER_BYTES + length
        if len(buf) < end:
            return None
        self._pos = end
        return bytes(buf[pos + HEADER_BYTES : end])

    async def fill(self) -> bool:
        """Wait for more bytes; False on EOF between frames, FrameTruncated inside one."""
        data = await self._reader.read(self.CHUNK)
        pending = len(self._buf) - self._pos
        if not data:
            if pending == 0:
                return False
            if pending < HEADER_BYTES:
                raise FrameTruncated(f"EOF after {pending} header bytes")
            (length,) = _HEADER.unpack_from(self._buf, self._pos)
            got = pending - HEADER_BYTES
            raise FrameTruncated(f"EOF after {got} of {length} body bytes")
        if self._pos:
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data
        return True


async def read_frame(reader: asyncio.StreamReader, max_frame_bytes: int) -> dict[str, Any] | None:
    """The next message; None on a clean EOF. A keepalive is not a message here."""
    payload = await read_frame_bytes(reader, max_frame_bytes)
    if payload is None:
        return None
    return decode_payload(payload)
