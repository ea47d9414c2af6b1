"""Hostile input against a running testnet: raw P2P bytes and forged REST responses.

Each hostile P2P connection must be closed by the node and counted by its §16.1 reason in
``/metrics`` (``alphaos_p2p_frames_rejected_total``, or the reference's
``…_handshakes_rejected_total`` before authentication), and the node must keep finalizing.
Each bad REST response must be refused with 400 and the §5 reason code and must change
nothing on chain. Every test runs against both implementations (``node_kind``).
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import struct
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio
from hostile_tools import node_command, p2p_refusals, peers_connected
from integration_helpers import (
    challenge_heights,
    clp_config,
    fetch_blocks,
    genesis_of,
    key_of,
    logs_hint,
    recompute_counters,
    running_cluster,
)

from clp_node.chain.keys import ValidatorKey
from clp_node.clp.challenge import ChallengeGenerator
from clp_node.clp.response import response_message
from clp_node.net.handshake import sign_bytes
from harness.cluster.local import LocalBackend
from harness.node_kinds import PYTHON

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

TARGET = "v0"  # the node attacked over P2P and posted to over REST
IMPERSONATED = "v3"  # a validator whose key the P2P tests use to pass the handshake
LAZY = "v4"  # stops answering during the REST test, so (h, v4) is free for forgeries
FRAME = struct.Struct(">I")
MAX_FRAME = 4 * 1024 * 1024  # the node's default frame cap (framing.DEFAULT_MAX_FRAME_BYTES)
CLOSE_WITHIN_S = 5.0  # > the node's 3 s handshake timeout


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def c(
    tmp_path_factory: pytest.TempPathFactory, node_kind: str
) -> AsyncIterator[LocalBackend]:
    root = tmp_path_factory.mktemp(f"hostile-{node_kind}") / "net"
    async with running_cluster(root, seed="hostile", node_command=node_command(node_kind)) as c:
        await c.wait_for_height(4)
        yield c


# ---- P2P -----------------------------------------------------------------------------------


def frame(msg: dict[str, Any]) -> bytes:
    body = json.dumps(msg).encode()
    return FRAME.pack(len(body)) + body


async def read_frame(reader: asyncio.StreamReader) -> dict[str, Any]:
    async with asyncio.timeout(CLOSE_WITHIN_S):
        (n,) = FRAME.unpack(await reader.readexactly(4))
        result: dict[str, Any] = json.loads(await reader.readexactly(n))
        return result


async def closed_by_node(reader: asyncio.StreamReader) -> bytes:
    """Read until the node closes the connection; what it sent before. Fails on a timeout."""
    received = b""
    try:
        async with asyncio.timeout(CLOSE_WITHIN_S):
            while chunk := await reader.read(65536):
                received += chunk
    except (ConnectionResetError, BrokenPipeError):
        pass  # the node aborted the connection: closed as well
    return received


async def refusals(c: LocalBackend) -> Counter[str]:
    return p2p_refusals(await c.client(TARGET).metrics())


async def callback_errors(c: LocalBackend, kind: str) -> int:
    """Frames whose handler raised: a diagnostic of the reference's status (§11 leaves
    ``/alpha/consensus/status`` free-form), 0 for another node."""
    if kind != PYTHON:
        return 0
    return int((await c.client(TARGET).consensus_status())["net"]["callback_errors"])


async def open_p2p(c: LocalBackend) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    node = c.manifest.node(TARGET)
    return await asyncio.open_connection(node.host, node.p2p_port)


def hello(chain_id: str, public_key: bytes, nonce: bytes) -> dict[str, Any]:
    return {
        "type": "hello",
        "chain_id": chain_id,
        "public_key": public_key.hex(),
        "nonce": nonce.hex(),
    }


async def authenticate_as(
    c: LocalBackend, name: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    """Open a connection and run the dialer side of the handshake up to our auth frame.

    Returns the bytes of our auth frame *unsent*: the caller appends its hostile frame and
    writes both at once, so the node reads the hostile frame right after authenticating us
    (before the real validator's dialler can reconnect and replace our connection).
    """
    key = key_of(c, name)
    chain_id = genesis_of(c).chain_id
    nonce = random.randbytes(32)
    reader, writer = await open_p2p(c)
    writer.write(frame(hello(chain_id, key.public_key, nonce)))
    await writer.drain()
    theirs = await read_frame(reader)
    assert theirs["type"] == "hello", theirs
    their_nonce = bytes.fromhex(theirs["nonce"])
    sig = key.sign(sign_bytes(chain_id, nonce, their_nonce, "dialer", key.public_key))
    return reader, writer, frame({"type": "auth", "signature": sig.hex()})


async def attack_random_bytes(c: LocalBackend) -> bytes:
    reader, writer = await open_p2p(c)
    # 8 KiB of noise: the length prefix is either above the handshake cap, or the body
    # arrives in full and is not a JSON object. Either way nothing to wait for.
    writer.write(random.Random(7).randbytes(8192))
    await writer.drain()
    return await closed_by_node(reader)


async def attack_oversized_prefix(c: LocalBackend) -> bytes:
    reader, writer = await open_p2p(c)
    writer.write(FRAME.pack(MAX_FRAME + 1) + b"x" * 64)
    await writer.drain()
    return await closed_by_node(reader)


async def attack_bad_auth_signature(c: LocalBackend) -> bytes:
    key = key_of(c, IMPERSONATED)  # a genuine validator key, so the hello is accepted
    reader, writer = await open_p2p(c)
    writer.write(frame(hello(genesis_of(c).chain_id, key.public_key, random.randbytes(32))))
    await writer.drain()
    theirs = await read_frame(reader)
    assert theirs["type"] == "hello", theirs
    writer.write(frame({"type": "auth", "signature": random.randbytes(64).hex()}))
    await writer.drain()
    return await closed_by_node(reader)


async def attack_wrong_chain(c: LocalBackend) -> bytes:
    key = key_of(c, IMPERSONATED)
    reader, writer = await open_p2p(c)
    writer.write(frame(hello("another-chain", key.public_key, random.randbytes(32))))
    await writer.drain()
    return await closed_by_node(reader)


async def attack_unknown_key(c: LocalBackend) -> bytes:
    stranger = ValidatorKey.from_seed_text("not-a-validator")
    reader, writer = await open_p2p(c)
    writer.write(frame(hello(genesis_of(c).chain_id, stranger.public_key, random.randbytes(32))))
    await writer.drain()
    return await closed_by_node(reader)


async def attack_oversized_after_auth(c: LocalBackend) -> bytes:
    reader, writer, auth = await authenticate_as(c, IMPERSONATED)
    writer.write(auth + FRAME.pack(MAX_FRAME + 1) + b"x" * 64)
    await writer.drain()
    return await closed_by_node(reader)


async def attack_garbage_after_auth(c: LocalBackend) -> bytes:
    reader, writer, auth = await authenticate_as(c, IMPERSONATED)
    junk = random.Random(11).randbytes(1000)
    writer.write(auth + FRAME.pack(len(junk)) + junk)
    await writer.drain()
    return await closed_by_node(reader)


Attack = Callable[[LocalBackend], Awaitable[bytes]]

# (attack, reason labels any of which may count it, node may send bytes first)
P2P_ATTACKS: dict[str, tuple[Attack, set[str], bool]] = {
    "random_bytes": (attack_random_bytes, {"oversized", "not_json", "not_object"}, False),
    "oversized_prefix": (attack_oversized_prefix, {"oversized"}, False),
    "bad_auth_signature": (attack_bad_auth_signature, {"bad_signature"}, True),
    "wrong_chain_id": (attack_wrong_chain, {"wrong_chain"}, False),
    "unknown_key": (attack_unknown_key, {"unknown_peer"}, False),
    "oversized_after_auth": (attack_oversized_after_auth, {"oversized"}, True),
    "garbage_after_auth": (attack_garbage_after_auth, {"not_json", "not_object"}, True),
}


@pytest.mark.parametrize("attack_name", list(P2P_ATTACKS))
async def test_p2p_hostile_connection_refused_and_counted(
    c: LocalBackend, node_kind: str, attack_name: str
) -> None:
    attack, reasons, node_speaks = P2P_ATTACKS[attack_name]
    before = await refusals(c)
    errors_before = await callback_errors(c, node_kind)
    height_before = await c.client(TARGET).height()
    received = await attack(c)
    hint = logs_hint(c, [TARGET])
    if not node_speaks:
        # Refused before the node said anything: it revealed no hello to this connection.
        assert received == b"", f"{attack_name}: node sent {received[:80]!r}{hint}"
    assert c.is_running(TARGET), f"{TARGET} died after {attack_name}{hint}"

    async def counted() -> dict[str, int] | None:
        after = await refusals(c)
        grew = {r: after[r] - before[r] for r in reasons}
        return grew if sum(grew.values()) >= 1 else None

    grew = await c.wait_for(counted, timeout=2.0, what=f"refusals {reasons} to grow")
    assert sum(grew.values()) == 1, f"{attack_name}: {grew}{hint}"
    # Still finalizing, and no frame of ours reached the application layer.
    await c.wait_for_height(height_before + 2, names=[TARGET])
    assert await callback_errors(c, node_kind) == errors_before, hint


async def test_p2p_links_recover_after_attacks(c: LocalBackend) -> None:
    """The impersonated validator's real link replaced ours again; the whole net is up."""

    async def full_mesh() -> bool:
        return peers_connected(await c.client(TARGET).metrics()) == 4

    await c.wait_for(full_mesh, timeout=c.clock.blocks(10), what=f"{TARGET}'s links")
    head = max(h for h in (await c.heights()).values() if h is not None)
    await c.wait_for_height(head + 3)


# ---- REST: POST /alpha/clp/response ---------------------------------------------------------


async def post(c: LocalBackend, body: Any, raw: bytes | None = None) -> tuple[int, Any]:
    client = c.client(TARGET)
    if raw is not None:
        resp = await client.request(
            "POST",
            "/alpha/clp/response",
            content=raw,
            headers={"content-type": "application/json"},
        )
    else:
        resp = await client.post_response(body)
    try:
        return resp.status_code, resp.json()
    except ValueError:
        return resp.status_code, resp.text


def rejected_counts(metrics_text: str) -> dict[str, float]:
    pattern = r'^alphaos_clp_responses_rejected_total\{reason="([A-Z_]+)"\} ([0-9.e+]+)$'
    return {m[1]: float(m[2]) for m in re.finditer(pattern, metrics_text, re.M)}


def signed(
    key: ValidatorKey,
    chain_id: str,
    height: int,
    value: bytes,
    as_validator: str | None = None,
    as_height: int | None = None,
) -> dict[str, Any]:
    """A response signed by ``key`` over (height, value, address); fields may be swapped."""
    address = as_validator or key.address
    sig = key.sign(response_message(chain_id, height, value, address))
    return {
        "challenge_height": as_height if as_height is not None else height,
        "validator": address,
        "signature": sig.hex(),
    }


async def fresh_challenge(c: LocalBackend, after: int) -> dict[str, Any]:
    """An open challenge issued above ``after`` with >= 2 blocks of its window left."""

    async def found() -> dict[str, Any] | None:
        st = await c.client(TARGET).clp_status()
        for ch in sorted(st["active_challenges"], key=lambda x: -x["height"]):
            if ch["height"] > after and ch["deadline"] >= st["height"] + 2:
                return dict(ch)
        return None

    return await c.wait_for(
        found, timeout=c.clock.blocks(10), what="a fresh challenge", interval=0.02
    )


async def test_rest_bad_responses_refused_and_nothing_changes(c: LocalBackend) -> None:
    cfg = clp_config(c)
    chain_id = genesis_of(c).chain_id
    hint = logs_hint(c)
    lazy_key, honest_key = key_of(c, LAZY), key_of(c, "v1")
    outsider = ValidatorKey.from_seed_text("outsider")
    metrics_before = rejected_counts(await c.client(TARGET).metrics())
    posted: dict[str, int] = {}

    async def expect(label: str, reason: str, body: Any = None, raw: bytes | None = None) -> None:
        status, answer = await post(c, body, raw)
        assert status == 400 and isinstance(answer, dict) and answer.get("error") == reason, (
            f"{label}: got {status} {answer}, want 400 {reason}{hint}"
        )
        posted[reason] = posted.get(reason, 0) + 1

    # An old challenge (h = K) with its value recomputed from its block, for replays.
    old_h = challenge_heights(cfg, 1, cfg.epoch_length)[0]
    old_block = await c.client(TARGET).block(old_h)
    assert old_block is not None
    old_value = ChallengeGenerator.compute_challenge_value(
        chain_id, old_h, bytes.fromhex(old_block["block"]["hash"])
    )

    await c.client(LAZY).set_faults(lazy=True)
    try:
        lazy_since = await c.client(LAZY).height()
        ch = await fresh_challenge(c, after=lazy_since)
        h, value = ch["height"], bytes.fromhex(ch["value"])
        genuine = signed(lazy_key, chain_id, h, value)

        # -- refused: the rules that need the open challenge --------------------------------
        await expect(
            "forged (random signature)",
            "BAD_SIGNATURE",
            {**genuine, "signature": random.randbytes(64).hex()},
        )
        await expect(
            "forged (another validator's key)",
            "BAD_SIGNATURE",
            signed(honest_key, chain_id, h, value, as_validator=lazy_key.address),
        )
        await expect(
            "valid signature for another challenge height",
            "BAD_SIGNATURE",
            signed(lazy_key, chain_id, old_h, old_value, as_height=h),
        )
        await expect(
            "non-committee validator", "NOT_IN_COMMITTEE", signed(outsider, chain_id, h, value)
        )

        # -- positive control while the window is open: accepted once, then a duplicate ------
        status, answer = await post(c, genuine)
        assert status == 202, f"genuine response refused: {status} {answer}{hint}"
        await expect("duplicate (same response again)", "DUPLICATE", genuine)

        # -- refusals that do not depend on the open challenge --------------------------
        await expect(
            "expired (old challenge after its window)",
            "EXPIRED",
            signed(honest_key, chain_id, old_h, old_value),
        )
        await expect(
            "not a challenge height",
            "UNKNOWN_CHALLENGE",
            signed(honest_key, chain_id, h + 1, value, as_height=h + 1),
        )
        await expect(
            "future challenge",
            "UNKNOWN_CHALLENGE",
            signed(honest_key, chain_id, h + 100 * cfg.challenge_interval, value),
        )
        await expect("malformed JSON", "MALFORMED", raw=b'{"challenge_height": 4,')
        await expect("deeply nested JSON", "MALFORMED", raw=b"[" * 20_000)
        await expect("not UTF-8", "MALFORMED", raw=b'{"validator": "\xff"}')
        await expect("not an object", "MALFORMED", [genuine])
        for field in ("challenge_height", "validator", "signature"):
            await expect(
                f"missing {field}", "MALFORMED", {k: v for k, v in genuine.items() if k != field}
            )
        await expect("height as a string", "MALFORMED", {**genuine, "challenge_height": str(h)})
        await expect("short signature", "MALFORMED", {**genuine, "signature": "ab" * 63})
        await expect(
            "upper-case address",
            "MALFORMED",
            {**genuine, "validator": genuine["validator"].upper()},
        )

        # -- replayed: a real response already on chain, window still open -----------------
        replayed = await _replay_on_chain_response(c, cfg.response_window)
        posted["DUPLICATE"] = posted.get("DUPLICATE", 0) + 1
        assert replayed is not None, f"no on-chain response could be replayed in time{hint}"
        assert replayed == (400, "DUPLICATE"), f"replayed on-chain response: {replayed}{hint}"

        # -- nothing else reached the chain ---------------------------------------------------
        await c.wait_for_height(ch["deadline"] + 1, names=[TARGET])
    finally:
        await c.client(LAZY).set_faults(lazy=False)

    blocks = await fetch_blocks(c, TARGET, 1, ch["deadline"] + 1)
    lazy_ones = [
        (b["height"], r)
        for b in blocks.values()
        for r in b["block"]["responses"]
        if r["validator"] == lazy_key.address and r["challenge_height"] == h
    ]
    assert [r for _, r in lazy_ones] == [genuine], (
        f"on chain for ({h}, {LAZY}): {lazy_ones}, want exactly the genuine one{hint}"
    )
    assert all(
        r["validator"] != outsider.address for b in blocks.values() for r in b["block"]["responses"]
    ), hint
    assert all(
        r["challenge_height"] in set(challenge_heights(cfg, 1, ch["deadline"]))
        for b in blocks.values()
        for r in b["block"]["responses"]
    ), hint

    # Counters are exactly what the chain says (recomputed from the blocks, §6).
    st = await c.client(TARGET).clp_status()
    head = st["height"]
    if head > ch["deadline"] + 1:
        blocks.update(await fetch_blocks(c, TARGET, ch["deadline"] + 2, head))
    want = recompute_counters(cfg, blocks, st["validator_statuses"], head)
    got = {a: (s["challenges"], s["responses"]) for a, s in st["validator_statuses"].items()}
    assert got == want, f"counters at {head}: served {got}, recomputed {want}{hint}"
    assert outsider.address not in st["validator_statuses"], hint

    # Every refusal was counted under its reason on the node that refused it.
    metrics_after = rejected_counts(await c.client(TARGET).metrics())
    for reason, n in posted.items():
        grew = metrics_after.get(reason, 0) - metrics_before.get(reason, 0)
        assert grew >= n, f"{reason}: metric grew by {grew}, {n} refused{hint}"


async def _replay_on_chain_response(c: LocalBackend, window: int) -> tuple[int, str] | None:
    """Post again a response from the head block whose window is still open (a few tries)."""
    client = c.client(TARGET)
    for _ in range(10):
        head = await client.height()
        block = await client.block(head)
        assert block is not None
        for r in block["block"]["responses"]:
            if r["challenge_height"] + window < head + 2:
                continue  # would be EXPIRED by the time we post, not a replay test
            status, answer = await post(c, r)
            after = await client.height()
            if r["challenge_height"] + window >= after + 1:  # window was open when judged
                return status, str(answer.get("error") if isinstance(answer, dict) else answer)
        await c.wait_for_height(head + 1, names=[TARGET])
    return None


# ---- REST: read endpoints --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/alpha/clp/validator/xyz", 400, "BAD_ADDRESS"),
        ("/alpha/clp/validator/" + "AB" * 20, 400, "BAD_ADDRESS"),
        ("/alpha/clp/validator/" + "ab" * 20, 404, "NOT_FOUND"),
        ("/alpha/clp/epoch/100000", 404, "NOT_FOUND"),
        ("/alpha/clp/epoch/minus-one", 400, "BAD_REQUEST"),
        ("/alpha/chain/block/%C2%B2", 400, "BAD_REQUEST"),  # "²": isdigit() but not int()
        ("/alpha/clp/epoch/%D9%A1", 400, "BAD_REQUEST"),  # Arabic-Indic "1"
        ("/alpha/committee?epoch=x", 400, "BAD_REQUEST"),
        ("/alpha/chain/block/100000000", 404, "NOT_FOUND"),
        ("/alpha/no/such/path", 404, "NOT_FOUND"),
        ("/alpha/committee?epoch=100000", 404, "NOT_FOUND"),
    ],
)
async def test_rest_errors_are_json(c: LocalBackend, path: str, status: int, code: str) -> None:
    resp = await c.client(TARGET).request("GET", path)
    assert resp.status_code == status, f"{path}: {resp.status_code} {resp.text}"
    assert resp.headers.get("content-type", "").startswith("application/json"), resp.headers
    body = resp.json()
    assert body.get("error") == code and isinstance(body.get("detail"), str), body
    assert not body["detail"].startswith("{"), f"detail is double-encoded JSON: {body}"


async def test_rest_known_validator_is_served(c: LocalBackend) -> None:
    """Contrast for the 404 above: a genesis address answers with the §9 record."""
    address = c.address("v1")
    view = await c.client(TARGET).validator(address)
    keys = {
        "address",
        "response_rate",
        "consecutive_failures",
        "status",
        "stake",
        "slashed_total",
        "in_committee",
        "ejected_at_epoch",
        "governance_weight_bps",
    }
    assert keys <= set(view) and view["address"] == address and view["in_committee"], view


# ---- REST: bad requests of any kind ------------------------------------------------------------

HUGE = b"7" * 5000  # more digits than the reference's int parser takes
OVER_CAP = 1024 * 1024 + 1  # §11: a body over 1 MiB gets a 4xx (the reference's cap is lower)


RESPONSE, FAULTS = "/alpha/clp/response", "/admin/faults"
JSON, TEXT = "application/json", "text/plain"


@pytest.mark.parametrize(
    ("method", "path", "content_type", "token", "body", "status", "code"),
    [
        ("POST", RESPONSE, JSON, False, b'{"challenge_height": 4,', 400, "MALFORMED"),
        ("POST", RESPONSE, TEXT, False, b"not json", 400, "MALFORMED"),
        ("POST", RESPONSE, JSON, False, b"NaN", 400, "MALFORMED"),
        ("POST", RESPONSE, JSON, False, b"\xff\xfe", 400, "MALFORMED"),
        ("POST", RESPONSE, JSON, False, b"", 400, "MALFORMED"),
        ("POST", RESPONSE, JSON, False, b'{"challenge_height": ' + HUGE + b"}", 400, "MALFORMED"),
        ("POST", RESPONSE, JSON, False, b"x" * OVER_CAP, 413, None),
        ("POST", FAULTS, TEXT, True, b'{"lazy": true}', 415, None),
        ("POST", FAULTS, JSON, False, b'{"lazy": true}', 401, None),
        ("POST", FAULTS, JSON, True, b'{"lazy": "yes"}', 400, None),
        ("POST", FAULTS, JSON, True, b'{"lazy": true,', 400, None),
        ("POST", FAULTS, JSON, True, b'{"sleepy": true}', 400, None),
        ("POST", FAULTS, JSON, True, b'{"clock_offset_ms": ' + HUGE + b"}", 400, None),
        ("GET", "/alpha/chain/block/9223372036854775808", None, False, b"", 400, "BAD_REQUEST"),
        ("GET", "/alpha/chain/block/-1", None, False, b"", 400, "BAD_REQUEST"),
        ("GET", "/alpha/clp/epoch/9223372036854775808", None, False, b"", 400, "BAD_REQUEST"),
        ("GET", "/alpha/consensus/votes?from=9&to=8", None, False, b"", 400, "BAD_REQUEST"),
        ("GET", "/alpha/consensus/votes?from=%C2%B2", None, False, b"", 400, "BAD_REQUEST"),
        ("GET", "/alpha/consensus/votes?from=1&to=100000", None, False, b"", 400, "BAD_REQUEST"),
        ("GET", "/alpha/clp/answers?from=x", None, False, b"", 400, "BAD_REQUEST"),
        ("GET", "/alpha/clp/answers?to=-1", None, False, b"", 400, "BAD_REQUEST"),
        ("GET", "/alpha/committee?epoch=-1", None, False, b"", 400, "BAD_REQUEST"),
        ("DELETE", "/alpha/chain/head", None, False, b"", 405, "METHOD_NOT_ALLOWED"),
        ("GET", RESPONSE, None, False, b"", 405, "METHOD_NOT_ALLOWED"),
    ],
)  # fmt: skip
async def test_rest_bad_requests_get_the_contracts_4xx(
    c: LocalBackend,
    method: str,
    path: str,
    content_type: str | None,
    token: bool,
    body: bytes,
    status: int,
    code: str | None,
) -> None:
    """Each a 4xx in §11's error shape (the code where the contract names one), and none
    changes the hooks: the node still answers, lazy off."""
    headers = {"Content-Type": content_type} if content_type else {}
    if token:
        headers["X-CLP-Hooks-Token"] = c.manifest.hooks_token
    client = c.client(TARGET)
    resp = await client.request(method, path, headers=headers, content=body)
    got = f"{method} {path} {body[:40]!r}: {resp.status_code} {resp.text[:200]}"
    assert resp.status_code == status, got
    assert resp.headers.get("content-type", "").startswith("application/json"), got
    answer = resp.json()
    assert isinstance(answer.get("error"), str) and answer["error"], got
    assert isinstance(answer.get("detail"), str) and "\n" not in answer["detail"], got
    if code is not None:
        assert answer["error"] == code, got
    if status == 405:
        assert resp.headers.get("Allow"), f"{got}: 405 without Allow"
    faults = await client.set_faults()
    assert faults.get("lazy") is False and faults.get("clock_offset_ms") == 0, faults
