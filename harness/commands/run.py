"""``clp-testnet run``: run scenario files, check the outcome, say how to reproduce a failure.

Exit codes: 0 every run of every scenario passed; 1 a run failed (or errored), or a
scenario was flaky under ``--repeat``; 2 bad input (a bad scenario file, an unknown
backend, a bad option), found before anything starts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.cluster.backends import add_backend_options, apply_backend_options
from harness.cluster.node_choice import node_environment
from harness.commands import console
from harness.node_kinds import add_node_option
from harness.scenario.parse import ScenarioError, load_scenarios
from harness.scenario.results import ScenarioResult, Tally, exit_code, tally
from harness.scenario.runner import DEFAULT_SEED

EXIT_BAD_INPUT = 2

STYLE = {
    "passed": "[green]passed[/]",
    "failed": "[red]FAILED[/]",
    "error": "[red]ERROR[/]",
    "flaky": "[yellow]FLAKY[/]",
    "not_applicable": "[yellow]not applicable[/]",
    "pass": "[green]pass[/]",
    "fail": "[red]FAIL[/]",
    "unknown": "[yellow]unknown[/]",
}


def register(sub: Any) -> None:
    p = sub.add_parser(
        "run",
        help="run scenario files (scenarios/*.toml) and check the outcome",
        description="Each scenario gets a fresh testnet derived from the seed, runs its steps\n"
        "in protocol time, clears every fault, then the checkers of CLP_SPEC §10 and the\n"
        "file's [[expect]] entries judge it. Results go to OUT/<scenario>-<timestamp>/.\n"
        "The file format: docs/scenarios.md.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="""examples:
  clp-testnet run scenarios/minority-partition.toml
  clp-testnet run scenarios/*.toml --json > results.json
  clp-testnet run scenarios/lazy-below-systemic.toml --repeat 5     passed / failed / flaky
  clp-testnet run scenarios/x.toml --seed 7 --backend docker
  clp-testnet run scenarios/x.toml --backend swarm                  on Docker Swarm services
  clp-testnet run scenarios/happy-path.toml --node rust             the Rust node (make rust)

exit codes: 0 all passed, 1 a run failed or a scenario was flaky, 2 bad input""",
    )
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help="scenario TOML files")
    p.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help=f"derives the keys and every random choice (default {DEFAULT_SEED})",
    )
    add_backend_options(p)
    add_node_option(p, mix=True)
    p.add_argument("--repeat", type=int, default=1, metavar="N", help="run each scenario N times")
    p.add_argument(
        "--out", type=Path, default=Path("runs"), help="folder for the runs' results (default runs)"
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print the results as JSON on stdout (display on stderr)",
    )
    p.add_argument(
        "--monitor",
        action="store_true",
        help="run a real Prometheus scraping every node (Debian's prometheus on PATH); "
        "prints its URL; the report shows the recorded series",
    )
    p.add_argument(
        "--junit",
        type=Path,
        metavar="FILE",
        help="also write JUnit XML: a case per check and expectation (failures carry the "
        "reproduce command and the report path)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    out = Console(stderr=True) if args.json else console
    if args.repeat < 1:
        out.print(f"[red]clp-testnet run: error:[/] --repeat wants N >= 1, got {args.repeat}")
        return EXIT_BAD_INPUT
    if args.seed < 0:
        out.print(f"[red]clp-testnet run: error:[/] --seed wants N >= 0, got {args.seed}")
        return EXIT_BAD_INPUT
    if args.junit is not None and args.junit.is_dir():
        out.print(f"[red]clp-testnet run: error:[/] --junit wants a file, {args.junit} is a folder")
        return EXIT_BAD_INPUT
    if args.monitor:
        from harness.monitor import MonitorError, prometheus_binary

        try:
            prometheus_binary()
        except MonitorError as exc:
            out.print(f"[red]clp-testnet run: error:[/] {escape(str(exc))}", highlight=False)
            return EXIT_BAD_INPUT
    try:
        scenarios = load_scenarios(args.files)
    except ScenarioError as exc:
        out.print(
            f"[red]clp-testnet run: error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
        )
        return EXIT_BAD_INPUT
    apply_backend_options(args)
    with node_environment(
        args.node, args.backend, lambda text: out.print(f"  {escape(text)}"), mix=args.mix
    ):
        results = asyncio.run(_run_all(scenarios, args, out))
    tallies = tally(results)
    code = exit_code(tallies)
    for r in results:
        if r.checks or r.expectations or r.error:
            out.print(result_table(r))
        if not r.passed:
            # unwrapped, so the reproduce command and the paths can be copied as they are
            out.print(r.failure_report(), markup=False, highlight=False, soft_wrap=True)
    out.print(summary_table(tallies, results))
    if args.junit is not None:
        from harness.scenario.junit import junit_xml

        args.junit.parent.mkdir(parents=True, exist_ok=True)
        args.junit.write_text(junit_xml(results))
    if args.json:
        doc = {
            "runs": [r.to_json() for r in results],
            "summary": [t.to_json() for t in tallies],
            "exit_code": code,
        }
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    return code


async def _run_all(
    scenarios: list[Any], args: argparse.Namespace, out: Console
) -> list[ScenarioResult]:
    from harness.scenario.progress import RichReporter
    from harness.scenario.runner import RunOptions, run_scenario

    results = []
    for sc in scenarios:
        for i in range(args.repeat):
            label = f"[{sc.name} {i + 1}/{args.repeat}] " if args.repeat > 1 else f"[{sc.name}] "
            with RichReporter(out, prefix=label) as reporter:
                opts = RunOptions(
                    seed=args.seed,
                    backend=args.backend,
                    out=args.out,
                    reporter=reporter,
                    monitor=args.monitor,
                    node=args.node,
                    mix=args.mix or "",
                )
                result = await run_scenario(sc, opts)
            results.append(result)
            reporter.event(f"{result.status} in {result.duration_s:.0f}s: {result.out_dir}")
    return results


def result_table(r: ScenarioResult) -> Table:
    title = f"{r.scenario}: {r.status} (seed {r.seed}, {r.backend}, {r.duration_s:.0f}s)"
    t = Table(title=escape(title))
    t.add_column("kind")
    t.add_column("name")
    t.add_column("result")
    t.add_column("evidence", overflow="fold")
    for c in r.checks:
        verdict = STYLE.get(c.verdict, escape(c.verdict))
        t.add_row("check", escape(c.name), verdict, escape("; ".join(c.evidence)))
    for e in r.expectations:
        t.add_row("expect", escape(e.what), STYLE["pass" if e.passed else "fail"], escape(e.detail))
    if r.error:
        t.add_row("harness", "error", STYLE["error"], escape(r.error))
    if r.not_applicable:
        t.add_row("node", "capability", STYLE["not_applicable"], escape(r.not_applicable))
    return t


def summary_table(tallies: list[Tally], results: list[ScenarioResult]) -> Table:
    t = Table(title="scenarios")
    for col in ("scenario", "verdict", "runs", "passed", "failed", "errors", "time"):
        t.add_column(col)
    for s in tallies:
        secs = sum(r.duration_s for r in results if r.scenario == s.scenario)
        t.add_row(
            s.scenario,
            STYLE[s.verdict],
            str(s.runs),
            str(s.passed),
            str(s.failed),
            str(s.errors),
            f"{secs:.0f}s",
        )
    return t
