"""Run one ``clp-node`` under cProfile; the profile lands beside its data as ``profile.pstats``.

A node command for ``node_bench.py --profile`` (``CLP_TESTNET_NODE_COMMAND`` form):

    python benchmarks/profile_node.py --config {config}

The node stops on SIGTERM by returning from its main loop, so the profile is written on
every ordinary stop of the testnet.
"""

from __future__ import annotations

import cProfile
import sys
from pathlib import Path

from clp_node.cli import main
from clp_node.config import NodeConfig


def run(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "--config":
        print("usage: profile_node.py --config NODE_TOML", file=sys.stderr)
        return 2
    out = NodeConfig.load(Path(argv[1])).data_dir / "profile.pstats"
    profiler = cProfile.Profile()
    try:
        return int(profiler.runcall(main, argv))
    finally:
        profiler.dump_stats(out)


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
