"""Throughput, finality latency, memory and CPU of a testnet (test profile).

    .venv/bin/python benchmarks/node_bench.py                     # 5 then 16 validators
    .venv/bin/python benchmarks/node_bench.py --sizes 5,16,32,64
    .venv/bin/python benchmarks/node_bench.py --node rust --sizes 5,32,64,128
    .venv/bin/python benchmarks/node_bench.py --links direct      # no proxies
    .venv/bin/python benchmarks/node_bench.py --sizes 32 --backend docker
    .venv/bin/python benchmarks/node_bench.py --sizes 16 --profile   # cProfile every node

For each size it starts that many nodes of kind ``--node`` (``python``, the reference node,
or ``rust``, ``clp-node-rs``; ``--backend local``: processes; ``docker``: one container
each, images built when missing), every directed link through the Toxiproxy server as the
harness's testnets run them (``--links proxied``, the default: N·(N-1) proxies) or straight
from node to node (``--links direct``), lets them run to ``--blocks``
finalized blocks after ``--warmup`` or for ``--max-seconds``, whichever comes first, then
reports:

* blocks/s — finalized blocks over wall time, from the first to the last commit log
  event (``chain.block_committed``; the Rust node's ``block.committed``) of the measured
  window, per node (median given). A size that cannot keep up is a row like any other:
  its rate, the height it reached and a note, never a traceback;
* finality latency p50/p99 — per (node, height): the node's commit log event's time
  minus the block's ``time_ms``, which the proposer stamps when it builds the proposal
  (``ConsensusDriver._get_value``). So this is *proposal creation -> commit on that node*
  (propose + prevote + precommit + gossip), for the round that finally committed; all
  processes share one clock. The interval between consecutive commits (which adds the
  configured 200 ms block interval) is reported too;
* rounds — how many blocks needed a round > 0 (from their commit certificates);
* RSS per node — VmRSS from /proc/<pid>/status, sampled every second (median and max over
  nodes of each node's peak); CPU per node from /proc/<pid>/stat (utime + stime): the
  share of one core over the run and the CPU milliseconds each measured block cost;
* load — the machine's 1-minute load average when the size started and when it ended:
  other work on the machine shares its cores with the testnet.

The first ``--warmup`` blocks (connection set-up, first rounds) are left out of the figures.
``--profile`` (local backend) runs every node under cProfile (``profile_node.py``) and
prints the functions that took most of the nodes' time, summed over the nodes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pstats
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.cluster.backends import init_for_backend, make_cluster
from harness.cluster.base import Cluster
from harness.cluster.client import NodeUnavailable
from harness.cluster.local import LocalBackend
from harness.cluster.node_choice import node_environment
from harness.node_kinds import PYTHON, NodeKindError, add_node_option

LINKS = ("proxied", "direct")

CLK_TCK = os.sysconf("SC_CLK_TCK")
PROFILE_COMMAND = f"{shlex.quote(sys.executable)} {Path(__file__).with_name('profile_node.py')}"


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


def node_pid(c: Cluster, name: str) -> int | None:
    """The node's process id on this host (a container's main process for Docker)."""
    if isinstance(c, LocalBackend):
        return c.pid(name)
    container = getattr(c, "containers", {}).get(name)
    if container is None:
        return None
    container.reload()  # the attributes of creation time have no process yet
    pid = container.attrs.get("State", {}).get("Pid")
    return int(pid) if pid else None


#: The log event of a commit: the Python node's, then the Rust node's (the contract leaves
#: log events to each implementation; both carry ``height`` and ``time``).
COMMIT_EVENTS = frozenset({"chain.block_committed", "block.committed"})


def commit_times(log_path: str) -> dict[int, float]:
    """height -> wall time of the node's commit event (COMMIT_EVENTS)."""
    out: dict[int, float] = {}
    try:
        text = Path(log_path).read_text(errors="replace")
    except OSError:
        return out
    for line in text.splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and rec.get("event") in COMMIT_EVENTS:
            out[int(rec["height"])] = float(rec["time"])
    return out


def load1() -> float:
    return round(os.getloadavg()[0], 1)


async def run_size(n: int, args: argparse.Namespace) -> dict[str, Any]:
    """One size's row; anything that goes wrong is the row's error, not a traceback."""
    root = Path(tempfile.mkdtemp(prefix=f"clp-bench-{n}-"))
    row: dict[str, Any] = {
        "validators": n,
        "node": args.node,
        "links": args.links,
        "backend": args.backend,
        "load_start": load1(),
    }
    try:
        row.update(await _run_size(n, args, root))
    except Exception as exc:  # a benchmark reports a failure as its figure
        row["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    row["load_end"] = load1()
    if args.keep or "error" in row:
        row["root"] = str(root)
    else:
        shutil.rmtree(root, ignore_errors=True)
    return row


async def _fetch_blocks(c: Cluster, heights: range) -> dict[int, dict[str, Any]]:
    """The measured blocks, from whichever node answers (a loaded node may time out)."""
    sem = asyncio.Semaphore(8)

    async def block(h: int) -> dict[str, Any] | None:
        async with sem:
            for name in c.names[:5]:
                for _ in range(3):
                    try:
                        return await c.client(name).block(h)
                    except NodeUnavailable:
                        await asyncio.sleep(0.5)
            return None

    fetched = await asyncio.gather(*(block(h) for h in heights))
    return {b["height"]: b for b in fetched if b}


async def _run_size(n: int, args: argparse.Namespace, root: Path) -> dict[str, Any]:
    manifest = init_for_backend(
        args.backend,
        root / "net",
        validators=n,
        proxied=args.links == "proxied",
        seed=f"bench{n}",
    )
    if args.profile:
        c: Cluster = LocalBackend(manifest, node_command=f"{PROFILE_COMMAND} --config {{config}}")
    else:
        c = make_cluster(args.backend, manifest)
    peaks: dict[str, int] = {}
    notes: list[str] = []
    target = args.warmup + args.blocks
    t0 = time.monotonic()
    cpu_warm: dict[str, float | None] = {}
    async with c:
        started_s = time.monotonic() - t0
        t_run = time.monotonic()
        deadline = t_run + args.max_seconds
        pids = {name: node_pid(c, name) for name in c.names}
        while True:
            for name, pid in pids.items():
                kib = rss_kib(pid) if pid else None
                if kib is not None:
                    peaks[name] = max(peaks.get(name, 0), kib)
            heights = await c.heights()
            known = [h for h in heights.values() if h is not None]
            if not cpu_warm and known and min(known) >= args.warmup:
                cpu_warm = {name: cpu_seconds(pid or 0) for name, pid in pids.items()}
            if len(known) == n and min(known) >= target:
                break
            if time.monotonic() >= deadline:
                notes.append(
                    f"cannot keep up: lowest height {min(known, default=0)} of {target} "
                    f"after {args.max_seconds:.0f}s"
                )
                break
            await asyncio.sleep(1.0)
        run_s = time.monotonic() - t_run
        cpu_end = {name: cpu_seconds(pid or 0) for name, pid in pids.items()}
        down = [name for name, h in heights.items() if h is None]
        if down:
            notes.append(f"{len(down)} node(s) did not answer at the end: {', '.join(down[:5])}")
        top = min(min(known, default=0), target)
        blocks = await _fetch_blocks(c, range(args.warmup + 1, top + 1))
    proxies = c.proxies if isinstance(c, LocalBackend) else None
    return {
        **(
            {"proxy_server": proxies.kind, "proxy_servers": len(proxies.servers)}
            if proxies is not None
            else {}
        ),
        "start_s": round(started_s, 1),
        "run_s": round(run_s, 1),
        "lowest_height": min(known, default=0),
        **_figures(c, args.warmup, top, blocks),
        **_resources(peaks, cpu_warm, cpu_end, run_s, max(0, top - args.warmup)),
        "note": "; ".join(notes),
        **({"profile": _profile(c)} if args.profile else {}),
    }


def _figures(
    c: Cluster, warmup: int, top: int, blocks: dict[int, dict[str, Any]]
) -> dict[str, Any]:
    proposed = {h: b["block"]["time_ms"] / 1000 for h, b in blocks.items()}
    rounds = [b["certificate"]["round"] for b in blocks.values()]
    latencies: list[float] = []
    intervals: list[float] = []
    rates: list[float] = []
    for name in c.names:
        times = commit_times(c.log_path(name))
        window = [h for h in range(warmup + 1, top + 1) if h in times]
        latencies += [times[h] - proposed[h] for h in window if h in proposed]
        intervals += [times[h] - times[h - 1] for h in window if h - 1 in times]
        if len(window) >= 2:
            span = times[window[-1]] - times[window[0]]
            rates.append((len(window) - 1) / span if span > 0 else 0.0)

    def ms(values: list[float], q: float) -> int | None:
        return round(percentile(values, q) * 1000) if values else None

    return {
        "measured_blocks": max(0, top - warmup),
        "blocks_per_s": round(statistics.median(rates), 2) if rates else 0.0,
        "latency_p50_ms": ms(latencies, 50),
        "latency_p99_ms": ms(latencies, 99),
        "interval_p50_ms": ms(intervals, 50),
        "interval_p99_ms": ms(intervals, 99),
        "blocks_round_gt0": sum(1 for r in rounds if r > 0),
        "max_round": max(rounds, default=0),
    }


def _resources(
    peaks: dict[str, int],
    cpu_warm: dict[str, float | None],
    cpu_end: dict[str, float | None],
    run_s: float,
    measured: int,
) -> dict[str, Any]:
    rss = sorted(peaks.values())
    total = [v for v in cpu_end.values() if v is not None]
    spent = [
        end - start
        for name, end in cpu_end.items()
        if end is not None and (start := cpu_warm.get(name)) is not None
    ]
    per_block = statistics.median(spent) / measured * 1000 if spent and measured else None
    return {
        "rss_mib_median": round(statistics.median(rss) / 1024, 1) if rss else None,
        "rss_mib_max": round(rss[-1] / 1024, 1) if rss else None,
        "cpu_s_per_node_median": round(statistics.median(total), 1) if total else None,
        "cpu_pct_per_node_median": (
            round(100 * statistics.median(spent) / run_s) if spent and run_s > 0 else None
        ),
        "cpu_ms_per_block_per_node": round(per_block) if per_block is not None else None,
    }


def _profile(c: Cluster, top: int = 30) -> list[dict[str, Any]]:
    """Functions by own time summed over every node's profile (written when it stopped)."""
    files = [
        str(p)
        for name in c.names
        if (p := c.manifest.root / name / "data" / "profile.pstats").is_file()
    ]
    if not files:
        files = [str(p) for p in c.manifest.root.rglob("profile.pstats")]
    if not files:
        return []
    stats = pstats.Stats(*files)
    total = sum(v[2] for v in stats.stats.values()) or 1.0  # type: ignore[attr-defined]
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)  # type: ignore[attr-defined]
    out = []
    for (path, line, func), (_cc, calls, tottime, cumtime, _callers) in rows[:top]:
        out.append(
            {
                "function": f"{Path(path).name}:{line}:{func}",
                "calls": calls,
                "own_pct": round(100 * tottime / total, 1),
                "cum_pct": round(100 * cumtime / total, 1),
            }
        )
    return out


COLUMNS = [
    ("validators", "n"),
    ("node", "node"),
    ("links", "links"),
    ("measured_blocks", "blocks"),
    ("blocks_per_s", "blk/s"),
    ("latency_p50_ms", "lat p50 ms"),
    ("latency_p99_ms", "lat p99 ms"),
    ("interval_p50_ms", "ivl p50 ms"),
    ("interval_p99_ms", "ivl p99 ms"),
    ("blocks_round_gt0", "round>0"),
    ("rss_mib_median", "RSS MiB med"),
    ("rss_mib_max", "RSS MiB max"),
    ("cpu_pct_per_node_median", "CPU %/node"),
    ("cpu_ms_per_block_per_node", "CPU ms/blk/node"),
    ("start_s", "start s"),
    ("run_s", "run s"),
    ("load_start", "load start"),
    ("load_end", "load end"),
]


def print_table(rows: list[dict[str, Any]]) -> None:
    print(" | ".join(h for _, h in COLUMNS))
    for r in rows:
        print(" | ".join(str(r.get(k, "-")) for k, _ in COLUMNS))
        for key in ("note", "error"):
            if r.get(key):
                print(f"  {key}: {r[key]}")
    for r in rows:
        if r.get("profile"):
            print(f"\nprofile of {r['validators']} validators (own time, all nodes summed):")
            for p in r["profile"]:
                print(f"  {p['own_pct']:5.1f}% own {p['cum_pct']:5.1f}% cum  {p['function']}")


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",")]
    except ValueError:
        raise SystemExit(
            f"node_bench: --sizes wants comma-separated integers, got {text!r}"
        ) from None
    if not sizes or min(sizes) < 1:
        raise SystemExit("node_bench: every size must be at least 1")
    return sizes


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; a combination that cannot run is a one-line error (SystemExit)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="5,16", help="comma-separated validator counts")
    ap.add_argument("--backend", choices=("local", "docker"), default="local")
    ap.add_argument("--blocks", type=int, default=100, help="blocks measured per size")
    ap.add_argument("--warmup", type=int, default=5, help="first blocks left out")
    ap.add_argument("--max-seconds", type=float, default=120.0, help="time limit per size")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--keep", action="store_true", help="keep each testnet dir (logs, data)")
    ap.add_argument(
        "--profile", action="store_true", help="cProfile every node (local, Python node only)"
    )
    add_node_option(ap)
    ap.add_argument(
        "--links",
        choices=LINKS,
        default="proxied",
        help="proxied (default): every directed link through the Toxiproxy server, the full "
        "proxy matrix of N*(N-1) proxies the harness's testnets run; direct: node to node",
    )
    args = ap.parse_args(argv)
    args.size_list = parse_sizes(args.sizes)
    if args.profile and args.backend != "local":
        raise SystemExit("node_bench: --profile runs node processes here: --backend local")
    if args.profile and args.node != PYTHON:
        raise SystemExit("node_bench: --profile runs the Python node under cProfile: --node python")
    return args


async def main() -> int:
    args = parse_args()
    try:
        with node_environment(args.node, args.backend):
            rows = []
            for n in args.size_list:
                print(
                    f"running {n} validators ({args.node}, {args.links} links, {args.backend}) ...",
                    file=sys.stderr,
                    flush=True,
                )
                rows.append(await run_size(n, args))
    except NodeKindError as exc:
        raise SystemExit(f"node_bench: {exc}") from None
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
