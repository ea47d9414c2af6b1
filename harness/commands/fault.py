"""``clp-testnet fault``: one fault against a running testnet, from another shell."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from harness.cluster.testnet import TestnetManifest
from harness.commands import console

ACTIONS = [
    "partition",
    "cut",
    "isolate",
    "mute",
    "heal",
    "latency",
    "bandwidth",
    "timeout",
    "reset-peer",
    "kill",
    "pause",
    "resume",
    "lazy",
    "active",
    "clock-offset",
]


def register(sub: Any) -> None:
    p = sub.add_parser(
        "fault",
        help="inject a fault into a running testnet",
        description="Link faults go through the fault proxy; lazy and clock-offset use the "
        "nodes' test hooks; kill/pause/resume signal the node processes of a running testnet. "
        "Every fault is appended to DIR/faults.jsonl (wall time, chain height, action, "
        "params).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="""examples:
  clp-testnet fault --dir net partition v0,v1 v2,v3,v4
  clp-testnet fault --dir net cut v0 v1          v0 can no longer send to v1
  clp-testnet fault --dir net isolate v4
  clp-testnet fault --dir net latency v2 --ms 300 --jitter 20
  clp-testnet fault --dir net lazy v3            v3 stops answering challenges
  clp-testnet fault --dir net heal""",
    )
    p.add_argument("--dir", type=Path, required=True, help="testnet directory")
    p.add_argument("action", choices=ACTIONS, help="the fault")
    p.add_argument("targets", nargs="*", help="node names (partition: comma-separated groups)")
    p.add_argument("--ms", type=int, default=0, help="latency/timeout/offset in ms")
    p.add_argument("--jitter", type=int, default=0, help="latency jitter in ms")
    p.add_argument("--rate", type=int, default=0, help="bandwidth in KB/s")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from harness.faults.cli import run_fault

    manifest = TestnetManifest.load(args.dir)
    return asyncio.run(run_fault(manifest, args, console))
