"""Decode request bodies the way Go's encoding/json does for Toxiproxy.

Clients rely on its quirks: field names match case-insensitively (the last
matching key wins), unknown fields are ignored, ``null`` leaves a field at its
default, only the first JSON value of the body is read, and a value of the
wrong type is a 400 ``bad request body``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from .errors import BAD_REQUEST_BODY, ApiError

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_DECODER = json.JSONDecoder()


def bad_body(detail: str) -> ApiError:
    return BAD_REQUEST_BODY.wrap(detail)


def parse(raw: bytes) -> object:
    """Parse the first JSON value of ``raw``; an empty body is Go's ``EOF`` error."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise bad_body("invalid character in body") from exc
    stripped = text.lstrip(" \t\r\n")
    if not stripped:
        raise bad_body("EOF")
    try:
        value, _ = _DECODER.raw_decode(stripped)
    except json.JSONDecodeError as exc:
        raise bad_body(f"invalid JSON: {exc.msg}") from exc
    return value


def kind_of(value: object) -> str:
    """The JSON kind Go names in its type errors."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def fields(value: object, go_type: str) -> dict[str, object]:
    """Return an object's members keyed by lower-cased name, later keys winning."""
    if not isinstance(value, dict):
        raise bad_body(f"json: cannot unmarshal {kind_of(value)} into Go value of type {go_type}")
    return {key.lower(): member for key, member in value.items()}


def _mismatch(value: object, where: str, go_type: str) -> ApiError:
    return bad_body(
        f"json: cannot unmarshal {kind_of(value)} into Go struct field {where} of type {go_type}"
    )


def get_str(members: Mapping[str, object], name: str, default: str, where: str) -> str:
    value = members.get(name)
    if value is None:
        return default
    if not isinstance(value, str):
        raise _mismatch(value, where, "string")
    return value


def get_bool(members: Mapping[str, object], name: str, default: bool, where: str) -> bool:
    value = members.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _mismatch(value, where, "bool")
    return value


def get_float(members: Mapping[str, object], name: str, default: float, where: str) -> float:
    value = members.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _mismatch(value, where, "float32")
    return float(value)


def get_int(members: Mapping[str, object], name: str, default: int, where: str) -> int:
    """Integers only: Go rejects ``1.5`` and even ``1.0`` for an int64 field."""
    value = members.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise _mismatch(value, where, "int64")
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise _mismatch(value, where, "int64")
    return value
