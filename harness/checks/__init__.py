"""Independent checkers of CLP_SPEC §10, run on a collected (or saved) history.

Nothing here imports the node: the CLP recomputation is a second implementation written
from the spec, and the history is gathered through the node contract only.
"""

from __future__ import annotations

from collections.abc import Callable

from harness.checks import (
    accountability,
    agreement,
    committee,
    completeness,
    conservation,
    determinism,
    equivocation,
    inclusion,
    link_discipline,
    liveness,
    lock_discipline,
    split,
)
from harness.checks.analysis import Analysis
from harness.checks.history import History, HistoryError, collect_history
from harness.checks.verdict import CheckResult

Checker = Callable[[History, Analysis | None], CheckResult]

CHECKERS: list[tuple[str, Checker]] = [
    (agreement.NAME, agreement.check),
    (split.NAME, split.check),
    (determinism.NAME, determinism.check),
    (accountability.NAME, accountability.check),
    (completeness.NAME, completeness.check),
    (inclusion.NAME, inclusion.check),
    (conservation.NAME, conservation.check),
    (committee.NAME, committee.check),
    (equivocation.NAME, equivocation.check),
    (lock_discipline.NAME, lock_discipline.check),
    (link_discipline.NAME, link_discipline.check),
    (liveness.NAME, liveness.check),
]

# The checks whose failure is a fact about what the nodes served: timing decides only whether
# a replay shows it again, so the explorer never calls one flaky. Liveness alone depends on
# timing itself.
TIMING_CHECKS = frozenset({liveness.NAME})
SAFETY_CHECKS = frozenset(name for name, _ in CHECKERS) - TIMING_CHECKS


def run_checks(history: History) -> list[CheckResult]:
    """Every §10 property; a checker that crashes is reported as unknown, never hidden."""
    analysis = Analysis(history)
    out = []
    for name, checker in CHECKERS:
        try:
            out.append(checker(history, analysis))
        except Exception as exc:  # a defect in a checker must not hide the others' verdicts
            error = f"checker error: {type(exc).__name__}: {exc}"
            out.append(CheckResult(name, "unknown", [error]))
    return out


__all__ = [
    "CHECKERS",
    "SAFETY_CHECKS",
    "TIMING_CHECKS",
    "CheckResult",
    "History",
    "HistoryError",
    "collect_history",
    "run_checks",
]
