"""Start/stop cycles of a 5-node proxied local testnet: does teardown leave anything behind?

    .venv/bin/python benchmarks/cycles.py                 # 100 cycles
    .venv/bin/python benchmarks/cycles.py --cycles 10 --validators 4 --json out.json

Each cycle writes a fresh testnet (``init_testnet``), starts it with the LocalBackend
(the Toxiproxy-API server plus one node process per validator), waits until every node
has finalized ``--blocks`` blocks, stops it, and then checks from /proc that none of its
processes is alive (the pids it started, their sessions, anything naming the testnet
dir) and that no port of its manifest (API, P2P, every link, the proxy API) still
listens. Prints one line per cycle and a summary.

A cycle whose start fails (on a shared machine another testnet may be handed one of the
same free ports between init and start) is reported with the reason, its testnet kept,
and still checked for leftovers: a failed start must tear down as cleanly as a good one.
Exit status: 0 every cycle clean; 1 something was left behind (it is killed, and the run
stops there); 2 no leftovers, but some cycles failed to start.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.cluster.leftovers import (
    ProcessId,
    find_leftovers,
    foreign_listeners,
    tracked_processes,
)
from harness.cluster.local import LocalBackend
from harness.cluster.process import signal_group
from harness.cluster.testnet import init_testnet


@dataclass
class Cycle:
    index: int
    start_s: float = 0.0
    blocks_s: float = 0.0
    stop_s: float = 0.0
    leftovers: list[str] = field(default_factory=list)
    error: str | None = None
    foreign: list[str] = field(default_factory=list)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


async def run_cycle(root: Path, index: int, validators: int, blocks: int) -> Cycle:
    """init → start → ``blocks`` blocks on every node → stop → check what is left."""
    cycle = Cycle(index)
    manifest = init_testnet(root, validators=validators, seed=f"cycle-{index}")
    cluster = LocalBackend(manifest)
    tracked: list[ProcessId] = []
    t0 = time.monotonic()
    try:
        await cluster.start()
        tracked = tracked_processes(cluster)
        t1 = time.monotonic()
        cycle.start_s = t1 - t0
        await cluster.wait_for_height(blocks)
        cycle.blocks_s = time.monotonic() - t1
    except Exception as exc:  # a cycle that fails is reported, and still checked
        cycle.error = f"{type(exc).__name__}: {exc}"
        tracked = tracked or tracked_processes(cluster)
        cycle.foreign = foreign_listeners(manifest, tracked)
    finally:
        t2 = time.monotonic()
        await cluster.stop()
        cycle.stop_s = time.monotonic() - t2
    cycle.leftovers = find_leftovers(manifest, tracked)
    if cycle.leftovers:
        for pid in tracked:
            signal_group(pid.pid, signal.SIGKILL)
        cluster.stop_sync()
    return cycle


def summary(cycles: list[Cycle]) -> dict[str, float | int]:
    ok = [c for c in cycles if c.error is None]
    starts = [c.start_s for c in ok] or [0.0]
    stops = [c.stop_s for c in cycles] or [0.0]
    return {
        "cycles": len(cycles),
        "failed": len(cycles) - len(ok),
        "start_mean_s": statistics.fmean(starts),
        "start_p95_s": percentile(starts, 95),
        "blocks_mean_s": statistics.fmean([c.blocks_s for c in ok] or [0.0]),
        "stop_mean_s": statistics.fmean(stops),
        "stop_p95_s": percentile(stops, 95),
        "leftovers": sum(len(c.leftovers) for c in cycles),
    }


async def main_async(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="clp-cycles-"))
    cycles: list[Cycle] = []
    started = time.monotonic()
    for i in range(1, args.cycles + 1):
        root = work / f"net{i}"
        c = await run_cycle(root, i, args.validators, args.blocks)
        cycles.append(c)
        status = "ok" if c.error is None else f"FAILED ({c.error})"
        print(
            f"cycle {i:3d}/{args.cycles}: start {c.start_s:5.2f} s  "
            f"{args.blocks} blocks {c.blocks_s:5.2f} s  stop {c.stop_s:5.2f} s  "
            f"leftovers {len(c.leftovers)}  {status}",
            flush=True,
        )
        for line in c.foreign:
            print(f"    busy: {line}", flush=True)
        for line in c.leftovers:
            print(f"    left: {line}", flush=True)
        if c.leftovers or c.error is not None:
            print(f"    testnet and logs kept in {root}", flush=True)
        else:
            shutil.rmtree(root, ignore_errors=True)
        if c.leftovers:
            break
    if all(c.error is None and not c.leftovers for c in cycles):
        shutil.rmtree(work, ignore_errors=True)
    s = summary(cycles)
    print(
        f"\n{s['cycles']} cycles of {args.validators} proxied nodes in "
        f"{time.monotonic() - started:.0f} s: start mean {s['start_mean_s']:.2f} s "
        f"p95 {s['start_p95_s']:.2f} s; stop mean {s['stop_mean_s']:.2f} s "
        f"p95 {s['stop_p95_s']:.2f} s; {s['failed']} failed; leftovers found {s['leftovers']}"
    )
    if args.json:
        args.json.write_text(
            json.dumps({"summary": s, "cycles": [asdict(c) for c in cycles]}, indent=2)
        )
    if s["leftovers"]:
        return 1
    return 2 if s["failed"] else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--cycles", type=int, default=100, help="start/stop cycles (default 100)")
    p.add_argument("--validators", "-n", type=int, default=5, help="validators (default 5)")
    p.add_argument("--blocks", type=int, default=3, help="blocks to wait for (default 3)")
    p.add_argument("--json", type=Path, help="also write every cycle's figures here")
    args = p.parse_args(argv)
    if args.cycles < 1 or args.validators < 1 or args.blocks < 1:
        p.error("--cycles, --validators and --blocks must be at least 1")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
