"""``clp-testnet check HISTORY.json``: re-run the CLP_SPEC §10 checkers on a saved history.

Exit 0 when no check failed, 1 when one did, 2 when the file cannot be read as a history.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.table import Table

from harness.checks import CheckResult, HistoryError, run_checks
from harness.checks.history import History
from harness.commands import console

STYLE = {"pass": "green", "fail": "bold red", "unknown": "yellow"}


def register(sub: Any) -> None:
    p = sub.add_parser(
        "check",
        help="re-run the invariant checkers on a saved run history",
        description="Re-run every docs/protocol.md §15 checker on a history saved by a run. "
        "Exit 0 if none failed, 1 if any failed, 2 if the file is not a readable history.",
    )
    p.add_argument("history", type=Path, metavar="HISTORY.json", help="a saved run history")
    p.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    p.set_defaults(handler=run)


def verdict_table(results: list[CheckResult], title: str) -> Table:
    table = Table(title=title, show_lines=True)
    table.add_column("check", style="bold")
    table.add_column("verdict")
    table.add_column("evidence", overflow="fold")
    for r in results:
        style = STYLE[r.verdict]
        table.add_row(r.name, f"[{style}]{r.verdict}[/]", "\n".join(r.evidence))
    return table


def run(args: argparse.Namespace) -> int:
    try:
        history = History.load(args.history)
    except HistoryError as exc:
        console.print(f"[red]clp-testnet check: error:[/] {exc}")
        return 2
    results = run_checks(history)
    if args.json:
        print(json.dumps([r.to_json() for r in results], indent=2))
    else:
        console.print(verdict_table(results, f"checks of {args.history}"))
    return 1 if any(r.failed for r in results) else 0
