"""Request bodies of the API, validated in the order Toxiproxy validates them.

The order matters for which error a client sees: for a new toxic, the stream
is checked before the type, the type before the name conflict (409), and the
attributes last.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from . import jsonbody
from .errors import INVALID_STREAM, INVALID_TOXIC_TYPE, MISSING_FIELD, ApiError
from .toxics import KINDS, STREAMS, ToxicKind

_PROXY = "toxiproxy.Proxy"
_POPULATE = "[]struct { toxiproxy.Proxy; Enabled *bool }"


@dataclass
class ProxyInput:
    name: str
    listen: str
    upstream: str
    enabled: bool


@dataclass
class ToxicInput:
    """A new toxic before its attributes are decoded (they need its type)."""

    name: str
    kind: ToxicKind
    stream: str
    toxicity: float
    raw_attributes: Mapping[str, object]


def _proxy_fields(members: Mapping[str, object], enabled_default: bool) -> ProxyInput:
    return ProxyInput(
        name=jsonbody.get_str(members, "name", "", "Proxy.name"),
        listen=jsonbody.get_str(members, "listen", "", "Proxy.listen"),
        upstream=jsonbody.get_str(members, "upstream", "", "Proxy.upstream"),
        enabled=jsonbody.get_bool(members, "enabled", enabled_default, "Proxy.enabled"),
    )


def proxy_create(raw: bytes) -> ProxyInput:
    """``POST /proxies``: name and upstream required, ``enabled`` defaults to true."""
    spec = _proxy_fields(jsonbody.fields(jsonbody.parse(raw), _PROXY), True)
    if not spec.name:
        raise MISSING_FIELD.wrap("name")
    if not spec.upstream:
        raise MISSING_FIELD.wrap("upstream")
    return spec


def proxy_update(raw: bytes, current: ProxyInput) -> ProxyInput:
    """``POST/PATCH /proxies/{p}``: listen, upstream and enabled merged over ``current``."""
    members = jsonbody.fields(jsonbody.parse(raw), _PROXY)
    return ProxyInput(
        name=current.name,
        listen=jsonbody.get_str(members, "listen", current.listen, "Proxy.listen"),
        upstream=jsonbody.get_str(members, "upstream", current.upstream, "Proxy.upstream"),
        enabled=jsonbody.get_bool(members, "enabled", current.enabled, "Proxy.enabled"),
    )


def populate(raw: bytes) -> list[ProxyInput]:
    """``POST /populate``: an array of proxies; any invalid entry rejects them all."""
    value = jsonbody.parse(raw)
    if not isinstance(value, list):
        kind = jsonbody.kind_of(value)
        raise jsonbody.bad_body(f"json: cannot unmarshal {kind} into Go value of type {_POPULATE}")
    specs: list[ProxyInput] = []
    seen: set[str] = set()
    for index, entry in enumerate(value, start=1):
        members = {} if entry is None else jsonbody.fields(entry, _PROXY)
        spec = _proxy_fields(members, True)
        if not spec.name:
            raise MISSING_FIELD.wrap(f"name at proxy {index}")
        if not spec.upstream:
            raise MISSING_FIELD.wrap(f"upstream at proxy {index}")
        if spec.name in seen:
            raise ApiError(f'duplicate proxy name "{spec.name}"', 400)
        seen.add(spec.name)
        specs.append(spec)
    return specs


def toxic_create(raw: bytes) -> ToxicInput:
    """``POST /proxies/{p}/toxics``: stream defaults downstream, toxicity 1, name type_stream."""
    members = jsonbody.fields(jsonbody.parse(raw), "toxics.ToxicWrapper")
    name = jsonbody.get_str(members, "name", "", "ToxicWrapper.name")
    type_name = jsonbody.get_str(members, "type", "", "ToxicWrapper.type")
    stream = jsonbody.get_str(members, "stream", "downstream", "ToxicWrapper.stream").lower()
    toxicity = jsonbody.get_float(members, "toxicity", 1.0, "ToxicWrapper.toxicity")
    raw_attributes = _attributes_object(members)
    if stream not in STREAMS:
        raise INVALID_STREAM
    if not name:
        name = f"{type_name}_{stream}"
    kind = KINDS.get(type_name)
    if kind is None:
        raise INVALID_TOXIC_TYPE
    return ToxicInput(name, kind, stream, toxicity, raw_attributes)


def toxic_update(
    raw: bytes, kind: ToxicKind, attributes: Mapping[str, int], toxicity: float
) -> tuple[dict[str, int], float]:
    """``POST/PATCH /proxies/{p}/toxics/{t}``: attributes merged key by key.

    ``toxicity`` is kept when absent; other fields (name, type, stream) cannot change.
    """
    members = jsonbody.fields(jsonbody.parse(raw), "toxics.ToxicWrapper")
    new_toxicity = jsonbody.get_float(members, "toxicity", toxicity, "ToxicWrapper.toxicity")
    return attributes_for(kind, _attributes_object(members), attributes), new_toxicity


def attributes_for(
    kind: ToxicKind, raw: Mapping[str, object], base: Mapping[str, int]
) -> dict[str, int]:
    """Decode a toxic's integer attributes over ``base``; unknown keys are ignored."""
    members = {key.lower(): value for key, value in raw.items()}
    where = f"{type(kind).__name__}Toxic.attributes"
    return {
        name: jsonbody.get_int(members, name, base.get(name, 0), f"{where}.{name}")
        for name in kind.attributes
    }


def _attributes_object(members: Mapping[str, object]) -> Mapping[str, object]:
    value = members.get("attributes")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise jsonbody.bad_body(
            "json: cannot unmarshal non-object into Go struct field ToxicWrapper.attributes"
        )
    return value
