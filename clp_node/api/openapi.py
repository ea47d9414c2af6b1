"""OpenAPI 3.1 description of the node contract, served at /openapi.json."""

from __future__ import annotations

from typing import Any

from clp_node.clp.types import ResponseRejectReason

# The bounds the server enforces (server.py imports them): the document cannot drift.
# Path and query integers are SQLite integers, so anything larger is refused before use.
MAX_PARAM_INT = 2**63 - 1
MAX_BODY_BYTES = 64 * 1024
HOOKS_TOKEN_HEADER = "X-CLP-Hooks-Token"
MAX_CLOCK_OFFSET_MS = 3_600_000
# The most heights one /alpha/consensus/votes request may name (protocol §11).
MAX_VOTE_HEIGHTS = 256


def _obj(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": props,
        "required": list(props) if required is None else required,
    }


INT = {"type": "integer"}
PARAM_INT = {"type": "integer", "minimum": 0, "maximum": MAX_PARAM_INT}
STR = {"type": "string"}
BOOL = {"type": "boolean"}
HEX = {"type": "string", "pattern": "^[0-9a-f]*$"}
ADDRESS = {"type": "string", "pattern": "^[0-9a-f]{40}$"}
ERROR = _obj({"error": STR, "detail": STR})


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _err(description: str) -> dict[str, Any]:
    return _json({"$ref": "#/components/schemas/Error"}, description)


RESPONSE = _obj(
    {
        "challenge_height": {"type": "integer", "minimum": 0, "maximum": 2**64 - 1},
        "validator": ADDRESS,
        "signature": {"type": "string", "pattern": "^[0-9a-f]{128}$"},
    }
)
CHALLENGE = _obj(
    {
        "height": INT,
        "epoch": INT,
        "value": HEX,
        "deadline": INT,
        "expected": {"type": "array", "items": ADDRESS},
    }
)
EPOCH_RESULT = _obj(
    {
        "epoch": INT,
        "systemic": BOOL,
        "validators": {
            "type": "array",
            "items": _obj(
                {
                    "address": ADDRESS,
                    "challenges": INT,
                    "responses": INT,
                    "rate_bps": INT,
                    "slashed": INT,
                    "status": {"enum": ["active", "slashed", "ejection_deferred", "ejected"]},
                }
            ),
        },
        "slashed_total": INT,
        "ejected": {"type": "array", "items": ADDRESS},
        "next_committee": {"type": "array", "items": ADDRESS},
        "burned_total": INT,
    }
)
VALIDATOR = _obj(
    {
        "address": ADDRESS,
        "response_rate": {"type": "integer", "description": "basis points, current epoch"},
        "consecutive_failures": INT,
        "status": {"enum": ["active", "slashed", "ejection_deferred", "ejected"]},
        "stake": INT,
        "slashed_total": INT,
        "in_committee": BOOL,
        "ejected_at_epoch": {"type": ["integer", "null"]},
        "governance_weight_bps": INT,
    }
)


def _get(
    summary: str, ok: dict[str, Any], *errors: tuple[str, str], params: list[Any] | None = None
) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": ok}
    for code, text in errors:
        responses[code] = _err(text)
    responses["405"] = NOT_ALLOWED
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if params:
        op["parameters"] = params
    return {"get": op}


NOT_ALLOWED = _err("method not allowed on this path; the Allow header lists the methods")
TOO_LARGE = _err(f"body over {MAX_BODY_BYTES} bytes")


def _path_param(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema}


FAULTS = _obj({"lazy": BOOL, "clock_offset_ms": INT, "double_sign": BOOL})
VOTE = _obj(
    {
        "type": {"enum": ["prevote", "precommit"]},
        "height": INT,
        "round": INT,
        "block_hash": {
            "oneOf": [{"type": "string", "pattern": "^[0-9a-f]{64}$"}, {"type": "null"}]
        },
        "validator": ADDRESS,
        "signature": {"type": "string", "pattern": "^[0-9a-f]{128}$"},
    }
)
HOOKS_TOKEN = {
    "name": HOOKS_TOKEN_HEADER,
    "in": "header",
    "required": True,
    "schema": {"type": "string"},
    "description": "the per-testnet token of the node config's [test_hooks] section",
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "CLP validator node contract", "version": "1.0.0"},
    "paths": {
        "/health": _get("Liveness and height", _json(_obj({"status": STR, "height": INT}), "ok")),
        "/alpha/chain/head": _get(
            "Finalized head", _json(_obj({"height": INT, "hash": HEX, "epoch": INT}), "head")
        ),
        "/alpha/chain/block/{height}": _get(
            "A finalized block with its CLP responses and commit certificate",
            _json(
                _obj(
                    {
                        "height": INT,
                        "block": {"type": "object"},
                        "responses": {"type": "array", "items": RESPONSE},
                        "certificate": {"type": "object"},
                    }
                ),
                "block",
            ),
            ("400", "height is not an integer"),
            ("404", "no block at that height"),
            params=[_path_param("height", PARAM_INT)],
        ),
        "/alpha/committee": _get(
            "Committee of an epoch with stakes (default: current epoch)",
            _json(
                _obj(
                    {
                        "epoch": INT,
                        "members": {
                            "type": "array",
                            "items": _obj({"address": ADDRESS, "name": STR, "stake": INT}),
                        },
                        "total_stake": INT,
                    }
                ),
                "committee",
            ),
            ("400", "epoch is not an integer"),
            ("404", "committee not known yet"),
            params=[{"name": "epoch", "in": "query", "required": False, "schema": PARAM_INT}],
        ),
        "/alpha/consensus/status": _get(
            "Consensus round state and peers", _json({"type": "object"}, "status")
        ),
        "/alpha/consensus/votes": _get(
            "Signed prevotes and precommits held for heights from..=to, in (height, round, "
            "type, validator, block_hash) order (default: every height held)",
            _json(
                _obj(
                    {
                        "from": INT,
                        "to": INT,
                        "oldest": INT,
                        "votes": {"type": "array", "items": VOTE},
                    }
                ),
                "votes",
            ),
            ("400", f"from or to malformed, from above to, or over {MAX_VOTE_HEIGHTS} heights"),
            params=[
                {"name": "from", "in": "query", "required": False, "schema": PARAM_INT},
                {"name": "to", "in": "query", "required": False, "schema": PARAM_INT},
            ],
        ),
        "/alpha/clp/status": _get(
            "CLP state of this node",
            _json(
                _obj(
                    {
                        "current_epoch": INT,
                        "height": INT,
                        "active_challenges": {"type": "array", "items": CHALLENGE},
                        "validator_statuses": {"type": "object"},
                        "last_epoch_result": {"oneOf": [EPOCH_RESULT, {"type": "null"}]},
                    }
                ),
                "status",
            ),
        ),
        "/alpha/clp/validator/{address}": _get(
            "CLP record of one validator",
            _json(VALIDATOR, "validator"),
            ("400", "malformed address"),
            ("404", "unknown validator"),
            params=[_path_param("address", ADDRESS)],
        ),
        "/alpha/clp/epoch/{epoch}": _get(
            "ClpEpochResult of an evaluated epoch",
            _json(EPOCH_RESULT, "result"),
            ("400", "epoch is not an integer"),
            ("404", "epoch not evaluated yet"),
            params=[_path_param("epoch", PARAM_INT)],
        ),
        "/alpha/clp/answers": _get(
            "The challenges (from..=to) this node answered itself, and when it first sent each "
            "response (ms since the Unix epoch); default: every answer it keeps",
            _json(
                _obj(
                    {
                        "validator": ADDRESS,
                        "answers": {
                            "type": "array",
                            "items": _obj({"challenge_height": INT, "sent_at_ms": INT}),
                        },
                    }
                ),
                "answers",
            ),
            ("400", f"from or to malformed, from above to, or over {MAX_VOTE_HEIGHTS} heights"),
            params=[
                {"name": "from", "in": "query", "required": False, "schema": PARAM_INT},
                {"name": "to", "in": "query", "required": False, "schema": PARAM_INT},
            ],
        ),
        "/alpha/clp/response": {
            "post": {
                "summary": "Submit a signed CLP response for gossip and inclusion",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": RESPONSE}},
                },
                "responses": {
                    "202": _json(_obj({"accepted": BOOL}), "accepted"),
                    "400": _err(
                        "refused; error is one of "
                        + ", ".join(r.value for r in ResponseRejectReason)
                    ),
                    "405": NOT_ALLOWED,
                    "413": TOO_LARGE,
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "responses": {
                    "200": {"description": "text", "content": {"text/plain": {"schema": STR}}},
                    "405": NOT_ALLOWED,
                },
            }
        },
        "/admin/faults": {
            "get": {
                "summary": "Test hooks in force (docs/hooks.md)",
                "parameters": [HOOKS_TOKEN],
                "responses": {
                    "200": _json(FAULTS, "faults"),
                    "401": _err("the testnet's hooks token is missing or wrong"),
                    "404": _err("test hooks disabled"),
                    "405": NOT_ALLOWED,
                },
            },
            "post": {
                "summary": "Set test hooks (lazy validator, clock offset, double sign); any fields",
                "parameters": [HOOKS_TOKEN],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                **_obj(
                                    {
                                        "lazy": BOOL,
                                        "double_sign": BOOL,
                                        "clock_offset_ms": {
                                            "type": "integer",
                                            "minimum": -MAX_CLOCK_OFFSET_MS,
                                            "maximum": MAX_CLOCK_OFFSET_MS,
                                        },
                                    },
                                    [],
                                ),
                                "additionalProperties": False,
                            }
                        }
                    },
                },
                "responses": {
                    "200": _json(FAULTS, "faults now"),
                    "400": _err("bad request"),
                    "401": _err("the testnet's hooks token is missing or wrong"),
                    "404": _err("test hooks disabled"),
                    "405": NOT_ALLOWED,
                    "413": TOO_LARGE,
                    "415": _err("the body is not application/json"),
                },
            },
        },
    },
    "components": {"schemas": {"Error": ERROR}},
}
