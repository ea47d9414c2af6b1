"""§15.8 Equivocation: no validator signed two different votes for one (height, round, type).

Read from the votes every node served (``/alpha/consensus/votes``), each verified under its
validator's genesis key. Fault-aware: a ``double_sign`` fault makes its validator's next
equivocation expected, and required: a fault with no equivocation after it fails (the hook
did nothing, or its votes were lost) unless that node's votes were not read completely.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from harness.checks.analysis import Analysis
from harness.checks.history import History
from harness.checks.verdict import CheckResult, combine
from harness.checks.votes import SignedVote
from harness.checks.voteview import DoubleSign, VoteView
from harness.contract.formats import PREVOTE_CODE

NAME = "equivocation"
# The fault record's height is the highest node's; the double-signing node may lag it.
LAG_BLOCKS = 2


def check(history: History, analysis: Analysis | None = None) -> CheckResult:
    view = VoteView(history)
    why = view.not_applicable()
    if why is not None:
        return CheckResult(NAME, "unknown", [f"not applicable: {why}"])
    by_step: dict[tuple[int, int, int, str], list[SignedVote]] = defaultdict(list)
    for vote in view.held:
        by_step[vote.step].append(vote)
    conflicts = sorted(
        (step, sorted(vs, key=lambda v: v.order)) for step, vs in by_step.items() if len(vs) > 1
    )
    faults: dict[str, list[DoubleSign]] = defaultdict(list)
    for f in view.double_signs():
        faults[f.validator].append(f)
    voting = _voting(history, analysis) if faults else None
    fails: list[str] = []
    unknowns: list[str] = []
    passes: list[str] = []
    for validator in sorted({step[3] for step, _ in conflicts} | set(faults)):
        steps = [(step, vs) for step, vs in conflicts if step[3] == validator]
        pending = list(faults.get(validator, []))
        for step, vs in steps:
            fault = next((f for f in pending if step[0] >= f.height - LAG_BLOCKS), None)
            if fault is not None:
                pending.remove(fault)
                passes.append(
                    f"{history.name(validator)}: expected: double_sign at height {fault.height} "
                    f"({_conflict(view, vs)})"
                )
            else:
                fails.append(f"{history.name(validator)} ({validator}) {_conflict(view, vs)}")
        for fault in pending:
            lo, hi = fault.height - LAG_BLOCKS, fault.height + LAG_BLOCKS
            if any(step[0] >= lo for step, _ in steps):
                # injected again before the hook fired: one equivocation answers both
                passes.append(
                    f"{fault.node}: expected: double_sign at height {fault.height} (the hook "
                    "was still on from the fault before)"
                )
            elif fault.stopped_after:
                unknowns.append(
                    f"{fault.node}: a double_sign fault at height {fault.height} and no "
                    f"equivocation, but {fault.node} was killed or paused later: the hook may "
                    "have gone with the process before its next prevote"
                )
            elif voting is not None and voting(validator, fault.height) is False:
                unknowns.append(
                    f"{fault.node}: a double_sign fault at height {fault.height}, but "
                    f"{fault.node} had no vote then (not a member with stake): nothing to sign"
                )
            elif voting is not None and no_vote_after(voting, validator, fault.height, hi):
                unknowns.append(
                    f"{fault.node}: a double_sign fault at height {fault.height}, but "
                    f"{fault.node} had no vote at heights {fault.height + 1}..{hi} (not a "
                    "member with stake: ejected or slashed to 0 at an epoch's end): its next "
                    "prevote may never have come"
                )
            elif view.covers(validator, lo, hi) and not any(
                v.validator == validator and v.code == PREVOTE_CODE and lo <= v.height <= hi
                for v in view.held
            ):
                unknowns.append(
                    f"{fault.node}: a double_sign fault at height {fault.height}, but "
                    f"{fault.node} cast no prevote at heights {max(lo, 1)}..{hi} in the votes "
                    "collected (below the chain, e.g. cut off, its rounds wait for a quorum): "
                    "the hook had no prevote to double"
                )
            elif view.covers(validator, lo, hi):
                fails.append(
                    f"{fault.node}: a double_sign fault at height {fault.height}, but no "
                    f"equivocation of {validator[:8]} in the votes its node served for "
                    f"heights {max(lo, 1)}..{hi}: the hook did nothing"
                )
            else:
                unknowns.append(
                    f"{fault.node}: a double_sign fault at height {fault.height} and no "
                    f"equivocation collected, but {fault.node}'s votes of heights "
                    f"{max(lo, 1)}..{hi} were not read completely"
                )
    read = sum(1 for v in view.nodes.values() if v.covered)
    passes.append(
        f"{len(view.held)} validly signed votes from {read} nodes, "
        f"{len(conflicts)} conflicting step(s)"
        + (f"; {view.bad_signatures} with a bad signature ignored" if view.bad_signatures else "")
    )
    passes += view.read_notes()
    return combine(NAME, fails, unknowns, passes)


def no_vote_after(
    voting: Callable[[str, int], bool | None], validator: str, height: int, hi: int
) -> bool:
    """Whether ``validator`` surely had no vote at any height ``height + 1 .. hi``: a hook
    set after its prevote at ``height`` then waits for a prevote that never comes (found by
    exploring: a lazy validator ejected at the end of the epoch whose last block was
    ``height``)."""
    return hi > height and all(voting(validator, h) is False for h in range(height + 1, hi + 1))


def _voting(history: History, analysis: Analysis | None) -> Callable[[str, int], bool | None]:
    """Whether a validator had a vote at a height (stake in that height's committee); None
    where the chain does not reach the height."""
    a = analysis or Analysis(history)
    ref = a.replay()

    def voting(validator: str, height: int) -> bool | None:
        committee = ref.committee_of_height(max(height, 1), a.params)
        if height > ref.height + 1 or not committee:
            return None
        return committee.get(validator, 0) > 0

    return voting


def _conflict(view: VoteView, votes: list[SignedVote]) -> str:
    held = "; ".join(f"{v.describe()} held by {', '.join(sorted(view.held[v]))}" for v in votes)
    first = votes[0]
    return (
        f"signed {len(votes)} different {first.type}s at height {first.height} "
        f"round {first.round}: {held}"
    )
