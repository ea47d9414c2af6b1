"""Throughput, finality latency and memory of a local testnet (direct links, test profile).

    .venv/bin/python benchmarks/node_bench.py                  # 5 then 16 validators
    .venv/bin/python benchmarks/node_bench.py --sizes 5 --blocks 200 --json out.json

For each size it starts that many ``clp-node`` processes (LocalBackend), lets them run to
``--blocks`` finalized blocks or for ``--max-seconds``, whichever comes first, then reports:

* blocks/s — finalized blocks over wall time, from the first to the last
  ``chain.block_committed`` log event of the measured window, per node (median given);
* finality latency p50/p99 — per (node, height): the node's ``chain.block_committed`` log
  time minus the block's ``time_ms``, which the proposer stamps when it builds the proposal
  (``ValidatorNode._get_value``). So this is *proposal creation -> commit on that node*
  (propose + prevote + precommit + gossip), for the round that finally committed; all
  processes share one clock. The interval between consecutive commits (which adds the
  configured 200 ms block interval) is reported too;
* rounds — how many blocks needed a round > 0 (from their commit certificates);
* RSS per node — VmRSS from /proc/<pid>/status, sampled every second (median and max over
  nodes of each node's peak), and CPU seconds per node (utime + stime from /proc/<pid>/stat).

The first ``--warmup`` blocks (connection set-up, first rounds) are left out of the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.cluster.base import WaitTimeout
from harness.cluster.local import LocalBackend
from harness.cluster.testnet import init_testnet

CLK_TCK = os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def commit_times(log_path: str) -> dict[int, float]:
    """height -> wall time of the node's chain.block_committed event."""
    out: dict[int, float] = {}
    for line in Path(log_path).read_text(errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and rec.get("event") == "chain.block_committed":
            out[int(rec["height"])] = float(rec["time"])
    return out


async def run_size(
    n: int, blocks: int, warmup: int, max_seconds: float, keep: bool
) -> dict[str, Any]:
    result = await _run_size(n, blocks, warmup, max_seconds)
    if not keep and "error" not in result:
        shutil.rmtree(result.pop("root"), ignore_errors=True)
    return result


async def _run_size(n: int, blocks: int, warmup: int, max_seconds: float) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix=f"clp-bench-{n}-"))
    manifest = init_testnet(root / "net", validators=n, proxied=False, seed=f"bench{n}")
    c = LocalBackend(manifest)
    peaks: dict[str, int] = {}
    note = ""
    t0 = time.monotonic()
    try:
        async with c:
            started_s = time.monotonic() - t0
            deadline = time.monotonic() + max_seconds
            target = warmup + blocks
            while time.monotonic() < deadline:
                for name in c.names:
                    pid = c.pid(name)
                    kib = rss_kib(pid) if pid else None
                    if kib is not None:
                        peaks[name] = max(peaks.get(name, 0), kib)
                heights = await c.heights()
                if all(h is not None and h >= target for h in heights.values()):
                    break
                await asyncio.sleep(1.0)
            else:
                note = f"time limit {max_seconds:.0f}s hit before height {target}"
            heights = await c.heights()
            cpu = {name: cpu_seconds(c.pid(name) or 0) for name in c.names}
            reached = min(h for h in heights.values() if h is not None)
            top = min(reached, target)
            sem = asyncio.Semaphore(16)

            async def block(h: int) -> dict[str, Any] | None:
                async with sem:
                    return await c.client(c.names[0]).block(h)

            fetched = await asyncio.gather(*(block(h) for h in range(1, top + 1)))
        run_s = time.monotonic() - t0 - started_s
    except WaitTimeout as exc:
        return {"validators": n, "error": f"did not start: {exc}", "root": str(root)}
    proposed = {b["height"]: b["block"]["time_ms"] / 1000 for b in fetched if b}
    rounds = [b["certificate"]["round"] for b in fetched if b and b["height"] > warmup]
    latencies: list[float] = []
    intervals: list[float] = []
    rates: list[float] = []
    for name in c.names:
        times = commit_times(c.log_path(name))
        window = [h for h in range(warmup + 1, top + 1) if h in times and h in proposed]
        latencies += [times[h] - proposed[h] for h in window]
        intervals += [times[h] - times[h - 1] for h in window if h - 1 in times]
        if len(window) >= 2:
            span = times[window[-1]] - times[window[0]]
            rates.append((len(window) - 1) / span if span > 0 else 0.0)
    rss = sorted(peaks.values())
    cpus = [v for v in cpu.values() if v is not None]
    return {
        "validators": n,
        "start_s": round(started_s, 2),
        "run_s": round(run_s, 1),
        "heights": heights,
        "measured_blocks": max(0, top - warmup),
        "blocks_per_s": round(statistics.median(rates), 2) if rates else 0.0,
        "latency_p50_ms": round(percentile(latencies, 50) * 1000) if latencies else None,
        "latency_p99_ms": round(percentile(latencies, 99) * 1000) if latencies else None,
        "interval_p50_ms": round(percentile(intervals, 50) * 1000) if intervals else None,
        "interval_p99_ms": round(percentile(intervals, 99) * 1000) if intervals else None,
        "blocks_round_gt0": sum(1 for r in rounds if r > 0),
        "max_round": max(rounds, default=0),
        "rss_mib_median": round(statistics.median(rss) / 1024, 1) if rss else None,
        "rss_mib_max": round(rss[-1] / 1024, 1) if rss else None,
        "cpu_s_per_node_median": round(statistics.median(cpus), 1) if cpus else None,
        "note": note,
        "root": str(root),
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    cols = [
        ("validators", "n"),
        ("measured_blocks", "blocks"),
        ("blocks_per_s", "blk/s"),
        ("latency_p50_ms", "lat p50 ms"),
        ("latency_p99_ms", "lat p99 ms"),
        ("interval_p50_ms", "ivl p50 ms"),
        ("interval_p99_ms", "ivl p99 ms"),
        ("blocks_round_gt0", "round>0"),
        ("rss_mib_median", "RSS MiB med"),
        ("rss_mib_max", "RSS MiB max"),
        ("cpu_s_per_node_median", "CPU s/node"),
        ("start_s", "start s"),
        ("run_s", "run s"),
    ]
    print(" | ".join(h for _, h in cols))
    for r in rows:
        print(" | ".join(str(r.get(k, "-")) for k, _ in cols))
        if r.get("note") or r.get("error"):
            print(f"  note: {r.get('note') or r.get('error')}")


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="5,16", help="comma-separated validator counts")
    ap.add_argument("--blocks", type=int, default=100, help="blocks measured per size")
    ap.add_argument("--warmup", type=int, default=5, help="first blocks left out")
    ap.add_argument("--max-seconds", type=float, default=120.0, help="time limit per size")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--keep", action="store_true", help="keep each testnet dir (logs, data)")
    args = ap.parse_args()
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        print(f"running {n} validators ...", file=sys.stderr, flush=True)
        rows.append(await run_size(n, args.blocks, args.warmup, args.max_seconds, args.keep))
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
