"""§15.11 Inclusion: a response sent in time to a proposer it could reach is on chain.

Completeness asks whether a fault touching a slashed validator explains its misses; that
cannot tell a response the network lost from one a node dropped. Here each miss of a
validator whose node says it answered (``/alpha/clp/answers``: when it first sent the
response) is laid over the fault log: if the response could reach the proposer of a block
of the window before that block was proposed, over links that were up the whole time,
through live nodes and with the latency toxics' delays added, the miss is a node fault.

"Could reach" is decided conservatively, so a slow machine never fails a run: a hop counts
only when its link was up, both ends running and no restart touched them from
``RECONNECT_S`` before the send to the proposal (clock skew added at both ends); every hop
gets ``HOP_S`` for delivery and handling; any toxic other than plain latency, packet loss
or netem makes a hop unknown (never a fail). A relayed path follows §16.7's reference
relay: a node that is not the signer passes a peer's response on only once
``RELAY_AFTER_BLOCKS`` blocks were committed without it and ``RELAY_AFTER_S`` went by, to
the proposers of the next W heights (§16.6 rotation; counted only while every block up to
the target was committed in round 0, so the rotation's proposers are the blocks'); the
relaying node must have been in the best-connected group with no fault touching it from
``Timing.recovery_s`` before (so in sync).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from harness.checks.analysis import Analysis
from harness.checks.faultview import RECONNECT_S, FaultView
from harness.checks.history import History
from harness.checks.recompute import Challenge
from harness.checks.timeline import _who, records
from harness.checks.verdict import CheckResult, combine
from harness.cluster.testnet import link_name
from harness.faults.state import FaultState

NAME = "inclusion"
HOP_S = 1.0  # one hop's delivery and handling on a loaded machine (a resend is due at 1 s)
RELAY_AFTER_S = 0.5 + 0.25  # §16.7: a peer's response is 0.5 s old, then the next gossip tick
RELAY_AFTER_BLOCKS = 2  # §16.7: blocks committed without it before a relay (at most W - 1)
# A connection whose keepalive answers come this late may be dropped and redialled (§16.3:
# no byte for 10 s); latency this high makes a hop unknown rather than slow.
CHURN_LATENCY_S = 8.0
RESTARTS = frozenset({"restart", "reset"})  # records that restart nodes the state may not show
EXPLAINED_SHOWN = 6  # explained misses named in a passing verdict's evidence


@dataclass(frozen=True)
class Reached:
    """A block of the window whose proposer surely held the response in time."""

    block: int
    proposer: str
    path: tuple[str, ...]  # node names from the validator to the proposer
    arrival: float
    proposed: float


class _Model:
    """The fault log as hop states over time intervals."""

    def __init__(self, history: History, analysis: Analysis) -> None:
        self.view = FaultView(analysis)
        self.segments = self.view.segments
        recs = records(history.faults)
        # The recorded state of each segment (segment 0: before any fault), for the toxics.
        self.raw: list[FaultState] = [FaultState()] + [r.state for r in recs]
        self.restarts = [
            (
                r.t_start,
                r.t_end,
                set(self.view.node_names) if r.kind == "reset" else set(_who(r.args).split()),
            )
            for r in recs
            if r.kind in RESTARTS
        ]

    def overlapping(self, lo: float, hi: float) -> list[int]:
        """Segments that may have held at some moment of [lo, hi]."""
        return [k for k, s in enumerate(self.segments) if s.start_lo <= hi and s.end_hi >= lo]

    def restarted(self, nodes: set[str], lo: float, hi: float) -> bool:
        return any(a <= hi and b >= lo and nodes & who for a, b, who in self.restarts)

    def hop(self, src: str, dst: str, lo: float, hi: float) -> tuple[str, float]:
        """("up", delay in s) when the link src -> dst surely carried frames through
        [lo, hi]; ("down", 0) when it surely or possibly did not; ("unknown", delay) when
        only a degrading fault stands in the way: a toxic other than latency (delay unknown:
        0), packet loss, netem, or latency high enough to churn the connection."""
        if self.restarted({src, dst}, lo, hi):
            return "down", 0.0
        delay, churn, unknown = 0.0, 0.0, False
        link = link_name(src, dst)
        for k in self.overlapping(lo, hi):
            st = self.segments[k].state
            if not (st.running(src) and st.running(dst)) or (src, dst) in st.down:
                return "down", 0.0
            if src in st.lossy or dst in st.lossy:
                unknown = True
            both_ways = 0.0  # the keepalive's round trip over this connection
            for t in self.raw[k].toxics.get(link, ()):
                if t.type == "latency":
                    s = (t.attributes.get("latency", 0) + t.attributes.get("jitter", 0)) / 1000
                    both_ways += s
                    if t.stream == "upstream":
                        delay = max(delay, s)
                else:
                    unknown = True
            churn = max(churn, both_ways)
        if unknown:
            return "unknown", 0.0
        return ("unknown" if churn >= CHURN_LATENCY_S else "up"), delay

    def healthy(self, name: str, lo: float, hi: float, stake: Mapping[str, int]) -> bool:
        """``name`` was in the best-connected group, untouched by any fault, over [lo, hi]."""
        if self.restarted({name}, lo, hi):
            return False
        return all(
            self.segments[k].state.touched(name, stake) is None for k in self.overlapping(lo, hi)
        )


class _Judge:
    def __init__(self, history: History, analysis: Analysis) -> None:
        self.h = history
        self.a = analysis
        self.ref = analysis.replay()
        self.model = _Model(history, analysis)
        self.skew = self.model.view.skew
        self.timing = self.model.view.timing
        chain = analysis.reference_chain
        self.proposer: dict[int, str] = {}
        self.round: dict[int, int] = {}
        for e in chain:
            block = e.get("block") if isinstance(e, dict) else None
            if isinstance(block, dict) and isinstance(block.get("height"), int):
                self.proposer[block["height"]] = str(block.get("proposer", ""))
                cert = e.get("certificate")
                r = cert.get("round") if isinstance(cert, dict) else None
                self.round[block["height"]] = r if isinstance(r, int) else -1

    def names(self) -> list[str]:
        return self.model.view.node_names

    def relay_ready(self, h: int, arrival: float, until: int) -> tuple[float, int] | None:
        """When a node that got the response at ``arrival`` (in sync) has surely relayed it,
        and the height it then stands at; None if that is not before block ``until``."""
        need = min(RELAY_AFTER_BLOCKS, self.a.params.response_window - 1)
        after = [
            c
            for c in range(h + 1, until)
            if (t := self.a.time_of(c)) is not None and t >= arrival + self.skew
        ]
        if need < 1 or len(after) < need:
            return None
        x = after[need - 1]  # the relay node committed x: `need` blocks went by without it
        nxt = self.a.time_of(x + 1)
        if nxt is None or x + 1 > until:
            return None
        return nxt + HOP_S + RELAY_AFTER_S, x

    def reach(
        self, v: str, h: int, sent: float, b: int, stake: Mapping[str, int]
    ) -> tuple[Reached | None, bool]:
        """Could ``v``'s response (sent at ``sent``) surely be in the hands of block ``b``'s
        proposer before it proposed? (the way, or None; and whether an unknown hop stood in
        the way of a path that would otherwise have counted)."""
        proposed = self.a.time_of(b)
        target = self.a.n(self.proposer.get(b, ""))
        if proposed is None or target not in self.names():
            return None, False
        me = self.a.n(v)
        lo, hi = sent - RECONNECT_S - self.skew, proposed + self.skew
        if me == target:  # its own block: the response was in its pool when it proposed
            ok = sent + HOP_S + self.skew <= proposed and not self.model.restarted({me}, lo, hi)
            return (Reached(b, target, (me,), sent, proposed) if ok else None), False
        # Earliest surely-arrival times (Dijkstra over hops that stayed up through [lo, hi]).
        best: dict[str, tuple[float, tuple[str, ...]]] = {me: (sent, (me,))}
        todo = [me]
        unknown = False
        while todo:
            todo.sort(key=lambda n: best[n][0])
            x = todo.pop(0)
            at, path = best[x]
            if x == target:
                continue
            if x == me:
                out = at
            else:  # a relay: only in sync, only later, only to the next W heights' proposers
                ready = self.relay_ready(h, at, b)
                if ready is None or not self.model.healthy(
                    x, lo - self.timing.recovery_s, hi, stake
                ):
                    continue
                out, height = ready
                if b > height + self.a.params.response_window or any(
                    self.round.get(c, -1) != 0 for c in range(height + 1, b + 1)
                ):
                    continue
            for y in self.names():
                if y in path:
                    continue
                state, delay = self.model.hop(x, y, lo, hi)
                arrival = out + delay + HOP_S
                if state == "unknown" and arrival + self.skew <= proposed:
                    unknown = True  # it might have made it: not a sure explanation
                if state != "up":
                    continue
                if y not in best or arrival < best[y][0]:
                    best[y] = (arrival, (*path, y))
                    if y not in todo:
                        todo.append(y)
        got = best.get(target)
        if got is not None and got[0] + self.skew <= proposed:
            return Reached(b, target, got[1], got[0], proposed), False
        return None, unknown


def sent_times(history: History) -> tuple[dict[str, dict[int, float]], list[str]]:
    """validator address -> challenge height -> send time (s), from every node's answers;
    and the problems of answers that could not be read."""
    out: dict[str, dict[int, float]] = {}
    problems: list[str] = []
    known = set(history.names)
    for node, body in sorted(history.answers.items()):
        if body is None:
            continue
        v, items = body.get("validator"), body.get("answers")
        if v not in known or not isinstance(items, list):
            problems.append(f"{node}: answers without a known validator and a list")
            continue
        for i, item in enumerate(items):
            hgt = item.get("challenge_height") if isinstance(item, dict) else None
            ms = item.get("sent_at_ms") if isinstance(item, dict) else None
            if not isinstance(hgt, int) or not isinstance(ms, int | float) or isinstance(ms, bool):
                problems.append(f"{node}: answers[{i}] is not {{challenge_height, sent_at_ms}}")
                continue
            out.setdefault(str(v), {})[hgt] = ms / 1000
    return out, problems


def _answered(
    j: _Judge, sent: dict[str, dict[int, float]]
) -> Iterator[tuple[Challenge, str, float, dict[str, int]]]:
    """(challenge, validator, send time, stakes by name) of every answer whose window the
    collected chain closed."""
    for c in sorted(j.ref.challenges.values(), key=lambda c: c.height):
        if c.deadline > j.ref.height:
            continue
        stake = j.model.view.stakes_by_name(j.ref.committees.get(c.epoch, {}))
        for v in c.expected:
            t = sent.get(v, {}).get(c.height)
            if t is not None:
                yield c, v, t, stake


def _t(s: float) -> str:
    return f"t={s:.2f}"


def check(history: History, analysis: Analysis | None = None) -> CheckResult:
    served = [n for n, body in history.answers.items() if body is not None]
    if not served:
        why = (
            "no node serves /alpha/clp/answers"
            if history.answers
            else "the history holds no answers (not collected)"
        )
        return CheckResult(NAME, "unknown", [f"not applicable: {why}"])
    a = analysis or Analysis(history)
    j = _Judge(history, a)
    sent, problems = sent_times(history)
    fails: list[str] = []
    unknowns: list[str] = list(problems)
    explained: list[str] = []
    judged = included = 0
    for c, v, t, stake in _answered(j, sent):
        judged += 1
        if c.responded(v):
            included += 1
        else:
            _judge_miss(j, c, v, t, stake, fails, unknowns, explained)
    passes = [
        f"{judged} answers in the collected window ({', '.join(sorted(served))} serve them): "
        f"{included} on chain, {len(explained)} misses the fault log explains"
    ]
    passes += explained[:EXPLAINED_SHOWN]
    if len(explained) > EXPLAINED_SHOWN:
        passes.append(f"... and {len(explained) - EXPLAINED_SHOWN} more explained misses")
    return combine(NAME, fails, unknowns, passes)


def _judge_miss(
    j: _Judge,
    c: Challenge,
    v: str,
    t: float,
    stake: Mapping[str, int],
    fails: list[str],
    unknowns: list[str],
    explained: list[str],
) -> None:
    name = j.a.n(v)
    window = range(c.height + 1, c.deadline + 1)
    reached: list[Reached] = []
    unknown = False
    for b in window:
        got, maybe = j.reach(v, c.height, t, b, stake)
        unknown |= maybe
        if got is not None:
            reached.append(got)
    head = f"{name} answered challenge {c.height} at {_t(t)}"
    if reached:
        ways = "; ".join(
            f"block {r.block} by {r.proposer} (proposed {_t(r.proposed)}, reachable "
            f"{'itself' if len(r.path) == 1 else ' -> '.join(r.path)} by {_t(r.arrival)})"
            for r in reached
        )
        fails.append(
            f"{head} yet no block of {window.start}..{window.stop - 1} holds it, though its "
            f"response could reach these proposers in time over links that were up: {ways}. "
            "The network does not explain this miss: a node dropped the response"
        )
    elif unknown:
        unknowns.append(
            f"{head}, missed: a path to a proposer of {window.start}..{window.stop - 1} "
            "crossed a toxic other than latency, packet loss or netem (may not have reached)"
        )
    else:
        explained.append(
            f"{head}, missed: no proposer of {window.start}..{window.stop - 1} was surely "
            "reachable in time (links down, stopped nodes, latency or late sending)"
        )


def explained_misses(history: History, analysis: Analysis | None = None) -> list[dict[str, Any]]:
    """Misses whose validator answered but whose response the fault log shows could not
    surely reach a proposer in time (coverage: "a miss the network explains")."""
    if not any(body is not None for body in history.answers.values()):
        return []
    a = analysis or Analysis(history)
    j = _Judge(history, a)
    sent, _ = sent_times(history)
    out = []
    for c, v, t, stake in _answered(j, sent):
        if c.responded(v):
            continue
        ways = [j.reach(v, c.height, t, b, stake) for b in range(c.height + 1, c.deadline + 1)]
        if not any(got is not None or maybe for got, maybe in ways):
            out.append({"validator": j.a.n(v), "challenge": c.height})
    return out
