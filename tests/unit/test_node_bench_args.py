"""benchmarks/node_bench.py: its command line (the issue's runs as written) and the commit
events it reads from either node's log."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "node_bench.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("node_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["node_bench"] = module
    spec.loader.exec_module(module)
    return module


def test_the_issue_command_runs_rust_through_the_proxies(bench: ModuleType) -> None:
    args = bench.parse_args(["--node", "rust", "--sizes", "5,32,64,128"])
    assert (args.node, args.links, args.size_list) == ("rust", "proxied", [5, 32, 64, 128])


def test_defaults_are_the_python_node_and_proxied_links(bench: ModuleType) -> None:
    args = bench.parse_args([])
    assert (args.node, args.links, args.backend) == ("python", "proxied", "local")
    assert bench.parse_args(["--links", "direct"]).links == "direct"


@pytest.mark.parametrize(
    "argv",
    [["--node", "go"], ["--links", "mesh"], ["--sizes", "5,x"], ["--sizes", "0"]],
)
def test_bad_values_are_refused(bench: ModuleType, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        bench.parse_args(argv)
    assert info.value.code != 0


def test_profiling_wants_the_python_node(bench: ModuleType) -> None:
    with pytest.raises(SystemExit, match="--node python"):
        bench.parse_args(["--profile", "--node", "rust"])


def test_commit_times_read_both_nodes_events(bench: ModuleType, tmp_path: Path) -> None:
    log = tmp_path / "v0.log"
    lines = [
        {"event": "chain.block_committed", "height": 1, "time": 10.0},
        {"event": "block.committed", "height": 2, "time": 10.2},
        {"event": "consensus.held", "height": 3, "time": 10.4},
    ]
    log.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n")
    assert bench.commit_times(str(log)) == {1: 10.0, 2: 10.2}
