"""What the timeline shows, computed from a run's saved files (pure; no drawing here).

Block times, challenges and epoch outcomes come from the checkers' own replay of the
reference chain (CLP_SPEC §4-§7 recomputed), so the picture shows what the chain proves,
not what a node claims.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.checks.analysis import Analysis
from harness.checks.history import History
from harness.report.faultwindows import Window


@dataclass(frozen=True)
class ChallengeMark:
    height: int
    deadline: int
    epoch: int
    included: dict[str, int]  # validator name -> height of the block that included it
    expected: tuple[str, ...]  # validator names asked


@dataclass(frozen=True)
class EpochMark:
    epoch: int
    last_height: int
    systemic: bool
    slashed: dict[str, int]  # name -> amount
    ejected: tuple[str, ...]
    deferred: tuple[str, ...]
    rates: dict[str, int]  # name -> rate bps
    evaluated: bool = True  # False: the run ended inside this epoch
    after: dict[str, tuple[int, str]] = field(default_factory=dict)  # name -> (stake, status)


@dataclass
class Timeline:
    nodes: list[str]
    t0: float
    t1: float
    block_times: dict[int, float] = field(default_factory=dict)  # reference chain
    challenges: list[ChallengeMark] = field(default_factory=list)
    epochs: list[EpochMark] = field(default_factory=list)
    windows: list[Window] = field(default_factory=list)
    heights: dict[str, list[tuple[float, int]]] = field(default_factory=dict)  # per node
    fault_times: dict[int, float] = field(default_factory=dict)  # seq -> t_start
    fault_labels: dict[int, str] = field(default_factory=dict)  # seq -> "isolate v4"
    #: The node kind each validator ran (python, rust), from the start (time None) and at
    #: each change (an ``upgrade``'s t_start); empty when the fault log does not say.
    kinds: dict[str, list[tuple[float | None, str]]] = field(default_factory=dict)

    def x_of_height(self, height: int) -> float | None:
        return self.block_times.get(height)


def build_timeline(
    history: History | None,
    faults: Sequence[Mapping[str, Any]],
    windows: list[Window],
    trace: Sequence[Mapping[str, Any]] = (),
    nodes: Sequence[str] = (),
) -> Timeline:
    """Everything the picture needs; ``trace`` is the runner's sampled heights."""
    names = sorted(set(nodes) | (set(history.chains) if history else set()), key=_node_key)
    tl = Timeline(names, 0.0, 0.0, windows=windows)
    if history is not None:
        a = Analysis(history)
        rep = a.replay()
        n = history.name
        tl.block_times = {h: t / 1000 for h, t in sorted(rep.times_ms.items())}
        for c in rep.challenges.values():
            tl.challenges.append(
                ChallengeMark(
                    c.height,
                    c.deadline,
                    c.epoch,
                    {n(v): h for v, h in c.included.items()},
                    tuple(n(v) for v in c.expected),
                )
            )
        for e, r in sorted(rep.results.items()):
            vs = r.get("validators", [])
            tl.epochs.append(
                EpochMark(
                    e,
                    a.params.epoch_length * (e + 1),
                    bool(r.get("systemic")),
                    {n(v["address"]): int(v["slashed"]) for v in vs if v.get("slashed")},
                    tuple(n(x) for x in r.get("ejected", [])),
                    tuple(n(v["address"]) for v in vs if v.get("status") == "ejection_deferred"),
                    {n(v["address"]): int(v["rate_bps"]) for v in vs},
                    after={n(v["address"]): (int(v["stake_after"]), str(v["status"])) for v in vs},
                )
            )
        top = max(tl.block_times, default=0)
        E = a.params.epoch_length
        for e in range(len(tl.epochs), (top - 1) // E + 1 if top else 0):
            tl.epochs.append(EpochMark(e, min(E * (e + 1), top), False, {}, (), (), {}, False))
        for node, chain in history.chains.items():
            pts = [
                (b["block"]["time_ms"] / 1000, int(b["height"]))
                for b in chain
                if isinstance(b, dict) and isinstance(b.get("block"), dict)
            ]
            tl.heights[node] = pts
    if trace:
        merge_sampled(tl.heights, trace)
    tl.fault_times = {int(f["seq"]): float(f["t_start"]) for f in faults}
    tl.fault_labels = {int(f["seq"]): _label(f, names) for f in faults}
    tl.kinds = kinds_over_time(faults)
    times = [t for t in tl.block_times.values()]
    times += [t for pts in tl.heights.values() for t, _ in pts]
    times += [w.start for w in windows] + [w.end for w in windows if w.end is not None]
    times += list(tl.fault_times.values())
    if times:
        tl.t0, tl.t1 = min(times), max(times)
    if tl.t1 <= tl.t0:
        tl.t1 = tl.t0 + 1.0
    return tl


def kinds_over_time(
    faults: Sequence[Mapping[str, Any]],
) -> dict[str, list[tuple[float | None, str]]]:
    """Each validator's node kind at the start and after each change, from the fault
    states' ``implementations`` (the start's: the first record's, with the kind an
    ``upgrade`` record says it replaced, ``args.from``)."""
    out: dict[str, list[tuple[float | None, str]]] = {}
    for f in faults:
        kinds = (f.get("state") or {}).get("implementations") or {}
        args = f.get("args") or {}
        for node, kind in kinds.items():
            seen = out.get(node)
            if seen is None:
                was = (
                    args.get("from")
                    if f.get("kind") == "upgrade" and args.get("node") == node
                    else None
                )
                out[node] = [(None, str(was or kind))]
                seen = out[node]
            if seen[-1][1] != kind:
                seen.append((float(f.get("t_start", 0.0)), str(kind)))
    return out


def _node_key(name: str) -> tuple[str, int]:
    """v2 before v10."""
    head = name.rstrip("0123456789")
    tail = name[len(head) :]
    return head, int(tail) if tail else -1


def _label(record: Mapping[str, Any], nodes: Sequence[str]) -> str:
    """A fault action in a few words: its kind and the nodes its arguments name."""
    named: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, str) and v in nodes and v not in named:
            named.append(v)
        elif isinstance(v, list | tuple):
            for x in v:
                walk(x)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)

    walk(record.get("args") or {})
    return " ".join([str(record.get("kind")), *named])


def merge_sampled(
    heights: dict[str, list[tuple[float, int]]], trace: Sequence[Mapping[str, Any]]
) -> None:
    """The sampled heights win while they were taken (they show a node lagging, not only
    the chain); before the first sample and after the last, the node's own chain says how
    it went on (a run keeps going after its last watched step: quiet period, collection)."""
    sampled: dict[str, list[tuple[float, int]]] = {}
    for s in trace:
        for node, h in (s.get("heights") or {}).items():
            if h is not None:
                sampled.setdefault(node, []).append((float(s["t"]), int(h)))
    for node, pts in sampled.items():
        lo, hi = pts[0][0], pts[-1][0]
        chain = heights.get(node, [])
        heights[node] = sorted(
            [p for p in chain if p[0] < lo] + pts + [p for p in chain if p[0] > hi]
        )
