from __future__ import annotations

import asyncio
import json
import struct
from typing import Any

import pytest

from clp_node.net.framing import (
    KEEPALIVE_FRAME,
    FrameError,
    FrameNotJson,
    FrameNotObject,
    FrameReader,
    FrameTooLarge,
    FrameTruncated,
    decode_frame,
    decode_payload,
    encode_frame,
    read_frame,
    read_frame_bytes,
)


def _stream(data: bytes, eof: bool = True) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    if eof:
        reader.feed_eof()
    return reader


def _raw(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def _message_of_size(size: int) -> dict[str, Any]:
    """A message whose encoded payload is exactly ``size`` bytes."""
    overhead = len(encode_frame({"p": ""})) - 4
    msg = {"p": "x" * (size - overhead)}
    assert len(encode_frame(msg, size)) - 4 == size
    return msg


MESSAGES: list[dict[str, Any]] = [
    {},
    {"type": "vote", "height": 7, "round": 0, "ok": True, "none": None},
    {"nested": {"list": [1, 2.5, "three", {"four": [None]}]}, "neg": -3},
    {"unicode": "héllo — ✓ 𝄞", "big": 2**80},
]


@pytest.mark.parametrize("msg", MESSAGES)
def test_round_trip(msg: dict[str, Any]) -> None:
    frame = encode_frame(msg)
    assert struct.unpack(">I", frame[:4])[0] == len(frame) - 4
    decoded, rest = decode_frame(frame)
    assert decoded == msg
    assert rest == b""


@pytest.mark.parametrize("msg", MESSAGES)
async def test_round_trip_over_stream(msg: dict[str, Any]) -> None:
    reader = _stream(encode_frame(msg) + encode_frame({"after": 1}))
    assert await read_frame(reader, 1 << 20) == msg
    assert await read_frame(reader, 1 << 20) == {"after": 1}
    assert await read_frame(reader, 1 << 20) is None  # clean EOF between frames


def test_decode_frame_returns_following_bytes() -> None:
    a, b = encode_frame({"n": 1}), encode_frame({"n": 2})
    first, rest = decode_frame(a + b)
    assert first == {"n": 1}
    assert rest == b
    assert decode_frame(rest) == ({"n": 2}, b"")


def test_payload_is_utf8_json_object() -> None:
    frame = encode_frame({"s": "é"})
    assert json.loads(frame[4:].decode("utf-8")) == {"s": "é"}


async def test_cap_exactly_max_is_accepted() -> None:
    cap = 1000
    msg = _message_of_size(cap)
    frame = encode_frame(msg, cap)
    assert len(frame) == cap + 4
    assert decode_frame(frame, cap)[0] == msg
    assert await read_frame(_stream(frame), cap) == msg


async def test_cap_plus_one_rejected() -> None:
    cap = 1000
    msg = _message_of_size(cap + 1)
    with pytest.raises(FrameTooLarge):
        encode_frame(msg, cap)
    frame = encode_frame(msg, cap + 1)
    with pytest.raises(FrameTooLarge):
        decode_frame(frame, cap)
    with pytest.raises(FrameTooLarge):
        await read_frame(_stream(frame), cap)


async def test_oversized_rejected_before_body_is_read() -> None:
    # Only the header is available and the stream stays open: a reader that tried to
    # read the body would wait forever, so a prompt error proves the check comes first.
    reader = _stream(struct.pack(">I", 1001), eof=False)
    with pytest.raises(FrameTooLarge) as info:
        await asyncio.wait_for(read_frame(reader, 1000), timeout=1.0)
    assert info.value.reason == "oversized"
    huge = _stream(b"\xff\xff\xff\xff", eof=False)
    with pytest.raises(FrameTooLarge):
        await asyncio.wait_for(read_frame(huge, 4 * 1024 * 1024), timeout=1.0)


async def test_truncated_header_and_body() -> None:
    with pytest.raises(FrameTruncated) as info:
        await read_frame(_stream(b"\x00\x00"), 100)
    assert info.value.reason == "truncated"
    frame = encode_frame({"k": "value"})
    with pytest.raises(FrameTruncated):
        await read_frame(_stream(frame[:-1]), 100)
    with pytest.raises(FrameTruncated):
        decode_frame(frame[:-1])
    with pytest.raises(FrameTruncated):
        decode_frame(frame[:3])


@pytest.mark.parametrize(
    "payload",
    [
        b"{not json",
        b"\xff\xfe\x00",  # not UTF-8
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b"[" * 100_000 + b"]" * 100_000,  # nesting deep enough to exhaust recursion
        b'{"a": 1} trailing',
        b"",  # an empty frame is a keepalive, never a message
    ],
)
async def test_not_json(payload: bytes) -> None:
    with pytest.raises(FrameNotJson) as info:
        await read_frame(_stream(_raw(payload)), 1 << 20)
    assert info.value.reason == "not_json"
    with pytest.raises(FrameNotJson):
        decode_frame(_raw(payload), 1 << 20)


@pytest.mark.parametrize("payload", [b"[1, 2]", b'"text"', b"3", b"null", b"true"])
async def test_not_object(payload: bytes) -> None:
    with pytest.raises(FrameNotObject) as info:
        await read_frame(_stream(_raw(payload)), 100)
    assert info.value.reason == "not_object"
    with pytest.raises(FrameNotObject):
        decode_payload(payload)


def test_encode_refuses_what_receivers_would_refuse() -> None:
    with pytest.raises(FrameNotObject):
        encode_frame([1, 2])  # type: ignore[arg-type]
    with pytest.raises(FrameNotJson):
        encode_frame({"b": b"bytes"})
    with pytest.raises(FrameNotJson):
        encode_frame({"f": float("nan")})


async def test_keepalive_frame_is_empty_payload() -> None:
    reader = _stream(KEEPALIVE_FRAME + encode_frame({"x": 1}))
    assert await read_frame_bytes(reader, 0) == b""
    # With cap 0 anything but a keepalive is oversized: how a dialler refuses data.
    with pytest.raises(FrameTooLarge):
        await read_frame_bytes(reader, 0)


def test_frame_errors_share_a_base_with_reason() -> None:
    reasons = {c.reason for c in (FrameTooLarge, FrameTruncated, FrameNotJson, FrameNotObject)}
    assert reasons == {"oversized", "truncated", "not_json", "not_object"}
    assert all(
        issubclass(c, FrameError)
        for c in (FrameTooLarge, FrameTruncated, FrameNotJson, FrameNotObject)
    )


async def _all_frames(frames: FrameReader) -> list[bytes]:
    out = []
    while True:
        payload = frames.next_buffered()
        if payload is not None:
            out.append(payload)
        elif not await frames.fill():
            return out


async def test_frame_reader_splits_chunks_into_frames_whatever_the_cut() -> None:
    payloads = [b'{"a":1}', b"", b"x" * 70_000, b'{"b":2}']  # one spans chunks
    data = b"".join(_raw(p) for p in payloads)
    for cut in (1, 3, 4, 5, 1000, len(data) - 1):
        reader = asyncio.StreamReader()
        reader.feed_data(data[:cut])

        def rest(r: asyncio.StreamReader = reader, tail: bytes = data[cut:]) -> None:
            r.feed_data(tail)
            r.feed_eof()

        asyncio.get_running_loop().call_later(0.01, rest)
        assert await _all_frames(FrameReader(reader, 100_000)) == payloads


async def test_frame_reader_checks_the_cap_on_the_prefix_and_reports_truncation() -> None:
    frames = FrameReader(_stream(struct.pack(">I", 1001), eof=False), 1000)
    assert await frames.fill()
    with pytest.raises(FrameTooLarge):
        frames.next_buffered()
    with pytest.raises(FrameTruncated, match="2 header bytes"):
        await _all_frames(FrameReader(_stream(b"\x00\x00"), 100))
    frame = encode_frame({"k": "value"})
    with pytest.raises(FrameTruncated, match="body bytes"):
        await _all_frames(FrameReader(_stream(frame[:-1]), 100))
    assert await _all_frames(FrameReader(_stream(frame + frame), 100)) == [frame[4:]] * 2
