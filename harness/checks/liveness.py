"""§10.7 Liveness: while more than 2/3 of the stake was connected, the chain kept finalizing.

The fault log says when which nodes could talk to each other; the blocks' times say when
the chain advanced. Within each stretch where a connected group of running nodes (every two
linked both ways: ``NetState.linked_groups``) held > 2/3 of the committee's stake and no
toxic, packet loss or clock fault was active, no gap between blocks may exceed a budget of
a few consensus rounds (plus a redial after the stretch began).

The stake is the one in force for the next block: the committee of that block's epoch with
its stakes after the previous epoch's slashes (a member slashed to 0 holds no vote). A
stretch that spans an epoch's end is judged in two parts, so a chain that rightly stalls
when the new committee's connected stake is no longer above 2/3 is not blamed for it.

On a run mixing implementations, a stall at or after the first height where they diverged
(split.py) is "explained by split at height h", not a liveness failure.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator

from harness.checks.analysis import Analysis
from harness.checks.faultview import RECONNECT_S, FaultView
from harness.checks.history import History
from harness.checks.split import split_height
from harness.checks.timeline import Segment
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
    # On a mixed run a stall at or after the implementations' first divergence is the
    # split's to report (split.py): one side rightly refuses what the other finalized.
    split_at = split_height(history, a)

    def failed(text: str, stalled: int) -> None:
        if split_at is not None and split_at <= stalled:
            passes.append(f"explained by split at height {split_at}: {text}")
        else:
            fails.append(text)

    epoch_length = a.params.epoch_length
    for seg, s, e, next_height, split in _stretches(view, times, end_of_run, epoch_length):
        epoch = a.params.epoch_of(next_height)
        committee = ref.committees.get(epoch, {})
        stake = view.stakes_by_name(committee)
        total = sum(stake.values())
        st = seg.state
        if st.toxic or any(st.offsets.values()) or st.lossy:
            unknowns.append(
                f"{seg.opened_by}..: toxics, clock offsets or packet loss active: "
                "liveness not decidable"
            )
            continue
        best = st.heaviest_linked_group(stake)
        power = sum(stake.get(x, 0) for x in best)
        if not 3 * power > 2 * total:
            where = f" epoch {epoch}" if split else ""
            passes.append(
                f"{seg.opened_by}..{where}: largest connected group {sorted(best)} holds "
                f"{power} of {total}: no progress owed"
            )
            continue
        inside = [t for t in times if s <= t <= e]
        first_budget = budget + (RECONNECT_S if seg.index > 0 and s == seg.start_hi else 0.0)
        where = f" epoch {epoch}" if split else ""
        label = (
            f"{seg.opened_by}..{where} ({e - s:.1f} s, {sorted(best)} connected, {power}/{total})"
        )
        if not inside:
            if e - s > first_budget:
                failed(f"{label}: no block finalized at all in {e - s:.1f} s", next_height)
                decided += 1
            else:
                unknowns.append(f"{label}: too short to expect a block")
            continue
        first = bisect.bisect_left(times, inside[0]) + 1  # the height of inside[0]
        # (gap, budget, where, the height that was late)
        gaps = [(inside[0] - s, first_budget, "before the first block", first)]
        gaps += [
            (y - x, budget, f"after height {first + i}", first + i + 1)
            for i, (x, y) in enumerate(itertools.pairwise(inside))
        ]
        gaps.append((e - inside[-1], budget, "after the last block", first + len(inside)))
        worst = [gap for gap in gaps if gap[0] > gap[1]]
        decided += 1
        if worst:
            g, b, w, late = max(worst)
            failed(f"{label}: the chain stalled {g:.1f} s {w} (budget {b:.1f} s)", late)
        else:
            longest = max(gap[0] for gap in gaps)
            passes.append(f"{label}: {len(inside)} blocks, longest gap {longest:.1f} s")
    if not fails and decided == 0:
        return CheckResult(NAME, "unknown", [*unknowns, *passes, "no stretch could be decided"])
    return combine(NAME, fails, [], passes + unknowns)


def _stretches(
    view: FaultView, times: list[float], end_of_run: float, epoch_length: int
) -> Iterator[tuple[Segment, float, float, int, bool]]:
    """(segment, start, end, next height, split) for each fault segment, cut at the block
    that closes an epoch: from there on the next block is the new committee's to make.

    ``times[i]`` is the time of height i + 1; ``next height`` is the first height not yet
    finalized at the stretch's start; ``split`` says the segment spans an epoch's end.
    """
    for seg in view.segments:
        s = max(seg.start_hi, times[0])
        e = min(seg.end_lo, end_of_run)
        if e <= s:
            continue
        k = bisect.bisect_right(times, s) - 1
        cuts = [
            (times[i], i + 2)
            for i in range(k + 1, bisect.bisect_left(times, e))
            if (i + 1) % epoch_length == 0
        ]
        bounds = [(s, k + 2), *cuts]
        split = len(bounds) > 1
        for j, (start, next_height) in enumerate(bounds):
            end = bounds[j + 1][0] if j + 1 < len(bounds) else e
            if end > start:
                yield seg, start, end, next_height, split
