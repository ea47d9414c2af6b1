"""REST API of the node contract (CLP_SPEC §9) on aiohttp; errors are JSON with 4xx codes."""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from aiohttp import web

from clp_node.api.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from clp_node.api.metrics import NodeMetrics
from clp_node.api.openapi import (
    HOOKS_TOKEN_HEADER,
    MAX_BODY_BYTES,
    MAX_CLOCK_OFFSET_MS,
    MAX_PARAM_INT,
    MAX_VOTE_HEIGHTS,
    OPENAPI,
)
from clp_node.api.views import validator_view
from clp_node.chain.keys import is_address
from clp_node.chain.state import ChainState
from clp_node.clp.types import ResponseRejectReason
from clp_node.store.sqlite import BlockStore

# No field of any body is a number this long; Python would refuse at 4300 digits anyway.
MAX_JSON_INT_DIGITS = 24


@dataclass
class TestFaults:
    """Faults no network can cause, switched on by the harness (CometBFT skews clocks so too)."""

    __test__ = False  # not a pytest class

    lazy: bool = False
    clock_offset_ms: int = 0
    double_sign: bool = False  # one conflicting prevote at the next prevote (§14)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class NodeApi(Protocol):
    """What the REST layer needs from a running node."""

    state: ChainState
    store: BlockStore
    metrics: NodeMetrics
    faults: TestFaults | None
    names: dict[str, str]

    def submit_response(self, data: object) -> ResponseRejectReason | None: ...

    def consensus_status(self) -> dict[str, Any]: ...

    def vote_window(self) -> tuple[int, int]: ...

    def held_votes(self, first: int, last: int) -> list[dict[str, Any]]: ...

    def clp_answers(self) -> tuple[str, dict[int, int]]:
        """Our address and our own answers: challenge height -> ms when first sent."""
        ...


def json_error(status: int, code: str, detail: str) -> web.Response:
    return web.json_response({"error": code, "detail": detail}, status=status)


@web.middleware
async def errors_as_json(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = exc.reason.upper().replace(" ", "_")
        resp = json_error(exc.status, code, exc.text or exc.reason)
        if "Allow" in exc.headers:  # a 405 must say which methods the resource has
            resp.headers["Allow"] = exc.headers["Allow"]
        return resp


def _int_param(text: str, name: str) -> int:
    # isascii: str.isdigit() is also true for non-ASCII digits such as U+00B2 (int() raises).
    if not (text.isascii() and text.isdigit()) or len(text) > 19 or int(text) > MAX_PARAM_INT:
        # Plain text: errors_as_json wraps it as {"error": "BAD_REQUEST", "detail": text}.
        raise web.HTTPBadRequest(text=f"{name} must be an integer in 0..{MAX_PARAM_INT}")
    return int(text)


def _height_range(request: web.Request, default: tuple[int, int]) -> tuple[int, int]:
    """``from``/``to`` of a query (§11), each defaulting to its end of ``default``: a range
    the client gives must not be reversed nor span more than ``MAX_VOTE_HEIGHTS`` heights."""
    first, last = request.query.get("from"), request.query.get("to")
    a = default[0] if first is None else _int_param(first, "from")
    b = default[1] if last is None else _int_param(last, "to")
    if first is not None or last is not None:  # the default window is never refused
        if a > b:
            raise web.HTTPBadRequest(text=f"from ({a}) is above to ({b})")
        if b - a >= MAX_VOTE_HEIGHTS:
            raise web.HTTPBadRequest(
                text=f"at most {MAX_VOTE_HEIGHTS} heights at once, not {b - a + 1}"
            )
    return a, b


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_JSON_INT_DIGITS:
        raise ValueError(f"an integer of {len(text)} digits")
    return int(text)


def _number(text: str) -> int | float:
    """JSON Schema counts 3.0 as an integer, and so does the OpenAPI document: so do we."""
    value = float(text)
    return int(value) if value.is_integer() and abs(value) <= MAX_PARAM_INT else value


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


class BadJson(ValueError):
    pass


async def read_json(request: web.Request) -> object:
    """The body as JSON, refusing what json.loads would choke on (huge ints, deep nesting)."""
    body = await request.read()  # over client_max_size: 413 via errors_as_json
    try:
        return json.loads(
            body, parse_int=_bounded_int, parse_float=_number, parse_constant=_reject_constant
        )
    except (ValueError, RecursionError) as exc:  # JSON, UTF-8 and int-size errors
        raise BadJson(str(exc)[:200]) from exc


class ApiServer:
    def __init__(self, node: NodeApi, hooks_token: str = "") -> None:
        self.node = node
        self._hooks_token = hooks_token
        self.app = web.Application(middlewares=[errors_as_json], client_max_size=MAX_BODY_BYTES)
        r = self.app.router
        r.add_get("/health", self.health)
        r.add_get("/openapi.json", self.openapi)
        r.add_get("/metrics", self.metrics)
        r.add_get("/alpha/chain/head", self.head)
        r.add_get("/alpha/chain/block/{height}", self.block)
        r.add_get("/alpha/committee", self.committee)
        r.add_get("/alpha/consensus/status", self.consensus)
        r.add_get("/alpha/consensus/votes", self.consensus_votes)
        r.add_get("/alpha/clp/status", self.clp_status)
        r.add_get("/alpha/clp/validator/{address}", self.validator)
        r.add_get("/alpha/clp/epoch/{epoch}", self.epoch)
        r.add_post("/alpha/clp/response", self.post_response)
        r.add_get("/alpha/clp/answers", self.answers)
        r.add_get("/admin/faults", self.get_faults)
        r.add_post("/admin/faults", self.post_faults)
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self, host: str, port: int) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, reuse_address=True)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- handlers -------------------------------------------------------------------------

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "height": self.node.state.height})

    async def openapi(self, request: web.Request) -> web.Response:
        return web.json_response(OPENAPI)

    async def metrics(self, request: web.Request) -> web.Response:
        body = self.node.metrics.render()
        return web.Response(body=body, headers={"Content-Type": METRICS_CONTENT_TYPE})

    async def head(self, request: web.Request) -> web.Response:
        s = self.node.state
        epoch = s.config.epoch_of(s.height) if s.height >= 1 else 0
        return web.json_response({"height": s.height, "hash": s.head_hash.hex(), "epoch": epoch})

    async def block(self, request: web.Request) -> web.Response:
        height = _int_param(request.match_info["height"], "height")
        stored = self.node.store.get(height) if height >= 1 else None
        if stored is None:
            return json_error(404, "NOT_FOUND", f"no finalized block at height {height}")
        return web.json_response(
            {
                "height": height,
                "block": stored.block,
                "responses": stored.block.get("responses", []),
                "certificate": stored.certificate,
            }
        )

    async def committee(self, request: web.Request) -> web.Response:
        s = self.node.state
        raw = request.query.get("epoch")
        epoch = s.current_epoch if raw is None else _int_param(raw, "epoch")
        members = s.committee(epoch)
        if members is None:
            return json_error(404, "NOT_FOUND", f"committee of epoch {epoch} is not known yet")
        return web.json_response(
            {
                "epoch": epoch,
                "members": [
                    {"address": a, "name": self.node.names.get(a, a[:8]), "stake": stake}
                    for a, stake in sorted(members.items())
                ],
                "total_stake": sum(members.values()),
            }
        )

    async def consensus(self, request: web.Request) -> web.Response:
        return web.json_response(self.node.consensus_status())

    async def consensus_votes(self, request: web.Request) -> web.Response:
        first, last = request.query.get("from"), request.query.get("to")
        oldest, current = self.node.vote_window()
        a = oldest if first is None else _int_param(first, "from")
        b = current if last is None else _int_param(last, "to")
        given = first is not None or last is not None  # the default window is never refused
        if given and a > b:
            return json_error(400, "BAD_REQUEST", f"from ({a}) is above to ({b})")
        if given and b - a >= MAX_VOTE_HEIGHTS:
            return json_error(
                400, "BAD_REQUEST", f"at most {MAX_VOTE_HEIGHTS} heights at once, not {b - a + 1}"
            )
        return web.json_response(
            {"from": a, "to": b, "oldest": oldest, "votes": self.node.held_votes(a, b)}
        )

    async def clp_status(self, request: web.Request) -> web.Response:
        s = self.node.state
        last = s.epoch_results.get(max(s.epoch_results)) if s.epoch_results else None
        return web.json_response(
            {
                "current_epoch": s.current_epoch,
                "height": s.height,
                "active_challenges": [c.to_json() for c in s.clp.open_challenges()],
                "validator_statuses": {a: st.to_json() for a, st in s.clp.statuses().items()},
                "last_epoch_result": last.to_json() if last else None,
                "stakes": s.ledger.stakes(),
                "burned": s.ledger.burned,
            }
        )

    async def validator(self, request: web.Request) -> web.Response:
        address = request.match_info["address"]
        if not is_address(address):
            return json_error(400, "BAD_ADDRESS", "an address is 40 lowercase hex characters")
        s = self.node.state
        if s.genesis.validator(address) is None:
            return json_error(404, "NOT_FOUND", f"no validator {address}")
        return web.json_response(validator_view(s, address))

    async def epoch(self, request: web.Request) -> web.Response:
        epoch = _int_param(request.match_info["epoch"], "epoch")
        result = self.node.state.epoch_results.get(epoch)
        if result is None:
            return json_error(404, "NOT_FOUND", f"epoch {epoch} has not been evaluated yet")
        return web.json_response(result.to_json())

    async def answers(self, request: web.Request) -> web.Response:
        """§11: the challenges this node answered itself, and when it first sent each."""
        address, sent = self.node.clp_answers()
        lo, hi = _height_range(request, (min(sent, default=0), max(sent, default=0)))
        return web.json_response(
            {
                "validator": address,
                "answers": [
                    {"challenge_height": h, "sent_at_ms": sent[h]}
                    for h in sorted(sent)
                    if lo <= h <= hi
                ],
            }
        )

    async def post_response(self, request: web.Request) -> web.Response:
        try:
            data = await read_json(request)
        except BadJson as exc:
            self.node.metrics.responses_rejected.labels(reason="MALFORMED").inc()
            return json_error(400, "MALFORMED", f"the body is not JSON we accept ({exc})")
        reason = self.node.submit_response(data)
        if reason is not None:
            return json_error(400, reason.value, f"response refused: {reason.value}")
        return web.json_response({"accepted": True}, status=202)

    def _hooks(self, request: web.Request) -> TestFaults:
        """The node's test hooks for a caller holding the testnet's token (docs/hooks.md).

        A JSON 404 when the config leaves them off; 401 without the token. A browser cannot
        send a custom header cross-site without a preflight, so a web page cannot flip them.
        """
        if self.node.faults is None or not self._hooks_token:
            raise web.HTTPNotFound(
                text="test hooks are disabled in this node's config", reason="Hooks Disabled"
            )
        given = request.headers.get(HOOKS_TOKEN_HEADER, "")
        if not hmac.compare_digest(given.encode(), self._hooks_token.encode()):
            raise web.HTTPUnauthorized(
                text=f"test hooks need the testnet's token in the {HOOKS_TOKEN_HEADER} header",
                reason="Hooks Token Required",
            )
        return self.node.faults

    async def get_faults(self, request: web.Request) -> web.Response:
        return web.json_response(self._hooks(request).to_json())

    async def post_faults(self, request: web.Request) -> web.Response:
        faults = self._hooks(request)
        if request.content_type != "application/json":
            return json_error(415, "UNSUPPORTED_MEDIA_TYPE", "the body must be application/json")
        try:
            data = await read_json(request)
        except BadJson as exc:
            return json_error(400, "BAD_REQUEST", f"the body is not JSON we accept ({exc})")
        if not isinstance(data, dict):
            return json_error(400, "BAD_REQUEST", "the body is a JSON object")
        unknown = sorted(set(data) - {"lazy", "clock_offset_ms", "double_sign"})
        if unknown:
            return json_error(400, "BAD_REQUEST", f"unknown fault(s): {', '.join(unknown)}")
        for flag in ("lazy", "double_sign"):
            if flag in data and not isinstance(data[flag], bool):
                return json_error(400, "BAD_REQUEST", f"{flag} must be true or false")
        offset = data.get("clock_offset_ms", faults.clock_offset_ms)
        if (
            not isinstance(offset, int)
            or isinstance(offset, bool)
            or abs(offset) > MAX_CLOCK_OFFSET_MS
        ):
            return json_error(400, "BAD_REQUEST", "clock_offset_ms must be an integer within 1 h")
        faults.lazy = data.get("lazy", faults.lazy)
        faults.double_sign = data.get("double_sign", faults.double_sign)
        faults.clock_offset_ms = offset
        return web.json_response(faults.to_json())
