"""``clp-testnet up``: run a testnet made by init, in the foreground or detached."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from harness.cluster.local import LocalBackend
from harness.cluster.testnet import TestnetError, TestnetManifest
from harness.commands import RUN_FILE, console


def register(sub: Any) -> None:
    p = sub.add_parser("up", help="start a testnet made by init (local processes)")
    p.add_argument("--dir", type=Path, required=True, help="testnet directory")
    p.add_argument("--detach", action="store_true", help="leave it running in the background")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    manifest = TestnetManifest.load(args.dir)
    if (args.dir / RUN_FILE).exists():
        raise TestnetError(
            f"{args.dir} seems to be running (run `clp-testnet down --dir {args.dir}`)"
        )
    return asyncio.run(_up(manifest, args.detach))


async def _up(manifest: TestnetManifest, detach: bool) -> int:
    from rich.live import Live

    from harness.report.tables import gather_rows, status_table

    cluster = LocalBackend(manifest)
    with console.status("starting nodes"):
        await cluster.start()
    if detach:
        pids = {n: cluster.pid(n) for n in cluster.names}
        proxy_pid = cluster.proxies.proc.pid if cluster.proxies and cluster.proxies.proc else None
        (manifest.root / RUN_FILE).write_text(json.dumps({"pids": pids, "toxiproxy": proxy_pid}))
        console.print(f"running in the background; logs in {cluster.log_dir}")
        return 0
    try:
        with Live(console=console, refresh_per_second=2) as live:
            while True:
                live.update(status_table(await gather_rows(cluster), "Ctrl-C to stop"))
                await asyncio.sleep(1.0)
    except asyncio.CancelledError:
        pass
    finally:
        await cluster.stop()
    return 0
