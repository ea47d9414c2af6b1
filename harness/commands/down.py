"""``clp-testnet down``: stop a detached testnet."""

from __future__ import annotations

import argparse
import json
import signal
from pathlib import Path
from typing import Any

from harness.cluster.process import signal_group
from harness.commands import RUN_FILE, console


def register(sub: Any) -> None:
    p = sub.add_parser("down", help="stop a detached testnet and any leftovers of a crash")
    p.add_argument("--dir", type=Path, required=True, help="testnet directory")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    run_file = args.dir / RUN_FILE
    if not run_file.exists():
        console.print("nothing recorded as running here")
        return 0
    data: dict[str, Any] = json.loads(run_file.read_text())
    pids = [p for p in [*data.get("pids", {}).values(), data.get("toxiproxy")] if p]
    for pid in pids:
        signal_group(pid, signal.SIGCONT)
        signal_group(pid, signal.SIGTERM)
    run_file.unlink()
    console.print(f"stopped {len(pids)} processes")
    return 0
