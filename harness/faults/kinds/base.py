"""What a fault kind is: its fields and their validation, its CLI spelling, how it is injected
on a backend, and its effect on the fault state.

A kind module of this package defines one ``KIND``. The scenario parser, ``clp-testnet
fault``, the Nemesis, the docs and the checkers all take the kinds from the registry
(``harness.faults.kinds.KINDS``); none of them lists kinds itself.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.cluster.testnet import link_name
from harness.faults.errors import FaultError, FieldError
from harness.faults.state import FaultState

if TYPE_CHECKING:
    from harness.cluster.base import Cluster
    from harness.cluster.toxiproxy_api import ProxyApi

# What a field holds; each has one validator below, so scenario and CLI say the same thing.
FIELD_TYPES = ("node", "nodes", "groups", "link", "int", "probability", "implementation", "text")


def show(value: Any) -> str:
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):
        return repr(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Field:
    """One field of a kind: a scenario key (``do = "latency"``, ``ms = 300``) and a CLI
    argument (positional, or ``--ms``)."""

    name: str
    type: str
    help: str
    required: bool = False
    default: Any = None
    lo: float | None = None
    hi: float | None = None
    positional: bool = False  # on the CLI: a positional argument rather than --name

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")

    def check(self, value: Any, names: Sequence[str]) -> Any:
        """The value in its JSON form (lists for tuples), or FieldError."""
        t = self.type
        if t == "node":
            return _node(value, (self.name,), names)
        if t == "nodes":
            return _node_list(value, (self.name,), names, 1)
        if t == "link":
            if not isinstance(value, list) or len(value) != 2:
                raise FieldError(
                    (self.name,), f'want ["from", "to"] (two node names), got {show(value)}'
                )
            a, b = (_node(v, (self.name, i), names) for i, v in enumerate(value))
            if a == b:
                raise FieldError((self.name,), f"want two different nodes, got {show(value)}")
            return [a, b]
        if t == "groups":
            return _groups(value, (self.name,), names)
        if t == "int":
            lo, hi = self.lo, self.hi
            ok = _is_int(value) and (lo is None or value >= lo) and (hi is None or value <= hi)
            if not ok:
                bound = (
                    f" in {_num(lo)}..{_num(hi)}"
                    if lo is not None and hi is not None
                    else f" >= {_num(lo)}"
                    if lo is not None
                    else ""
                )
                raise FieldError((self.name,), f"want an integer{bound}, got {show(value)}")
            return int(value)
        if t == "probability":
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if not ok or not 0.0 <= value <= 1.0:
                raise FieldError((self.name,), f"want a number in 0..1, got {show(value)}")
            return float(value)
        if t == "implementation":
            from harness.node_kinds import KINDS as NODE_KINDS

            if value not in NODE_KINDS:
                raise FieldError(
                    (self.name,), f"want a node kind ({', '.join(NODE_KINDS)}), got {show(value)}"
                )
            return str(value)
        if t == "text":
            if not isinstance(value, str) or not value.strip():
                raise FieldError((self.name,), f"want a non-empty string, got {show(value)}")
            return value
        raise AssertionError(f"field type {t!r}")


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _node(value: Any, path: tuple[str | int, ...], names: Sequence[str]) -> str:
    if value not in names:
        raise FieldError(path, f"want a node name (v0..v{len(names) - 1}), got {show(value)}")
    return str(value)


def _node_list(
    value: Any, path: tuple[str | int, ...], names: Sequence[str], min_len: int
) -> list[str]:
    if not isinstance(value, list) or len(value) < min_len:
        raise FieldError(path, f"want an array of at least {min_len} item(s), got {show(value)}")
    out = [_node(v, (*path, i), names) for i, v in enumerate(value)]
    dup = sorted({n for n in out if out.count(n) > 1})
    if dup:
        raise FieldError(path, f"a node is named twice: {', '.join(dup)}")
    return out


def _groups(value: Any, path: tuple[str | int, ...], names: Sequence[str]) -> list[list[str]]:
    if not isinstance(value, list) or not value:
        raise FieldError(path, f"want an array of at least 1 item(s), got {show(value)}")
    groups = [_node_list(g, (*path, i), names, 1) for i, g in enumerate(value)]
    named = [n for g in groups for n in g]
    twice = sorted({n for n in named if named.count(n) > 1})
    if twice:
        raise FieldError(path, f"a node is in two groups: {', '.join(twice)}")
    rest = len(names) - len(named)
    if len(groups) + (1 if rest else 0) < 2:
        raise FieldError(path, "want at least two groups (nodes not named form one more group)")
    return groups


@dataclass(frozen=True)
class Request:
    """One validated fault request: the kind, its arguments (JSON values), the node names of
    the testnet and the record's sequence number (toxic names are made from it)."""

    kind: str
    args: Mapping[str, Any]
    names: tuple[str, ...]
    seq: int = 0

    def links(self) -> list[tuple[str, str]]:
        return [(s, d) for s in self.names for d in self.names if s != d]


@dataclass
class Context:
    """What ``inject`` may touch: the cluster, the fault proxy, and the state before."""

    cluster: Cluster
    api: ProxyApi | None
    state: FaultState

    def need_api(self, kind: str) -> ProxyApi:
        if self.api is None:
            raise FaultError(f"{kind} needs the fault proxy (testnet created without proxies)")
        return self.api

    async def set_links(self, kind: str, links: Sequence[tuple[str, str]], enabled: bool) -> None:
        api = self.need_api(kind)
        for src, dst in links:
            await asyncio.to_thread(api.set_enabled, link_name(src, dst), enabled)


class FaultKind:
    """A fault kind. Subclasses (or instances) set the class attributes and the three methods.

    ``effect`` is pure: the fault state after the fault, computed from the state before and
    the request alone; it is what the fault log records and the checkers believe.
    """

    name: str = ""
    group: str = ""  # links | toxics | processes | hooks | network | all
    summary: str = ""  # one line: the CLI help and the docs
    changes: str = ""  # its effect on the fault state, in words (the docs)
    fields: tuple[Field, ...] = ()
    undone_by: str | None = None  # the kind that takes this fault away again
    backends: tuple[str, ...] = ("local", "docker", "swarm")
    example: str = ""  # CLI arguments of an example, for the docs and the walk test

    @property
    def takes_effect_at_once(self) -> bool:
        """A link, toxic, hook or network change is in force when ``inject`` returns; a
        process kind (a restart) or ``reset`` takes seconds by nature."""
        return self.group in ("links", "toxics", "hooks", "network")

    @property
    def cli_name(self) -> str:
        return self.name.replace("_", "-")

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    def request(self, raw: Mapping[str, Any], names: Sequence[str], seq: int = 0) -> Request:
        """Validate ``raw`` (scenario keys or CLI values): FieldError names the field."""
        takes = [f.name for f in self.fields]
        for key in raw:
            if key not in takes:
                text = ", ".join(takes) or "no fields"
                raise FieldError((key,), f'not a field of "{self.name}" (it takes: {text})')
        args: dict[str, Any] = {}
        for f in self.fields:
            if f.name in raw:
                args[f.name] = f.check(raw[f.name], names)
            elif f.required:
                raise FieldError((f.name,), f'required by "{self.name}", missing')
            elif f.default is not None:
                args[f.name] = f.default
        self.check(args, names)
        return Request(self.name, args, tuple(names), seq)

    def undo_args(self, args: Mapping[str, Any], undo: FaultKind) -> dict[str, Any]:
        """The arguments of ``undo`` (the kind ``undone_by`` names, which the caller took
        from the registry) that take this fault away: by default the fields the two kinds
        share (the node, usually)."""
        takes = {f.name for f in undo.fields}
        return {k: v for k, v in args.items() if k in takes}

    def check(self, args: Mapping[str, Any], names: Sequence[str]) -> None:
        """Rules across fields (FieldError with an empty path names the step)."""

    def effect(self, state: FaultState, req: Request) -> FaultState:
        raise NotImplementedError

    def recorded_args(self, before: FaultState, req: Request) -> Mapping[str, Any]:
        """The arguments the fault log records: the request's (a kind may add what the
        state before knew, e.g. the node kind an ``upgrade`` replaced)."""
        return req.args

    async def inject(self, ctx: Context, req: Request) -> None:
        raise NotImplementedError

    def describe(self, args: Mapping[str, Any]) -> str:
        parts = [self.name]
        for f in self.fields:
            if f.name not in args:
                continue
            v = args[f.name]
            if f.type == "groups":
                parts.append(" | ".join(",".join(g) for g in v))
            elif f.type == "link":
                parts.append(f"link {v[0]}->{v[1]}")
            elif f.type == "nodes":
                parts.append(",".join(v))
            elif f.positional:
                parts.append(str(v))
            else:
                parts.append(f"{f.name}={v}")
        return " ".join(parts)


class ProcessKind(FaultKind):
    """A fault on one node's process: kill, pause, resume, restart."""

    group = "processes"

    def __init__(self, name: str, summary: str, undone_by: str | None, changes: str) -> None:
        self.name = name
        self.summary = summary
        self.undone_by = undone_by
        self.changes = changes
        self.fields = (Field("node", "node", "the node", required=True, positional=True),)
        self.example = "v1"


class NodeKind(FaultKind):
    """A kind whose only field is one node."""

    fields = (Field("node", "node", "the node", required=True, positional=True),)
    example = "v1"


def links_of(node: str, names: Sequence[str], inbound: bool = True) -> list[tuple[str, str]]:
    out = [(node, d) for d in names if d != node]
    return out + ([(s, node) for s in names if s != node] if inbound else [])
