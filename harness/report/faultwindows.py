"""Fault windows for the timeline: what held on which validator, from when to when.

The input is the fault log in format 2 (each record carries the full fault ``state`` after
its action): a fault's window runs from the record that first shows it to the first later
record that no longer shows it. ``from_format1`` below turns today's older records into
that shape so the report works on runs made before the format changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.checks.timeline import TOXIC_ACTIONS, NetState, apply_record

FORMAT = 2
# Window kinds, in the order the legend lists them.
KINDS = (
    "link_out",  # links from this validator are down (it is not heard)
    "link_in",  # links into this validator are down (it does not hear)
    "toxic",  # a Toxiproxy toxic on one of its outbound links
    "packet_loss",
    "killed",
    "paused",
    "lazy",
    "clock_offset",
)


class FaultLogError(ValueError):
    """A fault log the report cannot read; the message names the record."""


@dataclass(frozen=True)
class Window:
    kind: str
    node: str  # the validator whose lane shows it
    detail: str  # what a person reads on hover, e.g. "v4 -> v0 down"
    start: float  # wall seconds: t_start of the record that first shows it
    end: float | None  # t_end of the first record that no longer shows it; None: to the end
    opened_by: int  # seq of that first record
    closed_by: int | None
    height: int | None  # chain height when it was injected


def _facts(state: Mapping[str, Any]) -> dict[tuple[str, str, str], str]:
    """Every fault a state shows, as (kind, node, key) -> detail."""
    out: dict[tuple[str, str, str], str] = {}
    for link in state.get("links_down") or []:
        src, _, dst = str(link).partition("_to_")
        out["link_out", src, dst] = f"{src} -> {dst} down"
        out["link_in", dst, src] = f"{src} -> {dst} down"
    for link, toxics in (state.get("toxics") or {}).items():
        src, _, dst = str(link).partition("_to_")
        for t in toxics:
            attrs = ", ".join(f"{k}={v}" for k, v in sorted((t.get("attributes") or {}).items()))
            key = f"{dst}/{t.get('name', t.get('type'))}"
            out["toxic", src, key] = f"{t.get('type')} {attrs} on {src} -> {dst}"
    for node, p in (state.get("packet_loss") or {}).items():
        out["packet_loss", node, str(p)] = f"drops {float(p):.0%} of packets"
    for node in state.get("killed") or []:
        out["killed", node, ""] = "killed"
    for node in state.get("paused") or []:
        out["paused", node, ""] = "paused"
    for node, hook in (state.get("hooks") or {}).items():
        if hook.get("lazy"):
            out["lazy", node, ""] = "lazy: answers no challenge"
        if hook.get("clock_offset_ms"):
            ms = int(hook["clock_offset_ms"])
            out["clock_offset", node, str(ms)] = f"clock offset {ms:+d} ms"
    return out


def fault_windows(records: Iterable[Mapping[str, Any]]) -> list[Window]:
    """The windows of every fault in a format-2 log (see the module docstring)."""
    recs = list(records)
    for i, r in enumerate(recs):
        if r.get("format") != FORMAT:
            raise FaultLogError(
                f"fault record {i}: format {r.get('format')!r}, the report reads format {FORMAT}"
            )
    recs.sort(key=lambda r: int(r["seq"]))
    open_: dict[tuple[str, str, str], tuple[str, Mapping[str, Any]]] = {}
    out: list[Window] = []

    def window(key: tuple[str, str, str], detail: str, first: Mapping[str, Any]) -> Window:
        return Window(
            key[0],
            key[1],
            detail,
            float(first["t_start"]),
            None,
            int(first["seq"]),
            None,
            first.get("height"),
        )

    for r in recs:
        facts = _facts(r.get("state") or {})
        for key in [k for k in open_ if k not in facts]:
            detail, first = open_.pop(key)
            w = window(key, detail, first)
            out.append(
                Window(
                    w.kind,
                    w.node,
                    w.detail,
                    w.start,
                    float(r["t_end"]),
                    w.opened_by,
                    int(r["seq"]),
                    w.height,
                )
            )
        for key, detail in facts.items():
            open_.setdefault(key, (detail, r))
    out += [window(key, detail, first) for key, (detail, first) in open_.items()]
    return sorted(out, key=lambda w: (w.start, w.node, w.kind))


# ---- old-format adapter: remove once every log is written in format 2 -------------------

_BEFORE = {"kill", "pause"}  # old records of these were written before the action
_ACTION_S = 0.05  # what an action typically takes on a quiet host (old records lack it)


def from_format1(
    records: Iterable[Mapping[str, Any]], nodes: Iterable[str]
) -> list[dict[str, Any]]:
    """OLD-FORMAT ADAPTER: today's FaultRecord dicts (time, height, action, params) as
    format-2 records, the state replayed with the checkers' own reading of each action."""
    names = tuple(sorted(nodes))
    state = NetState(names)
    toxics: dict[str, list[dict[str, Any]]] = {}
    out = []
    for seq, r in enumerate(sorted(records, key=lambda r: float(r["time"]))):
        action, params = str(r.get("action")), dict(r.get("params") or {})
        state = apply_record(state, action, params)
        if action in ("clear", "clear_toxics") or (
            action == "heal" and not params.get("links_only")
        ):
            toxics = {}
        elif action in TOXIC_ACTIONS:
            link = params.get("link") or []
            srcs = [link[0]] if link else list(params.get("nodes") or [])
            attrs = {
                k: v for k, v in params.items() if k not in ("nodes", "link") and v is not None
            }
            for src in srcs:
                dsts = [link[1]] if link else [n for n in names if n != src]
                for dst in dsts:
                    toxics.setdefault(f"{src}_to_{dst}", []).append(
                        {"name": f"{action}_{seq}", "type": action, "attributes": attrs}
                    )
        t = float(r["time"])
        hooks: dict[str, dict[str, Any]] = {}
        for n in state.lazy:
            hooks.setdefault(n, {"lazy": False, "clock_offset_ms": 0})["lazy"] = True
        for n, ms in state.offsets.items():
            if ms:
                hooks.setdefault(n, {"lazy": False, "clock_offset_ms": 0})["clock_offset_ms"] = ms
        out.append(
            {
                "format": FORMAT,
                "seq": seq,
                "kind": action,
                "args": params,
                "height": r.get("height"),
                "t_start": t if action in _BEFORE else t - _ACTION_S,
                "t_end": t + _ACTION_S if action in _BEFORE else t,
                "state": {
                    "links_down": sorted(f"{a}_to_{b}" for a, b in state.down),
                    "toxics": {k: list(v) for k, v in sorted(toxics.items())},
                    "killed": sorted(state.killed),
                    "paused": sorted(state.paused),
                    "hooks": hooks,
                    "packet_loss": {},
                },
            }
        )
    return out


def as_format2(records: Iterable[Mapping[str, Any]], nodes: Iterable[str]) -> list[dict[str, Any]]:
    """A run's fault log in format 2: as it is, or through the old-format adapter."""
    recs = [dict(r) for r in records]
    if recs and all("format" not in r and "action" in r for r in recs):
        return from_format1(recs, nodes)
    return recs
