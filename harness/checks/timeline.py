"""The fault log turned into who could reach whom, when — with the uncertainty kept.

Every record (FAULTLOG format 2) carries the full fault state after its action and the
wall-time window [t_start, t_end] in which the action took effect, plus the highest chain
height a running node reported once it had (so every node was at most there when it
happened). The state is read as it is recorded; nothing is rebuilt from action names. The
checkers only call a validator certainly cut off when a state surely covered a whole
interval, and only possibly impaired when some state touching it may have overlapped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.cluster.testnet import link_ends
from harness.faults.kinds import KINDS
from harness.faults.kinds._toxic import ToxicKind
from harness.faults.log import FaultRecord
from harness.faults.state import FaultState

# Toxics that cut or end a connection hurt both ends of the link; the others degrade the
# data of one direction (the sender: src for upstream, dst for downstream).
BREAKS_CONNECTION = frozenset(
    k.toxic_type for k in KINDS.values() if isinstance(k, ToxicKind) and k.breaks_connection
)


@dataclass
class NetState:
    """The fault state between two records: links down, processes stopped, hooks on."""

    nodes: tuple[str, ...]
    down: set[tuple[str, str]] = field(default_factory=set)
    killed: set[str] = field(default_factory=set)
    paused: set[str] = field(default_factory=set)
    lazy: set[str] = field(default_factory=set)
    toxic: set[str] = field(default_factory=set)  # nodes some toxic touches
    offsets: dict[str, int] = field(default_factory=dict)
    lossy: set[str] = field(default_factory=set)  # packet loss or netem on its interface

    def copy(self) -> NetState:
        return NetState(
            self.nodes,
            set(self.down),
            set(self.killed),
            set(self.paused),
            set(self.lazy),
            set(self.toxic),
            dict(self.offsets),
            set(self.lossy),
        )

    def running(self, name: str) -> bool:
        return name not in self.killed and name not in self.paused

    def reachable_from(self, name: str) -> set[str]:
        """Running nodes a message from ``name`` can reach over enabled links (gossip relays)."""
        if not self.running(name):
            return set()
        seen, todo = {name}, [name]
        while todo:
            a = todo.pop()
            for b in self.nodes:
                if b not in seen and self.running(b) and (a, b) not in self.down:
                    seen.add(b)
                    todo.append(b)
        return seen

    def linked(self, a: str, b: str) -> bool:
        """Both running, and both directed links between them up."""
        return (
            self.running(a)
            and self.running(b)
            and (a, b) not in self.down
            and (b, a) not in self.down
        )

    def linked_groups(self) -> list[set[str]]:
        """The maximal groups of running nodes every two of which are linked both ways: the
        contract's "connected" (§15.7). Gossip (§16.7) relays only a polka's prevotes and a
        decided height's certificate, so a group that reaches itself only around a one-way
        cut may rightly stall a round (every node short of the quorum of votes it waits for).
        Bron-Kerbosch with a pivot: few groups when few links are down."""
        up = [n for n in self.nodes if self.running(n)]
        nbrs = {a: {b for b in up if b != a and self.linked(a, b)} for a in up}
        out: list[set[str]] = []

        def grow(r: set[str], p: set[str], x: set[str]) -> None:
            if not p and not x:
                out.append(r)
                return
            pivot = max(p | x, key=lambda u: len(nbrs[u] & p))
            for v in sorted(p - nbrs[pivot]):
                grow(r | {v}, p & nbrs[v], x & nbrs[v])
                p = p - {v}
                x = x | {v}

        grow(set(), set(up), set())
        return out

    def heaviest_linked_group(
        self, stake: Mapping[str, int], containing: str | None = None
    ) -> set[str]:
        """The linked group (``linked_groups``) holding the most stake, among those that
        contain ``containing`` when given; empty when there is none."""
        groups = [g for g in self.linked_groups() if containing is None or containing in g]
        return max(groups, key=lambda g: sum(stake.get(x, 0) for x in g), default=set())

    def components(self) -> list[set[str]]:
        """Strongly connected groups of running nodes: who can talk to whom both ways."""
        reach = {a: self.reachable_from(a) for a in self.nodes if self.running(a)}
        out: list[set[str]] = []
        for a in reach:
            if any(a in c for c in out):
                continue
            out.append({b for b in reach[a] if a in reach.get(b, set())})
        return out

    def excluded(self, name: str, stake: Mapping[str, int]) -> str | None:
        """Why ``name`` surely cannot get a response into a finalized block, or None.

        A response is included only by a proposer that received it, and a block is finalized
        only when its proposal reaches > 2/3 of the stake; both lie in what ``name`` reaches.
        """
        if name in self.killed:
            return "killed"
        if name in self.paused:
            return "paused"
        if name in self.lazy:
            return "lazy (answers no challenge)"
        reach = self.reachable_from(name)
        power = sum(stake.get(a, 0) for a in reach)
        total = sum(stake.values())
        if 3 * power <= 2 * total:
            return f"reaches only {sorted(reach)} ({power} of {total} stake)"
        return None

    def touched(self, name: str, stake: Mapping[str, int]) -> str | None:
        """Why ``name`` may be impaired (a superset of ``excluded``), or None.

        Links down elsewhere do not touch it as long as it stays in the strongest
        connected group (relays carry its messages around a one-way cut).
        """
        if name in self.killed or name in self.paused or name in self.lazy:
            return "stopped or lazy"
        groups = self.components()
        best = max(groups, key=lambda g: sum(stake.get(x, 0) for x in g), default=set())
        if name not in best:
            return f"outside the best-connected group {sorted(best)}"
        if name in self.toxic:
            return "a toxic on its links"
        if self.offsets.get(name):
            return f"clock offset {self.offsets[name]} ms"
        if name in self.lossy:
            return "packet loss or netem on its interface"
        return None


@dataclass(frozen=True)
class Segment:
    """The state that held from one record's effect to the next's: [start, end] windows."""

    index: int
    state: NetState
    start_lo: float  # effect of the opening record: not before start_lo ...
    start_hi: float  # ... and surely by start_hi
    start_height: int | None  # opened while every node was at most at this height
    end_lo: float  # the next record's effect: not before end_lo (inf: never ended)
    end_hi: float
    opened_by: str


def state_of(state: FaultState, nodes: Iterable[str]) -> NetState:
    """The recorded fault state as the checkers' reachability model."""
    toxic: set[str] = set()
    for link, toxics in state.toxics.items():
        src, dst = link_ends(link)
        for t in toxics:
            if t.type in BREAKS_CONNECTION:
                toxic |= {src, dst}
            else:
                toxic.add(src if t.stream == "upstream" else dst)
    return NetState(
        tuple(nodes),
        state.down_pairs(),
        set(state.killed),
        set(state.paused),
        state.lazy(),
        toxic,
        {n: o for n, o in state.clock_offsets().items() if o},
        set(state.packet_loss) | set(state.netem),
    )


def records(faults: Iterable[Mapping[str, Any]]) -> list[FaultRecord]:
    """The log's records in the order they took effect; ValueError (OldLog) names a bad one."""
    out = [FaultRecord.from_json(f, f"faults[{i}]") for i, f in enumerate(faults)]
    return sorted(out, key=lambda r: (r.t_start, r.seq))


def _who(args: Mapping[str, Any]) -> str:
    out: set[str] = set()

    def walk(v: Any) -> None:
        if isinstance(v, str) and v.startswith("v") and v[1:].isdigit():
            out.add(v)
        elif isinstance(v, list | tuple):
            for x in v:
                walk(x)

    for v in args.values():
        walk(v)
    return " ".join(sorted(out))


def segments(
    faults: Iterable[Mapping[str, Any]], nodes: Iterable[str], first_time: float
) -> list[Segment]:
    """The fault states in order; segment 0 is the fault-free start of the run."""
    recs = records(faults)
    names = tuple(nodes)
    states = [NetState(names)] + [state_of(r.state, names) for r in recs]
    windows = [(r.t_start, r.t_end) for r in recs]
    out = []
    inf = float("inf")
    for k, st in enumerate(states):
        if k == 0:
            s_lo = s_hi = min(first_time, windows[0][0]) if windows else first_time
            height: int | None = 0
            opened = "start"
        else:
            r = recs[k - 1]
            s_lo, s_hi = windows[k - 1]
            height = r.height
            who = _who(r.args)
            at = f"height {r.height}, " if r.height is not None else ""
            opened = f"{r.kind}{' ' + who if who else ''} ({at}t={r.t_start:.2f})"
        e_lo, e_hi = windows[k] if k < len(windows) else (inf, inf)
        out.append(Segment(k, st, s_lo, s_hi, height, e_lo, e_hi, opened))
    return out


def max_offset_s(faults: Iterable[Mapping[str, Any]]) -> float:
    """The largest clock offset any recorded state held: how far a block's time may be off."""
    offsets = [abs(o) for r in records(faults) for o in r.state.clock_offsets().values()]
    return max(offsets, default=0) / 1000
