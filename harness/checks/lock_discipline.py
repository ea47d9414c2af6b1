"""§15.9 Lock discipline: a validator that precommitted block B at (h, r) prevotes at a later
round r' of h only nil, B, or a block B' with a polka (prevotes of more than 2/3 of the
stake) at a round in r..r'-1 (Tendermint's lock: lines 28-29 of the paper).

Read from the served votes. A prevote with no such polka among the collected votes is a
violation only when the validator's own node's votes of that height were read completely:
whatever it saw, it held (§11). Otherwise it is unknown, with the reason, never a guess.
"""

from __future__ import annotations

from collections import defaultdict

from harness.checks.analysis import Analysis
from harness.checks.history import History
from harness.checks.verdict import CheckResult, combine
from harness.checks.votes import SignedVote
from harness.checks.voteview import VoteView
from harness.contract.formats import PRECOMMIT_CODE, PREVOTE_CODE

NAME = "lock_discipline"
LAG_BLOCKS = 2  # as equivocation: a double_sign fault's vote may trail its record


def check(history: History, analysis: Analysis | None = None) -> CheckResult:
    view = VoteView(history)
    why = view.not_applicable()
    if why is not None:
        return CheckResult(NAME, "unknown", [f"not applicable: {why}"])
    a = analysis or Analysis(history)
    ref = a.replay()
    # (height, round, block) -> prevoting validators; validator -> height -> its votes
    prevoters: dict[tuple[int, int, str], set[str]] = defaultdict(set)
    mine: dict[str, dict[int, list[SignedVote]]] = defaultdict(lambda: defaultdict(list))
    for vote in view.held:
        if vote.code == PREVOTE_CODE and vote.block_hash is not None:
            prevoters[(vote.height, vote.round, vote.block_hash)].add(vote.validator)
        mine[vote.validator][vote.height].append(vote)
    double_signed: dict[str, int] = {}  # validator -> its first double_sign fault's height
    for f in view.double_signs():
        double_signed.setdefault(f.validator, f.height)
    prevoted: dict[tuple[int, int, str], int] = defaultdict(int)  # values per prevote step
    for vote in view.held:
        if vote.code == PREVOTE_CODE:
            prevoted[(vote.height, vote.round, vote.validator)] += 1

    def polka(height: int, round_: int, block: str) -> bool:
        stakes = ref.committee_of_height(height, a.params)
        total = sum(stakes.values())
        power = sum(stakes.get(v, 0) for v in prevoters.get((height, round_, block), ()))
        return total > 0 and 3 * power > 2 * total

    fails: list[str] = []
    unknowns: list[str] = []
    checked = 0
    for validator, heights in sorted(mine.items()):
        who = history.name(validator)
        for height, votes in sorted(heights.items()):
            locks = [v for v in votes if v.code == PRECOMMIT_CODE and v.block_hash is not None]
            prevotes = [v for v in votes if v.code == PREVOTE_CODE and v.block_hash is not None]
            for lock in locks:
                for pv in prevotes:
                    if pv.round <= lock.round or pv.block_hash == lock.block_hash:
                        continue
                    checked += 1
                    assert pv.block_hash is not None
                    rounds = range(lock.round, pv.round)
                    if any(polka(height, r, pv.block_hash) for r in rounds):
                        continue
                    what = (
                        f"{who} precommitted {str(lock.block_hash)[:12]} at {height}/{lock.round}, "
                        f"then prevoted {pv.block_hash[:12]} at {height}/{pv.round} "
                        f"(sig {pv.signature[:12]}, held by {', '.join(sorted(view.held[pv]))}) "
                        f"with no polka for it in rounds {lock.round}..{pv.round - 1}"
                    )
                    fault_h = double_signed.get(validator)
                    if (
                        fault_h is not None
                        and height >= fault_h - LAG_BLOCKS
                        and prevoted[(height, pv.round, validator)] > 1
                    ):
                        continue  # a double_sign's conflicting prevote: equivocation judges it
                    if view.covers(validator, height, height):
                        fails.append(what)
                    else:
                        unknowns.append(
                            f"{what} among the collected votes, but {who}'s own votes of "
                            f"height {height} were not read completely: undecidable"
                        )
    passes = [f"{checked} prevote(s) after a precommit for another block checked"]
    passes += view.read_notes()
    return combine(NAME, fails, unknowns, passes)
