"""``clp-testnet status``: one row per validator of a running testnet."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from harness.cluster.compose_run import reach
from harness.cluster.testnet import TestnetManifest
from harness.commands import console


def register(sub: Any) -> None:
    p = sub.add_parser("status", help="table per validator of a running testnet")
    p.add_argument("--dir", type=Path, required=True, help="testnet directory")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from harness.report.tables import gather_rows, status_table

    manifest = TestnetManifest.load(args.dir)

    async def go() -> list[dict[str, Any]]:
        cluster = reach(manifest)
        try:
            return await gather_rows(cluster)
        finally:
            await cluster.close_clients()

    rows = asyncio.run(go())
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        console.print(status_table(rows, str(args.dir)))
    return 0
