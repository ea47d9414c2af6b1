"""Tools of the hostile suite: an idle-connection flood and seeded generators of bad input.

Everything is seeded, so a failing run is reproduced by its seed; every generator yields
input a fair outside tester could send without any key (REST) or with one validator's key
(frames after the handshake).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import shlex
import struct
import sys
from collections import Counter
from typing import Any

import pytest

from harness.node_kinds import PYTHON, NodeKindError, rust_binary

FRAME = struct.Struct(">I")

# ---- the node under attack ------------------------------------------------------------------


def node_argv(kind: str) -> list[str]:
    """The node's command line before its arguments (``check-config``, ``--config PATH``)."""
    if kind == PYTHON:
        return [sys.executable, "-m", "clp_node.cli"]
    try:
        return [str(rust_binary())]
    except NodeKindError as exc:
        pytest.fail(f"--node {kind}: {exc}", pytrace=False)


def node_command(kind: str) -> str:
    """The local backend's command template (``{config}``) that starts a node of ``kind``."""
    return shlex.join(node_argv(kind)) + " --config {config}"


def metric_by_reason(text: str, name: str) -> dict[str, float]:
    """The series ``name{reason=...}`` of a /metrics text, by reason."""
    pattern = rf'^{name}\{{reason="([a-z_:]+)"\}} ([0-9.e+]+)$'
    return {m[1]: float(m[2]) for m in re.finditer(pattern, text, re.M)}


def p2p_refusals(metrics_text: str) -> Counter[str]:
    """Connections and frames refused by §16.1's reasons, before and after the handshake:
    ``alphaos_p2p_frames_rejected_total`` (docs/metrics.md: frames or handshakes), plus the
    reference's ``…_handshakes_rejected_total``, where it counts the handshakes apart."""
    refused: Counter[str] = Counter()
    for name in ("alphaos_p2p_frames_rejected_total", "alphaos_p2p_handshakes_rejected_total"):
        for reason, value in metric_by_reason(metrics_text, name).items():
            refused[reason] += int(value)
    return refused


def peers_connected(metrics_text: str) -> int | None:
    """``alphaos_p2p_peers_connected``: peers with an authenticated outbound link."""
    m = re.search(r"^alphaos_p2p_peers_connected ([0-9.e+]+)$", metrics_text, re.M)
    return int(float(m[1])) if m else None


# ---- the flood ------------------------------------------------------------------------------


class IdleFlood:
    """``per_port`` TCP connections to each port that never send a byte; one the node
    closes is opened again at once, so the flood holds its size for as long as it runs."""

    def __init__(self, ports: list[int], per_port: int, host: str = "127.0.0.1") -> None:
        self.ports = ports
        self.per_port = per_port
        self.host = host
        self.opened = 0
        self.held = 0
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> IdleFlood:
        self._tasks = [
            asyncio.create_task(self._hold(port))
            for port in self.ports
            for _ in range(self.per_port)
        ]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    @property
    def size(self) -> int:
        return len(self.ports) * self.per_port

    async def _hold(self, port: int) -> None:
        while True:
            try:
                reader, writer = await asyncio.open_connection(self.host, port)
            except OSError:
                await asyncio.sleep(0.05)  # the node is not listening (yet): retry
                continue
            self.opened += 1
            self.held += 1
            try:
                with contextlib.suppress(OSError):
                    await reader.read()  # returns when the node closes the connection
            finally:
                self.held -= 1
                writer.transport.abort()


# ---- P2P frames after the handshake ---------------------------------------------------------

TYPES = ["consensus", "clp_response", "status", "sync_request", "sync_response", "hello", "auth"]
FIELDS = [
    "height", "round", "from", "to", "blocks", "block", "certificate", "signature", "validator",
    "challenge_height", "block_hash", "proposer", "kind", "step", "vote", "votes", "pol_round",
    "time_ms", "responses", "chain_id", "prev_hash", "hash", "message", "proposal",
]  # fmt: skip
EDGE_INTS = [0, 1, -1, 2**31, 2**53 + 1, 2**62, 2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**40]


def fuzz_value(rng: random.Random, depth: int = 0) -> Any:
    pick = rng.randrange(12 if depth < 3 else 9)
    if pick == 0:
        return rng.choice(EDGE_INTS)
    if pick == 1:
        return int("9" * rng.randrange(20, 400))  # long, but under Python's digit limit
    if pick == 2:
        return rng.choice([0.5, -0.0, 1e308, -1e-308, 3.0])
    if pick == 3:
        return rng.choice([True, False, None])
    if pick == 4:
        return rng.randbytes(rng.choice([1, 20, 32, 64, 65])).hex()
    if pick == 5:
        return rng.choice(["", "\u202e", "\x00", "a" * 5000, "0" * 40, "z" * 40])
    if pick == 6:
        return rng.choice([*TYPES, "proposal", "prevote", "precommit", "nil"])
    if pick == 7:
        return "".join(chr(rng.randrange(32, 0x2FFF)) for _ in range(rng.randrange(1, 30)))
    if pick == 8:
        return rng.randrange(-5, 100)
    if pick == 9:
        return [fuzz_value(rng, depth + 1) for _ in range(rng.randrange(0, 6))]
    return fuzz_message(rng, depth + 1)


def fuzz_message(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    msg: dict[str, Any] = {}
    if depth == 0 or rng.random() < 0.5:
        msg["type"] = rng.choice([*TYPES, fuzz_value(rng, 3)]) if rng.random() < 0.95 else 7
    for name in rng.sample(FIELDS, rng.randrange(0, 7)):
        msg[name] = fuzz_value(rng, depth + 1)
    return msg


def frame(msg: dict[str, Any]) -> bytes:
    body = json.dumps(msg).encode()
    return FRAME.pack(len(body)) + body


# ---- REST requests --------------------------------------------------------------------------

GET_PATHS = [
    "/health", "/openapi.json", "/metrics", "/alpha/chain/head", "/alpha/committee",
    "/alpha/consensus/status", "/alpha/clp/status",
]  # fmt: skip
PARAM_PATHS = ["/alpha/chain/block/{}", "/alpha/clp/epoch/{}", "/alpha/clp/validator/{}"]
POST_PATHS = ["/alpha/clp/response", "/admin/faults"]
PARAMS = [
    "0", "1", "-1", "9223372036854775807", "9223372036854775808", "1" * 19, "9" * 19, "9" * 400,
    "1e3", "0x10", "%C2%B2", "%00", "..%2F..%2Fetc", "ab" * 20, "AB" * 20, "a" * 4000, " 1",
    "%F0%9F%92%A5", "1.0", "+1",
]  # fmt: skip


def rest_request(rng: random.Random, token: str) -> tuple[str, str, dict[str, str], bytes]:
    """(method, path, headers, body) of one hostile request."""
    kind = rng.randrange(6)
    headers: dict[str, str] = {}
    body = b""
    if kind == 0:
        return (
            rng.choice(["GET", "HEAD", "DELETE", "PUT", "PATCH", "OPTIONS"]),
            rng.choice(GET_PATHS + POST_PATHS),
            headers,
            body,
        )
    if kind == 1:
        path = rng.choice(PARAM_PATHS).format(rng.choice(PARAMS))
        if rng.random() < 0.3:
            path = f"/alpha/committee?epoch={rng.choice(PARAMS)}"
        return "GET", path, headers, body
    path = rng.choice(POST_PATHS)
    headers["Content-Type"] = rng.choice(
        ["application/json", "application/json", "text/plain", "application/x-www-form-urlencoded"]
    )
    if path == "/admin/faults" and rng.random() < 0.7:
        headers["X-CLP-Hooks-Token"] = token if rng.random() < 0.5 else token[:-1] + "x"
    if kind == 2:
        body = json.dumps(fuzz_message(rng)).encode()
    elif kind == 3:
        digits = rng.choice([30, 4299, 4301, 5000, 20000])
        field = rng.choice(["challenge_height", "clock_offset_ms", "lazy", "validator"])
        body = f'{{"{field}": {"7" * digits}}}'.encode()
    elif kind == 4:
        body = rng.choice(
            [
                b"[" * 100_000,
                b'{"a":' * 50_000,
                b"\xff\xfe\x00",
                b"NaN",
                b'{"clock_offset_ms": Infinity}',
                b"x" * 70_000,
                b"",
                b'{"lazy": true, "lazy": "x"}',
            ]
        )
    else:
        body = rng.randbytes(rng.randrange(0, 3000))
    return "POST", path, headers, body
