"""``clp-testnet demo``: the partition → slash → ejection flow with a verdict."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from harness.cluster.backends import add_backend_options, apply_backend_options
from harness.cluster.node_choice import node_environment
from harness.commands import console
from harness.node_kinds import add_node_option


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="run the partition → slash → ejection demo and a verdict")
    p.add_argument("--validators", "-n", type=int, default=5, help="validators (default 5)")
    p.add_argument(
        "--dir", type=Path, help="use this run folder and keep its testnet (default: see --out)"
    )
    add_backend_options(p)
    add_node_option(p, mix=True)
    p.add_argument(
        "--out",
        type=Path,
        default=Path("runs"),
        help="the run folder goes here: OUT/demo-<time>/ with report.html (default runs)",
    )
    p.add_argument(
        "--monitor",
        action="store_true",
        help="run a real Prometheus scraping every node and print its URL (docs/metrics.md)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from harness.demo import run_demo

    if args.monitor:
        from harness.monitor import prometheus_binary

        prometheus_binary()  # no Prometheus: one clear error before anything starts
    if args.validators < 4:
        raise ValueError("the demo needs at least 4 validators (an ejection must fit the cap)")
    apply_backend_options(args)
    with node_environment(
        args.node, args.backend, lambda text: console.print(f"  {text}"), mix=args.mix
    ):
        ok = asyncio.run(
            run_demo(
                console,
                args.dir,
                args.validators,
                keep=args.dir is not None,
                backend=args.backend,
                monitor=args.monitor,
                out=args.out,
                node=args.node,
            )
        )
    return 0 if ok else 1
