"""§10.7 Liveness: while more than 2/3 of the stake was connected, the chain kept finalizing.

The fault log says when which nodes could talk to each other; the blocks' times say when
the chain advanced. Within each stretch where a strongly connected group of running nodes
held > 2/3 of the committee's stake and no toxic, packet loss or clock fault was active, no
gap between blocks may exceed a budget of a few consensus rounds (plus a redial after the
stretch began).
"""

from __future__ import annotations

import bisect
import itertools

from harness.checks.analysis import Analysis
from harness.checks.faultview import RECONNECT_S, FaultView
from harness.checks.history import History
from harness.checks.verdict import CheckResult, combine

NAME = "liveness"
FETCH_MARGIN_S = 1.0  # ``collected_at`` is taken just before the heads are read; skew margin


def check(history: History, analysis: Analysis | None = None) -> CheckResult:
    a = analysis or Analysis(history)
    ref = a.replay()
    times = [ref.times_ms[h] / 1000 for h in sorted(ref.times_ms)]
    if len(times) < 2:
        return CheckResult(NAME, "unknown", ["fewer than two blocks: nothing to measure"])
    view = FaultView(a)
    budget = view.timing.stall_budget_s
    fails: list[str] = []
    unknowns: list[str] = []
    passes: list[str] = []
    end_of_run = (
        history.collected_at - FETCH_MARGIN_S if history.collected_at is not None else times[-1]
    )
    decided = 0
    for seg in view.segments:
        s = max(seg.start_hi, times[0])
        e = min(seg.end_lo, end_of_run)
        if e <= s:
            continue
        k = bisect.bisect_right(times, s) - 1
        committee = ref.committees.get(a.params.epoch_of(max(k + 1, 1)), {})
        stake = view.stakes_by_name(committee)
        total = sum(stake.values())
        st = seg.state
        if st.toxic or any(st.offsets.values()) or st.lossy:
            unknowns.append(
                f"{seg.opened_by}..: toxics, clock offsets or packet loss active: "
                "liveness not decidable"
            )
            continue
        best = max(st.components(), key=lambda c: sum(stake.get(x, 0) for x in c), default=set())
        power = sum(stake.get(x, 0) for x in best)
        if not 3 * power > 2 * total:
            passes.append(
                f"{seg.opened_by}..: largest connected group {sorted(best)} holds {power} of "
                f"{total}: no progress owed"
            )
            continue
        inside = [t for t in times if s <= t <= e]
        first_budget = budget + (RECONNECT_S if seg.index > 0 else 0.0)
        label = f"{seg.opened_by}.. ({e - s:.1f} s, {sorted(best)} connected, {power}/{total})"
        if not inside:
            if e - s > first_budget:
                fails.append(f"{label}: no block finalized at all in {e - s:.1f} s")
                decided += 1
            else:
                unknowns.append(f"{label}: too short to expect a block")
            continue
        gaps = [(inside[0] - s, first_budget, "before the first block")]
        gaps += [
            (y - x, budget, f"after height {bisect.bisect_left(times, x) + 1}")
            for x, y in itertools.pairwise(inside)
        ]
        gaps.append((e - inside[-1], budget, "after the last block"))
        worst = [(g, b, w) for g, b, w in gaps if g > b]
        decided += 1
        if worst:
            g, b, w = max(worst)
            fails.append(f"{label}: the chain stalled {g:.1f} s {w} (budget {b:.1f} s)")
        else:
            longest = max(g for g, _, _ in gaps)
            passes.append(f"{label}: {len(inside)} blocks, longest gap {longest:.1f} s")
    if not fails and decided == 0:
        return CheckResult(NAME, "unknown", [*unknowns, *passes, "no stretch could be decided"])
    return combine(NAME, fails, [], passes + unknowns)
