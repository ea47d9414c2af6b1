"""§15.12 Split: on a run mixing node implementations, where they first disagreed.

Two implementations of one contract that disagree on a block or an epoch result split the
network by implementation: each side follows its own rules. The fault log says which
implementation every validator ran when (``state.implementations``; the first record gives
the start's, or, when it is an ``upgrade``, its ``from`` does for the upgraded node); the
chains and results each node served say what it decided. Reported,
each the FIRST of its kind, with the sides and the stake each holds:

- a height whose block (or certificate) nodes of different implementations served
  differently, or that one implementation finalized while every node of the other stalled
  below it although connected to more than 2/3 of the stake in force (fault view);
- an epoch whose result differs between the implementations, field by field.

A divergence inside one implementation is agreement's or determinism's to report, not this.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.checks.analysis import Analysis, served_hash
from harness.checks.faultview import RECONNECT_S, FaultView
from harness.checks.history import History
from harness.checks.timeline import records
from harness.checks.verdict import CheckResult

NAME = "split"
FETCH_MARGIN_S = 1.0  # as liveness: the heads are read just after ``collected_at``


@dataclass(frozen=True)
class Implementations:
    """Which implementation each validator ran, over time: (from, mapping) in effect order."""

    changes: tuple[tuple[float, Mapping[str, str]], ...]

    @classmethod
    def from_faults(cls, faults: Sequence[Mapping[str, Any]]) -> Implementations:
        out: list[tuple[float, Mapping[str, str]]] = []
        for r in records(faults):  # in effect order; a malformed log fails with one line
            kinds = dict(r.state.implementations)
            if not kinds:
                continue
            if not out:  # the start's kinds: an upgrade's record names the kind it replaced
                before = dict(kinds)
                node, was = r.args.get("node"), r.args.get("from")
                if r.kind == "upgrade" and isinstance(node, str) and isinstance(was, str):
                    before[node] = was
                out.append((-math.inf, before))
            if out[-1][1] != kinds:
                out.append((r.t_start, kinds))
        return cls(tuple(out))

    def at(self, node: str, t: float) -> str | None:
        """``node``'s implementation at wall time ``t`` (from an upgrade's start on, the new)."""
        found = None
        for since, kinds in self.changes:
            if since <= t:
                found = kinds.get(node, found)
        return found

    def mixed(self) -> bool:
        return any(len(set(k.values())) > 1 for _, k in self.changes)


@dataclass(frozen=True)
class Divergence:
    """The first divergence of one kind; ``height`` is the first height it can affect."""

    kind: str  # "block", "stall" or "epoch"
    height: int
    text: str


def _block_time(entry: object) -> float:
    if isinstance(entry, dict) and isinstance(entry.get("block"), dict):
        t = entry["block"].get("time_ms")
        if isinstance(t, int | float):
            return float(t) / 1000
    return math.inf


def _cert_hash(entry: object) -> str | None:
    cert = entry.get("certificate") if isinstance(entry, dict) else None
    return cert.get("block_hash") if isinstance(cert, dict) else None


def _disjoint(groups: Mapping[Any, set[str]]) -> bool:
    """Two values held by disjoint sets of implementations: a split, not one node's fault."""
    sets = list(groups.values())
    return any(not (a & b) for i, a in enumerate(sets) for b in sets[i + 1 :])


def _by_impl(members: Sequence[tuple[str, str]]) -> str:
    """``python v0 v1; rust v3`` from (node, implementation) pairs."""
    sides: dict[str, list[str]] = {}
    for node, impl in members:
        sides.setdefault(impl, []).append(node)
    return "; ".join(f"{i} {' '.join(sorted(ns))}" for i, ns in sorted(sides.items()))


def _sides(a: Analysis, kinds: dict[str, str], committee: Mapping[str, int], where: str) -> str:
    """Which implementation holds which stake of ``committee``."""
    total = sum(committee.values())
    held: dict[str, list[tuple[str, int]]] = {}
    for address, stake in committee.items():
        name = a.n(address)
        held.setdefault(kinds.get(name, "unknown"), []).append((name, stake))
    parts = [
        f"{impl} holds {sum(s for _, s in vs)} of {total} ({', '.join(sorted(n for n, _ in vs))})"
        for impl, vs in sorted(held.items())
    ]
    return f"sides {where}: " + "; ".join(parts)


def _impls_at_height(history: History, impls: Implementations, height: int) -> dict[str, str]:
    out: dict[str, str] = {}
    for node, chain in history.chains.items():
        t = _block_time(chain[height - 1]) if height <= len(chain) else math.inf
        impl = impls.at(node, t)
        if impl is not None:
            out[node] = impl
    return out


def _fork(a: Analysis, impls: Implementations) -> Divergence | None:
    """The first height where nodes of disjoint implementations served different blocks or
    certificates for different blocks."""
    chains = a.history.chains
    top = max((len(c) for c in chains.values()), default=0)
    for h in range(1, top + 1):
        groups: dict[tuple[str | None, str | None], list[tuple[str, str]]] = {}
        for node, chain in sorted(chains.items()):
            if h <= len(chain):
                impl = impls.at(node, _block_time(chain[h - 1]))
                if impl is not None:
                    key = (served_hash(chain[h - 1]), _cert_hash(chain[h - 1]))
                    groups.setdefault(key, []).append((node, impl))
        if not _disjoint({k: {i for _, i in v} for k, v in groups.items()}):
            continue
        blocks = {b for b, _ in groups}
        what = "block" if len(blocks) > 1 else "certificate"
        detail = "; ".join(
            f"{_by_impl(v)} served {str(b)[:16]}"
            + (f" certified {str(c)[:16]}" if what == "certificate" else "")
            for (b, c), v in sorted(groups.items(), key=str)
        )
        kinds = _impls_at_height(a.history, impls, h)
        committee = a.replay().committees.get(a.params.epoch_of(h), a.history.genesis_stakes)
        return Divergence(
            "block",
            h,
            f"first divergent height {h}: the {what} differs between implementations: "
            f"{detail}; {_sides(a, kinds, committee, f'at height {h}')}",
        )
    return None


def _stall(a: Analysis, impls: Implementations) -> Divergence | None:
    """The lowest height one implementation finalized while every node of another stalled
    below it, one of them connected to > 2/3 of the stake in force for that height."""
    h_ = a.history
    view = FaultView(a)
    end = h_.collected_at - FETCH_MARGIN_S if h_.collected_at is not None else None
    readable = {n: c for n, c in h_.chains.items() if n not in h_.unreachable}
    sides: dict[str, list[str]] = {}
    for node in readable:
        impl = impls.at(node, math.inf)
        if impl is not None:
            sides.setdefault(impl, []).append(node)
    found: Divergence | None = None
    for slow, slow_nodes in sorted(sides.items()):
        head = max(len(readable[n]) for n in slow_nodes)
        h = head + 1
        for fast, fast_nodes in sorted(sides.items()):
            leader = max(sorted(fast_nodes), key=lambda n: len(readable[n]))
            if fast == slow or len(readable[leader]) < h or (found and found.height <= h):
                continue
            t_h = _block_time(readable[leader][h - 1])
            stop = end if end is not None else _block_time(readable[leader][-1])
            committee = a.replay(leader).committees.get(a.params.epoch_of(h), {})
            stake = view.stakes_by_name(committee)
            for node in sorted(n for n in slow_nodes if len(readable[n]) == head):
                why = _connected_since(view, node, stake, t_h, stop)
                if why is None:
                    continue
                kinds = {n: impls.at(n, math.inf) or "unknown" for n in h_.chains}
                found = Divergence(
                    "stall",
                    h,
                    f"first divergent height {h}: {fast} ({' '.join(sorted(fast_nodes))}) "
                    f"finalized it, {slow} ({' '.join(sorted(slow_nodes))}) stalled at "
                    f"{head}: {node} {why}; "
                    f"{_sides(a, kinds, committee, f'at height {h}')}",
                )
                break
    return found


def _connected_since(
    view: FaultView, node: str, stake: Mapping[str, int], t_h: float, stop: float
) -> str | None:
    """How ``node`` stayed connected to > 2/3 of ``stake``, unimpaired, for longer than a
    stall budget (plus a redial) between block ``t_h`` and the end; None if it did not."""
    total = sum(stake.values())
    start: float | None = None
    holds = ""
    for seg in view.segments:
        if seg.end_lo <= t_h or seg.start_hi >= stop:
            continue
        st = seg.state
        group = st.heaviest_linked_group(stake, containing=node)
        power = sum(stake.get(x, 0) for x in group)
        ok = (
            total > 0
            and 3 * power > 2 * total
            and node not in st.toxic
            and node not in st.lossy
            and not st.offsets.get(node)
        )
        if not ok:
            start = None
            continue
        if start is None:
            start = max(t_h, seg.start_hi + (RECONNECT_S if seg.index > 0 else 0.0))
            holds = f"{sorted(group)} connected, {power}/{total}"
    if start is None:
        return None
    length = stop - start
    if length <= view.timing.stall_budget_s + RECONNECT_S:
        return None
    return f"connected {length:.1f} s ({holds}) without finalizing it"


def _flatten(result: Mapping[str, Any], name_of: Any) -> dict[str, Any]:
    """A result as field -> value, validators by name (``validators.v3.slashed``)."""
    out: dict[str, Any] = {}
    for key, value in result.items():
        if key == "validators" and isinstance(value, list):
            for v in value:
                if isinstance(v, dict):
                    who = name_of(str(v.get("address", "?")))
                    for f, x in v.items():
                        if f != "address":
                            out[f"validators.{who}.{f}"] = x
        elif key in ("ejected", "next_committee") and isinstance(value, list):
            out[key] = sorted(name_of(str(x)) for x in value)
        else:
            out[key] = value
    return out


def _epoch(a: Analysis, impls: Implementations) -> Divergence | None:
    """The first epoch whose result nodes of disjoint implementations served differently."""
    h_ = a.history
    length = a.params.epoch_length
    epochs = sorted({e for rs in h_.results.values() for e in rs})
    for e in epochs:
        last = (e + 1) * length
        flat: dict[str, tuple[str, dict[str, Any]]] = {}
        for node, rs in sorted(h_.results.items()):
            if e not in rs:
                continue
            chain = h_.chains.get(node, [])
            t = _block_time(chain[last - 1]) if last <= len(chain) else math.inf
            impl = impls.at(node, t)
            if impl is not None:
                flat[node] = (impl, _flatten(rs[e], h_.name))
        fields = sorted({f for _, fl in flat.values() for f in fl})
        diffs: list[str] = []
        for f in fields:
            values: dict[str, list[tuple[str, str]]] = {}
            for node, (impl, fl) in flat.items():
                values.setdefault(repr(fl.get(f, "absent")), []).append((node, impl))
            if _disjoint({v: {i for _, i in m} for v, m in values.items()}):
                diffs.append(
                    f"{f}: " + "; ".join(f"{_by_impl(m)} = {v}" for v, m in sorted(values.items()))
                )
        if diffs:
            kinds = {n: impl for n, (impl, _) in flat.items()}
            committee = a.replay().committees.get(e, h_.genesis_stakes)
            return Divergence(
                "epoch",
                last + 1,
                f"first divergent epoch {e}: its result differs between implementations in "
                f"{len(diffs)} field(s): {' | '.join(diffs)}; "
                f"{_sides(a, kinds, committee, f'in epoch {e}')}",
            )
    return None


def divergences(history: History, analysis: Analysis | None = None) -> list[Divergence]:
    """The first divergence of each kind found (empty on an agreeing or unmixed run)."""
    a = analysis or Analysis(history)

    def compute() -> list[Divergence]:
        impls = Implementations.from_faults(history.faults)
        if not impls.mixed():
            return []
        found = [_fork(a, impls), _stall(a, impls), _epoch(a, impls)]
        return sorted((d for d in found if d is not None), key=lambda d: d.height)

    return a.memo(f"{NAME}.divergences", compute)


def split_height(history: History, analysis: Analysis | None = None) -> int | None:
    """The first height a split between implementations can explain a stall at, or None."""
    found = divergences(history, analysis)
    return min(d.height for d in found) if found else None


def check(history: History, analysis: Analysis | None = None) -> CheckResult:
    a = analysis or Analysis(history)
    impls = Implementations.from_faults(history.faults)
    if not impls.changes:
        return CheckResult(
            NAME, "unknown", ["not applicable: the fault log records no implementations"]
        )
    if not impls.mixed():
        one = sorted({k for _, m in impls.changes for k in m.values()})
        return CheckResult(
            NAME, "unknown", [f"not applicable: every validator ran {', '.join(one)}"]
        )
    found = divergences(history, a)
    if found:
        return CheckResult(NAME, "fail", [d.text for d in found])
    heads = ", ".join(f"{n}={len(c)}" for n, c in sorted(history.chains.items()))
    epochs = sorted({e for rs in history.results.values() for e in rs})
    start = _by_impl(sorted(_impls_at_height(history, impls, 1).items()))
    end = _by_impl(sorted((n, k) for n, k in impls.changes[-1][1].items()))
    when = f"at the start: {start}" + (f"; at the end: {end}" if end != start else "")
    return CheckResult(
        NAME,
        "pass",
        [
            f"implementations agree on every block and certificate ({heads}) and on "
            f"{len(epochs)} epoch result(s); {when}"
        ],
    )
