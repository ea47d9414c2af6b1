"""The fault log turned into who could reach whom, when — with the uncertainty kept.

A fault record carries the harness's wall time and the highest chain height seen when it
was written. For most actions the record is written *after* the action took effect (so
the effect happened at most at ``time``, while every node was at most at ``height``); for
kill and pause it is written *before* (the effect came just after ``time``). Each record
thus bounds its effect to a window [t_lo, t_hi]; the checkers only call a validator
certainly cut off when the fault surely covered a whole interval, and only possibly
impaired when some fault touching it may have overlapped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

ACTION_S = 0.5  # a fault action plus the height query of its record, on a healthy host
QUERY_TIMEOUT_S = 2.5  # a paused node makes the record's height query wait this long
BEFORE_ACTION = frozenset({"kill", "pause"})
LINK_ACTIONS = frozenset({"partition", "cut", "isolate", "mute"})
TOXIC_ACTIONS = frozenset({"latency", "bandwidth", "timeout", "reset_peer"})
NON_FAULTS = frozenset({"post_response", "expect_stalled", "expect_progress"})
KNOWN = (
    LINK_ACTIONS
    | TOXIC_ACTIONS
    | NON_FAULTS
    | {"heal", "clear", "kill", "pause", "resume", "restart", "lazy", "active", "clock_offset"}
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
    unrecognized: set[str] = field(default_factory=set)  # nodes named by unknown actions

    def copy(self) -> NetState:
        return NetState(
            self.nodes,
            set(self.down),
            set(self.killed),
            set(self.paused),
            set(self.lazy),
            set(self.toxic),
            dict(self.offsets),
            set(self.unrecognized),
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
        if name in self.unrecognized:
            return "named by an unrecognized fault"
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


def _names(params: Mapping[str, Any]) -> set[str]:
    out: set[str] = set()
    for key in ("node", "src", "dst", "via"):
        if isinstance(params.get(key), str):
            out.add(params[key])
    for key in ("nodes", "link"):
        if isinstance(params.get(key), list):
            out |= {x for x in params[key] if isinstance(x, str)}
    for g in params.get("groups") or []:
        if isinstance(g, list):
            out |= {x for x in g if isinstance(x, str)}
    return out


def apply_record(state: NetState, action: str, params: Mapping[str, Any]) -> NetState:
    s = state.copy()
    node = params.get("node")
    if action == "partition":
        groups = [list(g) for g in params.get("groups") or []]
        named = {x for g in groups for x in g}
        rest = [x for x in s.nodes if x not in named]
        if rest:
            groups.append(rest)
        group_of = {x: i for i, g in enumerate(groups) for x in g}
        s.down |= {
            (a, b)
            for a in s.nodes
            for b in s.nodes
            if a != b and group_of.get(a, -1) != group_of.get(b, -1)
        }
    elif action == "cut":
        s.down.add((str(params.get("src")), str(params.get("dst"))))
    elif action == "isolate":
        s.down |= {(a, b) for a in s.nodes for b in s.nodes if a != b and node in (a, b)}
    elif action == "mute":
        s.down |= {(str(node), b) for b in s.nodes if b != node}
    elif action == "heal":
        s.down.clear()
        s.toxic.clear()
    elif action in TOXIC_ACTIONS:
        s.toxic |= _names(params)
    elif action == "kill":
        s.killed.add(str(node))
    elif action == "pause":
        s.paused.add(str(node))
    elif action == "resume":
        s.paused.discard(str(node))
    elif action == "restart":
        s.killed.discard(str(node))
        s.paused.discard(str(node))
    elif action == "lazy":
        if params.get("on", True):
            s.lazy.add(str(node))
        else:
            s.lazy.discard(str(node))
    elif action == "active":
        s.lazy.discard(str(node))
    elif action == "clock_offset":
        s.offsets[str(node)] = int(params.get("ms", 0))
    elif action == "clear":
        return NetState(s.nodes)
    elif action not in NON_FAULTS:
        s.unrecognized |= _names(params) or set(s.nodes)
    return s


def _effect_window(
    records: list[dict[str, Any]], i: int, paused_before: bool
) -> tuple[float, float]:
    r = records[i]
    t = float(r["time"])
    if r["action"] in BEFORE_ACTION:
        return t, t + ACTION_S
    if r["action"] == "clear":  # heal, resumes and restarts ran before this record
        prev = float(records[i - 1]["time"]) if i > 0 else t - 60.0
        return min(prev, t) - ACTION_S, t
    return t - ACTION_S - (QUERY_TIMEOUT_S if paused_before else 0.0), t


def segments(
    faults: Iterable[dict[str, Any]], nodes: Iterable[str], first_time: float
) -> list[Segment]:
    """The fault states in order; segment 0 is the fault-free start of the run."""
    records = sorted(
        (f for f in faults if isinstance(f, dict) and isinstance(f.get("time"), int | float)),
        key=lambda f: float(f["time"]),
    )
    state = NetState(tuple(nodes))
    windows: list[tuple[float, float]] = []
    states = [state]
    for i, r in enumerate(records):
        windows.append(_effect_window(records, i, bool(state.paused)))
        state = apply_record(state, str(r.get("action")), r.get("params") or {})
        states.append(state)
    out = []
    inf = float("inf")
    for k, st in enumerate(states):
        if k == 0:
            s_lo = s_hi = min(first_time, windows[0][0]) if windows else first_time
            height: int | None = 0
            opened = "start"
        else:
            r = records[k - 1]
            s_lo, s_hi = windows[k - 1]
            raw_h = r.get("height")
            after = r["action"] not in BEFORE_ACTION and r["action"] != "clear"
            height = int(raw_h) if after and isinstance(raw_h, int) else None
            who = " ".join(sorted(_names(r.get("params") or {})))
            at = f"height {raw_h}, " if isinstance(raw_h, int) else ""
            opened = f"{r['action']}{' ' + who if who else ''} ({at}t={float(r['time']):.2f})"
        e_lo, e_hi = windows[k] if k < len(windows) else (inf, inf)
        out.append(Segment(k, st, s_lo, s_hi, height, e_lo, e_hi, opened))
    return out


def unrecognized_actions(faults: Iterable[dict[str, Any]]) -> list[str]:
    return sorted({str(f.get("action")) for f in faults if f.get("action") not in KNOWN})


def max_offset_s(faults: Iterable[dict[str, Any]]) -> float:
    """The largest clock offset ever applied: how far a block's time may be off."""
    offsets = [
        abs(int((f.get("params") or {}).get("ms", 0)))
        for f in faults
        if f.get("action") == "clock_offset"
    ]
    return max(offsets, default=0) / 1000
