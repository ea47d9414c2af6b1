"""``clp-testnet report RUN_DIR``: (re)make report.html and timeline.svg of a saved run."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness.commands import console


def register(sub: Any) -> None:
    p = sub.add_parser(
        "report",
        help="write report.html and timeline.svg into a run folder (runs/<scenario>-<time>/)",
        description="Reads the run's result.json (and history.json, heights.json, "
        "monitor.json, logs/ when present) and writes a self-contained report.html and the\n"
        "timeline as timeline.svg beside it. What the page shows: docs/report.md.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR", help="run folders")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from harness.report.build import ReportError, write_report

    code = 0
    for d in args.run_dirs:
        try:
            console.print(str(write_report(d)), markup=False, highlight=False, soft_wrap=True)
        except ReportError as exc:
            console.print(
                f"[red]clp-testnet report: error:[/] {exc}", highlight=False, soft_wrap=True
            )
            code = 2
    return code
