"""``clp-testnet check HISTORY.json`` / ``check --dir DIR``: the CLP_SPEC §10 checkers on a
saved history, or on one collected now from a running testnet and its ``faults.jsonl``.

Exit 0 when no check failed, 1 when one did, 2 when the file cannot be read as a history.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from harness.commands import console

if TYPE_CHECKING:  # the checkers are imported by the commands that run them, not by every one
    from harness.checks import CheckResult

STYLE = {"pass": "green", "fail": "bold red", "unknown": "yellow"}


def register(sub: Any) -> None:
    p = sub.add_parser(
        "check",
        help="re-run the invariant checkers on a saved run history",
        description="Re-run every docs/protocol.md §15 checker on a history saved by a run. "
        "Exit 0 if none failed, 1 if any failed, 2 if the file is not a readable history.",
    )
    p.add_argument(
        "history", type=Path, nargs="?", metavar="HISTORY.json", help="a saved run history"
    )
    p.add_argument(
        "--dir",
        type=Path,
        help="instead: collect the history of this running testnet (its chains and "
        "DIR/faults.jsonl), save it as DIR/history.json and check it (a compose testnet's "
        "container logs go to DIR/logs/); `clp-testnet report DIR` then draws it",
    )
    p.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    p.set_defaults(handler=run)


async def collect_from(root: Path) -> Path:
    """Collect a running testnet's history (local, or run by docker compose) with its fault
    log into root/history.json."""
    from harness.checks import HistoryError, collect_history
    from harness.cluster.compose_run import ComposeTestnet, reach
    from harness.cluster.testnet import TestnetManifest
    from harness.faults.cli import FAULT_LOG
    from harness.faults.log import FaultLog, OldLog

    manifest = TestnetManifest.load(root)
    try:
        faults = FaultLog.load(root / FAULT_LOG).to_json()
    except (OldLog, ValueError) as exc:
        raise HistoryError(str(exc)) from exc
    cluster = reach(manifest)
    try:
        history = await collect_history(cluster, faults)
        if isinstance(cluster, ComposeTestnet):  # for `clp-testnet report DIR`
            await asyncio.to_thread(cluster.save_logs, root / "logs")
    finally:
        await cluster.close_clients()
    path = root / "history.json"
    path.write_text(json.dumps(history.to_json(), indent=1, default=str) + "\n")
    return path


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
    from harness.checks import HistoryError, run_checks
    from harness.checks.history import History

    if (args.history is None) == (args.dir is None):
        console.print("[red]clp-testnet check: error:[/] give HISTORY.json or --dir DIR")
        return 2
    try:
        if args.dir is not None:
            args.history = asyncio.run(collect_from(args.dir))
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
