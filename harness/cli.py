"""``clp-testnet``: create, run, fault and inspect CLP testnets; run the demo.

Each subcommand lives in its own module under ``harness.commands``, of the same name.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from harness import signals
from harness.cluster.engine import DockerUnavailable
from harness.cluster.testnet import TestnetError
from harness.commands import console
from harness.monitor import MonitorError

EPILOG = """\
quick start:
  clp-testnet demo                      the CLP flow end to end on 5 local validators (~25 s)
  clp-testnet init --dir net -n 5       write keys, genesis and configs for a testnet
  clp-testnet up --dir net              run it in the foreground with a live table (Ctrl-C stops)
  clp-testnet up --dir net --detach     run it in the background; `down` stops it
  clp-testnet status --dir net          one row per validator: height, stake, CLP status
  clp-testnet fault --dir net isolate v2    cut v2 off (see `clp-testnet fault --help`)
  clp-testnet toxiproxy --port 8474     the Toxiproxy-API-compatible server, standalone
  clp-testnet check run/history.json    re-run the CLP invariant checkers on a saved run
  clp-testnet run scenarios/*.toml      run fault scenarios; verdict, results JSON, reproduce line
  clp-testnet report runs/x-20250101-1200   the run's report.html (timeline, verdicts, logs) again
  clp-testnet explore --runs 30         generated fault schedules; failures shrunk to scenarios
  clp-testnet images build              Docker images of the node and Toxiproxy (no registry)
  clp-testnet conform 'clp-node --config {config}'   qualify a node against the contract
"""

#: The subcommands, in the order of the help; ``harness.commands.<name>`` registers ``<name>``.
COMMANDS = [
    "demo",
    "init",
    "up",
    "down",
    "status",
    "fault",
    "toxiproxy",
    "images",
    "run",
    "explore",
    "check",
    "report",
    "conform",
]


def command_word(argv: list[str]) -> str | None:
    """The subcommand ``argv`` names (the top level takes no option but -h), if it is one."""
    word = next((a for a in argv if not a.startswith("-")), None)
    return word if word in COMMANDS else None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every subcommand, or of ``only``: a command imports the modules of
    its own subcommand alone (the harness's checkers, scenario runner and clients are a
    third of a second of CPU, and the tests start the CLI hundreds of times)."""
    p = argparse.ArgumentParser(
        prog="clp-testnet",
        description="Multi-node testnet harness for the Continuous Liveness Proof: real "
        "validators, every peer link through a fault proxy, CLP outcomes checked from the chain.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS if only is None else [only]:
        importlib.import_module(f"harness.commands.{name}").register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    signals.stop_like_ctrl_c()
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(command_word(argv))
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        code: int = args.handler(args)
        return code
    except (TestnetError, ValueError, DockerUnavailable, MonitorError) as exc:
        console.print(f"[red]clp-testnet: error:[/] {exc}")
        return 2
    except KeyboardInterrupt:
        signals.ignore_further()
        console.print(f"[yellow]interrupted; everything was stopped ({signals.stopped_by()})[/]")
        return signals.exit_code()


if __name__ == "__main__":
    sys.exit(main())
