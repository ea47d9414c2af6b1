"""``clp-testnet explore``: generated testnets and fault schedules, judged by the checkers.

Exit codes: 0 no failure (flaky liveness verdicts are listed, not counted); 1 a failure (a
safety check's even when no replay repeats it), or a run ended in a harness error; 2 bad
input.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from pathlib import Path
from typing import Any

from harness.cluster.backends import BACKENDS
from harness.cluster.node_choice import node_environment
from harness.commands import console
from harness.node_kinds import KINDS, add_node_option, node_kind

EXIT_BAD_INPUT = 2
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smh]?)$")


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``10m``, ``1h`` -> seconds."""
    m = _DURATION.match(text.strip())
    if not m or float(m[1]) <= 0:
        raise ValueError(f"want a duration like 90s, 10m or 1h, got {text!r}")
    return float(m[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[m[2]]


def register(sub: Any) -> None:
    p = sub.add_parser(
        "explore",
        help="generated testnets and fault schedules; shrink failures to scenario files",
        description="Each run draws, from the seed, a testnet (3-10 validators, CLP parameters\n"
        "at and near their edges, stakes on thresholds) and a fault schedule in protocol\n"
        "time from the fault registry; the checkers of docs/protocol.md §15 judge it. A\n"
        "failure is replayed (3 times; 6 for a safety check) and shrunk to a scenario file\n"
        "that `clp-testnet run` replays. A liveness failure no replay repeats is flaky; a\n"
        "safety failure never is. Guide: docs/explore.md.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="""examples:
  clp-testnet explore --seed 1 --runs 30
  clp-testnet explore --seed 1 --runs 8 --jobs 2
  clp-testnet explore --seed 7 --time-budget 10m --json > summary.json
  clp-testnet explore --replay runs/explore-1-20261201-210000/run-004

exit codes: 0 no failure, 1 a failure reproduced or a harness error, 2 bad input""",
    )
    p.add_argument("--seed", type=int, default=1, help="derives every run (default 1)")
    p.add_argument("--runs", type=int, metavar="N", help="stop after N runs")
    p.add_argument("--time-budget", metavar="DURATION", help="start no run after this (10m)")
    p.add_argument("--backend", choices=BACKENDS, default="local", help="where nodes run")
    add_node_option(p, mix=True)
    p.add_argument("--out", type=Path, default=Path("runs"), help="results folder (runs)")
    p.add_argument(
        "--shrink-budget", type=int, default=12, metavar="N", help="runs spent shrinking (12)"
    )
    p.add_argument("--max-failures", type=int, metavar="N", help="stop after N reproduced failures")
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="testnets run at once (1); the same seed gives the same runs whatever N is",
    )
    p.add_argument(
        "--draw-mixes",
        action="store_true",
        help="sometimes draw a mixed testnet (every node kind: all of one kind, a 1-of-n "
        "minority, the stake split evenly between implementations); needs every kind built",
    )
    p.add_argument("--replay", type=Path, metavar="RUN_DIR", help="re-run one saved run")
    p.add_argument("--json", action="store_true", help="the summary as JSON on stdout")
    p.set_defaults(handler=explore)


def _error(text: str) -> int:
    console.print(f"[red]clp-testnet explore: error:[/] {text}", highlight=False, markup=True)
    return EXIT_BAD_INPUT


def explore(args: argparse.Namespace) -> int:
    from harness.explore.explorer import ExploreOptions, Explorer, replay

    def say(line: str) -> None:
        print(line, file=sys.stderr if args.json else sys.stdout, flush=True)

    if args.replay is not None:
        if not (args.replay / "explore.json").is_file():
            return _error(f"{args.replay}: not an explore run folder (no explore.json)")
        backend = str(json.loads((args.replay / "explore.json").read_text())["backend"])
        with node_environment(args.node, backend, say, mix=args.mix):
            result = asyncio.run(replay(args.replay, say, args.node))
        say(f"[explore] replay {result.status}: {result.out_dir}")
        for line in result.failures():
            say(f"  {line}")
        return 0 if result.passed else 1
    if args.seed < 0:
        return _error(f"--seed wants N >= 0, got {args.seed}")
    if args.runs is not None and args.runs < 1:
        return _error(f"--runs wants N >= 1, got {args.runs}")
    if args.shrink_budget < 0:
        return _error(f"--shrink-budget wants N >= 0, got {args.shrink_budget}")
    if args.jobs < 1:
        return _error(f"--jobs wants N >= 1, got {args.jobs}")
    if args.max_failures is not None and args.max_failures < 1:
        return _error(f"--max-failures wants N >= 1, got {args.max_failures}")
    budget = None
    if args.time_budget is not None:
        try:
            budget = parse_duration(args.time_budget)
        except ValueError as exc:
            return _error(f"--time-budget: {exc}")
    runs = args.runs if args.runs is not None or budget is not None else 10
    if args.draw_mixes and args.backend == "local":
        for kind in KINDS:  # an unbuilt Rust node: one line, before any run
            node_kind(kind).command()
    opts = ExploreOptions(
        seed=args.seed,
        runs=runs,
        time_budget_s=budget,
        backend=args.backend,
        out=args.out,
        shrink_budget=args.shrink_budget,
        max_failures=args.max_failures,
        jobs=args.jobs,
        say=say,
        node=args.node,
        mix_kinds=tuple(KINDS) if args.draw_mixes else (),
    )
    with node_environment(args.node, args.backend, say, mix=args.mix):
        summary = asyncio.run(Explorer(opts).explore())
    doc = summary.to_json()
    say(
        f"[explore] {summary.runs} runs in {summary.duration_s:.0f}s "
        f"({doc['runs_per_10_min']} per 10 min): {summary.passed} passed, "
        f"{len(summary.bugs)} failed, {doc['flaky']} flaky, {len(summary.errors)} errors"
    )
    for f in summary.failures:
        if f.flaky:
            what = "flaky"
        elif f.shrunk_file is None:
            what = f"not reproduced (a failure all the same): {f.run_dir}"
        else:
            what = f"shrunk to {f.shrunk_file}"
        say(f"  run {f.index} ({', '.join(f.signature)}): {what}")
    never = doc["coverage"].get("never", [])
    say(f"[explore] never happened ({len(never)}): {', '.join(never) or 'none'}")
    say(f"[explore] summary: {summary.out_dir}/summary.json")
    if args.json:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    return 1 if summary.bugs or summary.errors else 0
