"""Fault windows for the timeline: what held on which validator, from when to when.

The input is the fault log in format 2 (each record carries the full fault ``state`` after
its action): a fault's window runs from the record that first shows it to the first later
record that no longer shows it. An older log is refused with one clear error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

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
    "double_sign",  # one byzantine step: the fault state does not change, the record shows it
)
# Kinds that act once and leave no fault state: a window spans only their own record.
MOMENTARY = {"double_sign": "double_sign: two conflicting prevotes at its next prevote"}


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
    for r in recs:
        node = (r.get("args") or {}).get("node")
        if r.get("kind") in MOMENTARY and isinstance(node, str):
            seq = int(r["seq"])
            kind = str(r["kind"])
            start, end = float(r["t_start"]), float(r["t_end"])
            out.append(Window(kind, node, MOMENTARY[kind], start, end, seq, seq, r.get("height")))
    return sorted(out, key=lambda w: (w.start, w.node, w.kind))
