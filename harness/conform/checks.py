"""The contract checks: what a node must do for the suite to test it (docs/protocol.md).

Each check looks at a running testnet of the node under test only through the contract
(REST, metrics, process control) and returns its problems; none means it honours that
part. The byte formats and the epoch results are judged by the harness's own code
(harness.contract, harness.checks.recompute), never by the node's.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import tomllib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from harness.checks.recompute import compare_result, recompute
from harness.cluster.base import Cluster
from harness.cluster.client import NodeClient, NodeUnavailable, Reply
from harness.contract import formats as fmt
from harness.contract.keys import ValidatorKey
from harness.contract.params import ClpParams
from harness.contract.schemas import problems as schema_problems

REQUIRED_METRICS = (
    "alphaos_clp_challenges_issued_total",
    "alphaos_clp_responses_received_total",
    "alphaos_clp_validators_slashed_total",
    "alphaos_clp_validators_ejected_total",
    "alphaos_clp_responses_rejected_total",
    "alphaos_chain_height",
)
CONTRACT_PATHS = (
    "/health",
    "/alpha/chain/head",
    "/alpha/chain/block/{height}",
    "/alpha/committee",
    "/alpha/clp/status",
    "/alpha/clp/validator/{address}",
    "/alpha/clp/epoch/{epoch}",
    "/alpha/clp/response",
)
STATUS_KEYS = ("current_epoch", "height", "active_challenges", "validator_statuses")
VALIDATOR_KEYS = (
    "address",
    "response_rate",
    "consecutive_failures",
    "status",
    "stake",
    "slashed_total",
    "in_committee",
    "ejected_at_epoch",
    "governance_weight_bps",
)
NOT_APPLICABLE = "not applicable"


@dataclass(frozen=True)
class CheckRow:
    name: str
    verdict: str  # "pass", "fail" or "not applicable"
    detail: str

    @property
    def failed(self) -> bool:
        return self.verdict == "fail"


class Context:
    """What every check may read: the running cluster and the files the harness wrote."""

    def __init__(self, cluster: Cluster, seed: int) -> None:
        self.c = cluster
        self.m = cluster.manifest
        self.params = ClpParams.from_dict(self.m.clp)
        self.genesis: dict[str, Any] = json.loads((self.m.root / "genesis.json").read_text())
        self.stakes = {v["address"]: v["stake"] for v in self.genesis["validators"]}
        self.keys = {
            v["address"]: bytes.fromhex(v["public_key"]) for v in self.genesis["validators"]
        }
        self.rng = random.Random(seed)
        self.first = cluster.names[0]

    def client(self, name: str | None = None) -> NodeClient:
        return self.c.client(name or self.first)

    async def chain(self, name: str, upto: int) -> list[dict[str, Any]]:
        out = []
        for h in range(1, upto + 1):
            entry = await self.client(name).block(h)
            if entry is None:
                break
            out.append(entry)
        return out


Problems = list[str]
Check = Callable[[Context], Awaitable[Problems]]


def error_shape(resp: Reply, status: int, code: str | None = None) -> Problems:
    """§9: errors are ``{"error": CODE, "detail": text}`` with the right 4xx status."""
    where = f"{resp.method} {resp.path}"
    if resp.status_code != status:
        return [f"{where}: status {resp.status_code}, want {status}"]
    try:
        body = resp.json()
    except ValueError:
        return [f"{where}: the {status} body is not JSON"]
    if not isinstance(body, dict) or not isinstance(body.get("error"), str):
        return [f"{where}: body {body!r} has no string 'error'"]
    if not isinstance(body.get("detail"), str):
        return [f"{where}: body {body!r} has no string 'detail'"]
    if code is not None and body["error"] != code:
        return [f"{where}: error {body['error']!r}, want {code!r}"]
    return []


def missing(doc: object, keys: tuple[str, ...], what: str) -> Problems:
    if not isinstance(doc, dict):
        return [f"{what} is not a JSON object"]
    return [f"{what} has no {k!r}" for k in keys if k not in doc]


# ---- the checks ------------------------------------------------------------------------


async def files(ctx: Context) -> Problems:
    """The documented files the node was started from match their schemas."""
    out = [f"genesis.json: {p}" for p in schema_problems("genesis", ctx.genesis)]

    for name in ctx.c.names:
        d = ctx.m.node_dir(name)
        key = json.loads((d / "key.json").read_text())
        config = tomllib.loads((d / "node.toml").read_text())
        out += [f"{name}/key.json: {p}" for p in schema_problems("key", key)]
        out += [f"{name}/node.toml: {p}" for p in schema_problems("node-config", config)]
    return out


async def health(ctx: Context) -> Problems:
    out = []
    for name in ctx.c.names:
        body = await ctx.client(name).health()
        if body.get("status") != "ok" or not fmt.is_int(body.get("height")):
            out.append(f"{name}: /health is {body!r}, want {{'status': 'ok', 'height': n}}")
    return out


async def head(ctx: Context) -> Problems:
    body = await ctx.client().head()
    out = missing(body, ("height", "hash", "epoch"), "/alpha/chain/head")
    if out:
        return out
    h = body["height"]
    want = ctx.params.epoch_of(h) if fmt.is_int(h) and h >= 1 else 0
    if body["epoch"] != want:
        out.append(f"head epoch {body['epoch']!r} at height {h}, want {want}")
    if not fmt.is_hex(body["hash"], fmt.HASH_BYTES):
        out.append(f"head hash {body['hash']!r} is not 64 hex characters")
    return out


async def blocks(ctx: Context) -> Problems:
    """Every block hashes by §8's layout, links to its parent and carries a valid certificate."""
    height = await ctx.client().height()
    chain = await ctx.chain(ctx.first, height)
    out = [f"served {len(chain)} blocks below head {height}"] if len(chain) < height else []
    for entry in chain[:3]:
        out += missing(entry, ("block", "responses", "certificate"), f"block {entry.get('height')}")
    rec = recompute(ctx.m.chain_id, ctx.params, ctx.stakes, ctx.keys, chain)
    out += rec.problems[:10]
    resp = await ctx.client().request("GET", f"/alpha/chain/block/{height + 10**6}")
    out += error_shape(resp, 404)
    resp = await ctx.client().request("GET", "/alpha/chain/block/not-a-height")
    out += error_shape(resp, 400)
    return out


async def committee(ctx: Context) -> Problems:
    body = await ctx.client().committee(0)
    if not isinstance(body, dict) or not isinstance(body.get("members"), list):
        return [f"/alpha/committee?epoch=0 is {body!r}, want members with stakes"]
    served = {m.get("address"): m.get("stake") for m in body["members"] if isinstance(m, dict)}
    out = [] if served == ctx.stakes else [f"epoch 0 committee {served}, genesis {ctx.stakes}"]
    current = await ctx.client().committee()
    if not isinstance(current, dict) or "members" not in current:
        out.append(f"/alpha/committee (current epoch) is {current!r}")
    resp = await ctx.client().request("GET", "/alpha/committee?epoch=abc")
    out += error_shape(resp, 400)
    return out


async def clp_status(ctx: Context) -> Problems:
    st = await ctx.client().clp_status()
    out = missing(st, (*STATUS_KEYS, "last_epoch_result"), "/alpha/clp/status")
    if out:
        return out
    chain = await ctx.chain(ctx.first, int(st["height"]))
    rec = recompute(ctx.m.chain_id, ctx.params, ctx.stakes, ctx.keys, chain)
    for ch in st["active_challenges"]:
        at = ch.get("height") if isinstance(ch, dict) else None
        mine = rec.challenges.get(at) if fmt.is_int(at) else None
        if mine is None:
            out.append(f"active challenge {ch!r} is not a §4 challenge of the served chain")
            continue
        if ch.get("value") != mine.value.hex() or ch.get("deadline") != mine.deadline:
            out.append(f"challenge {mine.height}: value/deadline differ from §4")
        if ch.get("expected") != list(mine.expected):
            out.append(f"challenge {mine.height}: expected {ch.get('expected')!r}")
    return out


async def validator(ctx: Context) -> Problems:
    address = ctx.c.address(ctx.first)
    body = await ctx.client().validator(address)
    out = missing(body, VALIDATOR_KEYS, f"/alpha/clp/validator/{address[:8]}…")
    # Stake only shrinks by slashes; a clean start has slashed none yet.
    if not out and body.get("slashed_total") == 0 and body.get("stake") != ctx.stakes[address]:
        out.append(f"stake {body.get('stake')!r}, genesis {ctx.stakes[address]}")
    out += error_shape(await ctx.client().request("GET", "/alpha/clp/validator/xyz"), 400)
    unknown = "ab" * fmt.ADDRESS_BYTES
    out += error_shape(await ctx.client().request("GET", f"/alpha/clp/validator/{unknown}"), 404)
    return out


async def epoch_result(ctx: Context) -> Problems:
    """Every node serves the §7 result of epoch 0 that the harness recomputes from the chain."""
    served = await ctx.c.wait_for_epoch_result(0)
    chain = await ctx.chain(ctx.first, ctx.params.epoch_last_height(0))
    rec = recompute(ctx.m.chain_id, ctx.params, ctx.stakes, ctx.keys, chain)
    want = rec.results.get(0)
    if want is None:
        return ["epoch 0 could not be recomputed from the served chain", *rec.problems[:5]]
    out = []
    names = {a: ctx.c.name_of(a) for a in ctx.stakes}
    for name, result in served.items():
        out += [f"{name}: {d}" for d in compare_result(want, result, names)]
    resp = await ctx.client().request("GET", "/alpha/clp/epoch/999999")
    out += error_shape(resp, 404)
    return out


async def hostile_responses(ctx: Context) -> Problems:
    """Bad POST /alpha/clp/response bodies get 400 and the §5 reason code, in rule order."""
    cl = ctx.client()
    out: Problems = []

    async def expect(body: Any, code: str, raw: bytes | None = None) -> None:
        if raw is not None:
            resp = await cl.request("POST", "/alpha/clp/response", content=raw)
        else:
            resp = await cl.post_response(body)
        out.extend(f"{code} case: {p}" for p in error_shape(resp, 400, code))

    address = ctx.c.address(ctx.first)
    await expect(None, "MALFORMED", raw=b"{not json")
    await expect({"challenge_height": "2", "validator": address}, "MALFORMED")
    await expect({"challenge_height": 2, "validator": "xyz", "signature": "00" * 64}, "MALFORMED")
    p = ctx.params
    future = (await cl.height()) + 10 * p.epoch_length
    while not p.should_generate(future):
        future += 1
    sig = ctx.rng.randbytes(64).hex()
    await expect(
        {"challenge_height": future, "validator": address, "signature": sig}, "UNKNOWN_CHALLENGE"
    )
    ch = await open_challenge(ctx)
    outsider = ValidatorKey.from_seed_text("conform/outsider")
    body = {
        "challenge_height": ch["height"],
        "validator": outsider.address,
        "signature": outsider.sign_response(
            ctx.m.chain_id, ch["height"], bytes.fromhex(ch["value"])
        ).hex(),
    }
    await expect(body, "NOT_IN_COMMITTEE")
    big = b'{"pad": "' + b"x" * (4 * 1024 * 1024) + b'"}'
    try:
        resp = await cl.request("POST", "/alpha/clp/response", content=big)
        if not 400 <= resp.status_code < 500:
            out.append(f"a 4 MiB body got status {resp.status_code}, want 4xx")
    except NodeUnavailable:
        pass  # closing the connection on an oversized body is a refusal too
    if (await cl.health()).get("status") != "ok":
        out.append("the node is not healthy after hostile responses")
    return out


async def open_challenge(ctx: Context) -> dict[str, Any]:
    async def found() -> dict[str, Any] | None:
        st = await ctx.client().clp_status()
        for ch in st.get("active_challenges", []):
            if ch.get("deadline", 0) >= st["height"] + 2:
                return dict(ch)
        return None

    return await ctx.c.wait_for(found, ctx.c.clock.epochs(1), "an open challenge")


async def bad_signature(ctx: Context, victim: str, since: int) -> Problems:
    """A random signature in the name of a member that is down (so it has no response of
    its own pending or on chain, which rule 5, DUPLICATE, would report first)."""
    cl = ctx.client()
    address = ctx.c.address(victim)

    async def fresh() -> dict[str, Any] | None:
        st = await cl.clp_status()
        for ch in st.get("active_challenges", []):
            if ch.get("height", 0) > since and ch.get("deadline", 0) >= st["height"] + 1:
                return dict(ch)
        return None

    ch = await ctx.c.wait_for(fresh, ctx.c.clock.epochs(1), "a challenge issued while down")
    body = {"challenge_height": ch["height"], "validator": address}
    resp = await cl.post_response(body | {"signature": ctx.rng.randbytes(64).hex()})
    return [f"BAD_SIGNATURE case: {p}" for p in error_shape(resp, 400, "BAD_SIGNATURE")]


async def hostile_p2p(ctx: Context) -> Problems:
    """Garbage and an oversized length prefix on a P2P socket: the node keeps going."""
    node = ctx.m.node(ctx.first)
    if ctx.m.layout != "local":
        raise _NotApplicable("P2P ports of containers are not reachable from the host")
    before = await ctx.client().height()
    for payload in (b"\x00\x00\x00\x05hello", b"\xff\xff\xff\xff" + b"x" * 64, b"\x00" * 3):
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(node.host, node.p2p_port), 5)
            writer.write(payload)
            await writer.drain()
            writer.close()
        except (OSError, TimeoutError):
            pass
    await ctx.c.wait_for_height(before + 3, [ctx.first])
    return []


async def metrics(ctx: Context) -> Problems:
    text = await ctx.client().metrics()
    return [
        f"/metrics has no {name}"
        for name in REQUIRED_METRICS
        if not re.search(rf"^{name}(\{{|\s)", text, re.MULTILINE)
    ]


async def openapi(ctx: Context) -> Problems:
    doc = await ctx.client().get_json("/openapi.json")
    if not isinstance(doc, dict) or not isinstance(doc.get("paths"), dict):
        return ["/openapi.json is not an OpenAPI document with paths"]
    return [f"/openapi.json does not describe {p}" for p in CONTRACT_PATHS if p not in doc["paths"]]


async def restart(ctx: Context) -> Problems:
    """SIGKILL a node, restart it: it keeps its chain, syncs what it missed and rejoins.

    While it is down, a response in its name with a random signature must be refused
    with BAD_SIGNATURE (§5 rule 6) by the others.
    """
    victim = ctx.c.names[-1]
    h = await ctx.client(victim).height()
    before = [e["block"]["hash"] for e in await ctx.chain(victim, h)]
    await ctx.c.kill(victim)
    others = [n for n in ctx.c.names if n != victim]
    # Only a challenge issued after the kill has surely no response of the victim's own.
    dead_at = max(v for v in (await ctx.c.heights(others)).values() if v is not None)
    out = await bad_signature(ctx, victim, dead_at)
    await ctx.c.wait_for_height(h + 5, others)
    await ctx.c.restart(victim)
    target = max(v for v in (await ctx.c.heights(others)).values() if v is not None)
    await ctx.c.wait_for_height(target, [victim])
    after = [e["block"]["hash"] for e in await ctx.chain(victim, h)]
    if after != before:
        out.append(f"{victim} serves other blocks below {h} after restart")
    return out


async def hooks(ctx: Context) -> Problems:
    """Optional: scenarios that need POST /admin/faults are not applicable without it."""
    if not await ctx.client().has_test_hooks():
        raise _NotApplicable("no test hooks: lazy and clock_offset scenarios are not applicable")
    return []


class _NotApplicable(Exception):
    pass


CHECKS: list[tuple[str, Check]] = [
    ("files", files),
    ("health", health),
    ("head", head),
    ("blocks", blocks),
    ("committee", committee),
    ("clp-status", clp_status),
    ("validator", validator),
    ("epoch-result", epoch_result),
    ("hostile-responses", hostile_responses),
    ("hostile-p2p", hostile_p2p),
    ("metrics", metrics),
    ("openapi", openapi),
    ("restart", restart),
    ("test-hooks", hooks),
]


async def run_checks(cluster: Cluster, seed: int = 1) -> list[CheckRow]:
    ctx = Context(cluster, seed)
    rows = []
    for name, check in CHECKS:
        try:
            found = await check(ctx)
        except _NotApplicable as exc:
            rows.append(CheckRow(name, NOT_APPLICABLE, str(exc)))
            continue
        except Exception as exc:  # a node that breaks the contract may break any call
            found = [f"{type(exc).__name__}: {exc}"]
        rows.append(CheckRow(name, "fail" if found else "pass", "; ".join(found) or "ok"))
    return rows
