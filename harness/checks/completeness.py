"""§10.4 Completeness, fault-aware, in both directions.

From the fault log and the chain's block times: which validators surely could not get a
response included for which challenges. A validator whose rate must then have been below
the minimum had to be penalised (unless the epoch was systemic or it was ejected before),
and ejected or deferred once its streak of sure misses reached the threshold. Conversely
every slash and ejection needs a fault touching that validator; where the log can only say
"maybe" (toxics, windows partly covered) the verdict is unknown, with the reason.
"""

from __future__ import annotations

from typing import Any

from harness.checks.analysis import Analysis
from harness.checks.faultview import FaultView
from harness.checks.history import History
from harness.checks.recompute import Challenge
from harness.checks.verdict import CheckResult, combine
from harness.contract.params import BPS_MAX

NAME = "completeness"
PENALISED = frozenset({"slashed", "ejection_deferred", "ejected"})


def _served(history: History, analysis: Analysis, epoch: int) -> dict[str, Any] | None:
    for node in sorted(history.results):
        r = history.results[node].get(epoch)
        if isinstance(r, dict):
            return r
    return analysis.replay().results.get(epoch)


class _Judge:
    def __init__(self, history: History, analysis: Analysis) -> None:
        self.h = history
        self.a = analysis
        self.p = analysis.params
        self.ref = analysis.replay()
        self.view = FaultView(analysis)
        self._certain: dict[tuple[int, str], str | None] = {}

    def window(self, c: Challenge) -> tuple[float, float] | None:
        lo, hi = self.a.time_of(c.height), self.a.time_of(c.deadline)
        return None if lo is None or hi is None else (lo, hi)

    def certain(self, c: Challenge, v: str) -> str | None:
        key = (c.height, v)
        if key not in self._certain:
            w = self.window(c)
            committee = self.ref.committees.get(c.epoch, {})
            self._certain[key] = (
                None
                if w is None
                else self.view.certainly_excluded(self.a.n(v), w[0], w[1], c.height, committee)
            )
        return self._certain[key]

    def impairment(self, c: Challenge, v: str) -> tuple[str, str] | None:
        w = self.window(c)
        committee = self.ref.committees.get(c.epoch, {})
        return None if w is None else self.view.impairment(self.a.n(v), w[0], w[1], committee)

    def finalized(self, epoch: int) -> list[Challenge]:
        return [
            c
            for h, c in sorted(self.ref.challenges.items())
            if c.epoch == epoch and c.deadline <= self.ref.height
        ]

    def streak_before(self, epoch: int, v: str, sure: bool) -> list[Challenge]:
        """The trailing run of (surely, or actually) missed challenges of v up to epoch's end."""
        run: list[Challenge] = []
        for c in sorted(self.ref.challenges.values(), key=lambda c: -c.height):
            if c.epoch > epoch or c.deadline > self.ref.height:
                continue
            if v not in c.expected:
                break
            missed = self.certain(c, v) is not None if sure else not c.responded(v)
            if not missed:
                break
            run.append(c)
        return run[::-1]


def check(history: History, analysis: Analysis | None = None) -> CheckResult:
    a = analysis or Analysis(history)
    j = _Judge(history, a)
    p = a.params
    fails: list[str] = []
    unknowns: list[str] = []
    passes: list[str] = []
    buckets = {"fail": fails, "unknown": unknowns, "pass": passes}
    epochs = sorted(j.ref.results)
    if not epochs:
        return CheckResult(NAME, "unknown", ["no epoch was evaluated on the collected chain"])
    for e in epochs:
        served = _served(history, a, e)
        if served is None:
            continue
        systemic = bool(served.get("systemic"))
        outcome = {v.get("address"): v for v in served.get("validators", []) if isinstance(v, dict)}
        challenges = j.finalized(e)
        committee = j.ref.committees.get(e, {})
        for v in sorted(committee):
            name = a.n(v)
            got = outcome.get(v)
            status = got.get("status") if got else None
            mine = [c for c in challenges if v in c.expected]
            sure = [c for c in mine if j.certain(c, v) is not None]
            n = len(mine)
            # -------- the must direction --------
            for c in sure:
                if c.responded(v):
                    unknowns.append(
                        f"epoch {e}: the fault log says {name} could not answer challenge "
                        f"{c.height} ({j.certain(c, v)}), yet its response is in block "
                        f"{c.included[v]}: the fault did not act as logged"
                    )
            if n and (n - len(sure)) * BPS_MAX // n < p.min_response_rate_bps:
                heights = [c.height for c in sure]
                why = j.certain(sure[0], v)
                if systemic:
                    passes.append(f"epoch {e}: {name} surely failed but the epoch was systemic")
                elif status not in PENALISED:
                    fails.append(
                        f"epoch {e}: {name} was cut off for {len(sure)} of its {n} challenges "
                        f"{heights} ({why}) yet is {status!r}, not slashed"
                    )
                else:
                    passes.append(
                        f"epoch {e}: {name} cut off for {len(sure)}/{n} challenges "
                        f"({why}): {status}"
                    )
            sure_run = j.streak_before(e, v, sure=True)
            if len(sure_run) >= p.max_consecutive_failures and not systemic:
                if status not in ("ejected", "ejection_deferred"):
                    fails.append(
                        f"epoch {e}: {name} surely missed its last {len(sure_run)} challenges "
                        f"({sure_run[0].height}..{sure_run[-1].height}, threshold "
                        f"{p.max_consecutive_failures}) yet is {status!r}, "
                        "neither ejected nor deferred"
                    )
                elif status == "ejection_deferred":
                    cap = p.ejection_cap(len(committee))
                    ejected = served.get("ejected") or []
                    if len(ejected) < cap:
                        fails.append(
                            f"epoch {e}: {name} deferred although only {len(ejected)} of the cap "
                            f"{cap} were ejected"
                        )
                    else:
                        passes.append(f"epoch {e}: {name} deferred by the cap {cap}")
                else:
                    passes.append(f"epoch {e}: {name} ejected after {len(sure_run)} sure misses")
            # -------- the cause direction --------
            if status not in PENALISED:
                continue
            fails_rate = got is not None and got.get("rate_bps", BPS_MAX) < p.min_response_rate_bps
            if fails_rate:
                missed = [c for c in mine if not c.responded(v)]
                verdict, text = _explain(j, e, v, missed, n, "slash", sure)
                buckets[verdict].append(text)
            if status in ("ejected", "ejection_deferred"):
                run = j.streak_before(e, v, sure=False)
                if len(run) >= p.max_consecutive_failures:
                    verdict, text = _explain_streak(j, e, v, run, sure_run)
                    buckets[verdict].append(text)
                else:
                    passes.append(f"epoch {e}: {name} {status} for stake below min_stake")
        if not any(x.startswith(f"epoch {e}:") for x in fails + unknowns + passes):
            passes.append(f"epoch {e}: nobody was cut off and nobody was penalised")
    return combine(NAME, fails, unknowns, passes)


def _explain(
    j: _Judge, e: int, v: str, missed: list[Challenge], n: int, what: str, sure: list[Challenge]
) -> tuple[str, str]:
    """Do faults touching v explain enough of its misses to put its rate below the minimum?

    Misses under a fault that cut v off (or its resync) explain a slash; misses under
    faults that only may have slowed it leave it undecided; no fault at all is a fail.
    """
    p, name = j.p, j.a.n(v)

    def below(explained: int) -> bool:
        return (n - explained) * BPS_MAX // n < p.min_response_rate_bps

    kinds = {c.height: j.impairment(c, v) for c in missed}
    hard = [c for c in missed if c in sure or (kinds[c.height] or ("",))[0] == "hard"]
    if below(len(hard)):
        why = next((k[1] for k in kinds.values() if k is not None), "cut off")
        return "pass", f"epoch {e}: {name}'s {what} is explained by a fault that cut it off ({why})"
    maybe = [c for c in missed if c in hard or kinds[c.height] is not None]
    if below(len(maybe)):
        why = next(k[1] for k in kinds.values() if k is not None and k[0] == "soft")
        return "unknown", (
            f"epoch {e}: {name}'s {what}: {len(maybe) - len(hard)} of its {len(missed)} misses "
            f"fall under faults that may have slowed it ({why}); the log cannot say they did"
        )
    first, last = p.epoch_first_height(e), p.epoch_last_height(e)
    lo, hi = j.a.time_of(first), j.a.time_of(last)
    committee = j.ref.committees.get(e, {})
    touched = None if lo is None or hi is None else j.view.impairment(name, lo, hi, committee)
    missed_h = [c.height for c in missed]
    if touched is not None:
        return "unknown", (
            f"epoch {e}: {name}'s {what}: misses at {missed_h} lie mostly outside the windows "
            f"of the faults touching it ({touched[1]})"
        )
    return "fail", (
        f"epoch {e}: {name} was {what}ed (missed challenges {missed_h}) but no recorded fault "
        f"touched it during heights {first}..{last}"
    )


def _explain_streak(
    j: _Judge, e: int, v: str, run: list[Challenge], sure_run: list[Challenge]
) -> tuple[str, str]:
    p, name = j.p, j.a.n(v)
    kinds = [j.impairment(c, v) for c in run]
    hard = sum(
        1 for c, k in zip(run, kinds, strict=True) if c in sure_run or (k and k[0] == "hard")
    )
    span = f"{run[0].height}..{run[-1].height}"
    if hard >= p.max_consecutive_failures:
        return "pass", f"epoch {e}: {name}'s ejection (misses {span}) is explained by faults"
    if any(kinds):
        why = next(k[1] for k in kinds if k)
        return "unknown", (
            f"epoch {e}: {name}'s ejection after {len(run)} misses ({span}): only {hard} fall "
            f"under faults that cut it off; others may have been slowed ({why})"
        )
    return "fail", (
        f"epoch {e}: {name} was ejected for missing challenges {span} but no recorded fault "
        f"touched it then"
    )
