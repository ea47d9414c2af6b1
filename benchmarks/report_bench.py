"""Cost of the run report: time to write report.html + timeline.svg, and their sizes.

    .venv/bin/python benchmarks/report_bench.py              # runs a 60-block, 5-node scenario
    .venv/bin/python benchmarks/report_bench.py RUN_DIR      # an existing run folder instead

The scenario cuts v4 off early in epoch 0 (a fault window, slashes, an ejection, missed
responses: everything the timeline draws) and runs until epoch 2 is evaluated (60 blocks
of 20), then a short quiet period. The report is written --repeat times; the figures
printed are what the targets are about: generation under 2 s per run, HTML under 2 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from harness.report.build import REPORT, TIMELINE_SVG, write_report
from harness.scenario.parse import parse_file
from harness.scenario.runner import RunOptions, run_scenario

SCENARIO = """
name = "report-bench"
description = "v4 cut off from height 3 to epoch 2: slashed, ejected; 60 blocks, 5 nodes."

[cluster]
validators = 5

[run]
until_epoch = 2

[[steps]]
at = { height = 3 }
do = "isolate"
node = "v4"

[[steps]]
at = { epoch = 2 }
do = "heal"

[quiet]
blocks = 2
"""


def make_run(root: Path) -> Path:
    (root / "report-bench.toml").write_text(SCENARIO)
    result = asyncio.run(
        run_scenario(parse_file(root / "report-bench.toml"), RunOptions(run_dir=root / "run"))
    )
    print(f"scenario {result.status} in {result.duration_s:.1f} s: {result.out_dir}")
    return root / "run"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run_dir", nargs="?", type=Path, help="an existing run folder")
    p.add_argument("--repeat", type=int, default=5, help="report writes to time (default 5)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="report-bench-") as tmp:
        run = args.run_dir or make_run(Path(tmp))
        history = json.loads((run / "history.json").read_text())
        blocks = max(len(c) for c in history["chains"].values())
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            write_report(run)
            times.append(time.perf_counter() - t)
        html = (run / REPORT).stat().st_size
        svg = (run / TIMELINE_SVG).stat().st_size
        print(f"run: {len(history['chains'])} nodes, {blocks} blocks")
        print(
            f"report generation: median {statistics.median(times):.3f} s, max {max(times):.3f} s "
            f"over {args.repeat} writes (target < 2 s)"
        )
        print(f"report.html: {html / 1e6:.3f} MB (target < 2 MB); timeline.svg: {svg / 1e3:.0f} kB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
