"""``clp-testnet``: create, run, fault and inspect CLP testnets; run the demo."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from clp_node.clp.types import ClpConfig, ClpConfigError
from harness.cluster.local import LocalBackend
from harness.cluster.process import signal_group
from harness.cluster.testnet import TestnetError, TestnetManifest, init_testnet

console = Console()

EPILOG = """\
quick start:
  clp-testnet demo                      the CLP flow end to end on 5 local validators (~60 s)
  clp-testnet init --dir net -n 5       write keys, genesis and configs for a testnet
  clp-testnet up --dir net              run it in the foreground with a live table (Ctrl-C stops)
  clp-testnet up --dir net --detach     run it in the background; `down` stops it
  clp-testnet status --dir net          one row per validator: height, stake, CLP status
  clp-testnet fault --dir net isolate v2    cut v2 off (see `clp-testnet fault --help`)
  clp-testnet toxiproxy --port 8474     the Toxiproxy-API-compatible server, standalone
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="clp-testnet",
        description="Multi-node testnet harness for the Continuous Liveness Proof: real "
        "validators, every peer link through a fault proxy, CLP outcomes checked from the chain.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="run the partition → slash → ejection demo and a verdict")
    demo.add_argument("--validators", "-n", type=int, default=5, help="validators (default 5)")
    demo.add_argument("--dir", type=Path, help="keep the testnet here (default: a temp dir)")
    demo.add_argument("--backend", choices=["local"], default="local", help="where nodes run")

    init = sub.add_parser("init", help="write keys, genesis and node configs for a testnet")
    init.add_argument("--dir", type=Path, required=True, help="directory to create")
    init.add_argument("--validators", "-n", type=int, default=5, help="validators (default 5)")
    init.add_argument(
        "--profile",
        choices=["test", "production"],
        default="test",
        help="CLP parameters of CLP_SPEC §2 (default: test profile, E=20 K=2 W=4)",
    )
    init.add_argument(
        "--clp",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override one CLP parameter, e.g. --clp epoch_length=40 (repeatable)",
    )
    init.add_argument("--chain-id", default="clp-testnet", help="chain id (default clp-testnet)")
    init.add_argument("--seed", help="derive keys from this text (reproducible testnets)")
    init.add_argument("--no-proxy", action="store_true", help="direct links, no fault proxy")
    init.add_argument(
        "--stakes", help="comma-separated stakes, one per validator (default 100000 each)"
    )

    up = sub.add_parser("up", help="start a testnet made by init (local processes)")
    up.add_argument("--dir", type=Path, required=True, help="testnet directory")
    up.add_argument("--detach", action="store_true", help="leave it running in the background")

    down = sub.add_parser("down", help="stop a detached testnet and any leftovers of a crash")
    down.add_argument("--dir", type=Path, required=True, help="testnet directory")

    status = sub.add_parser("status", help="table per validator of a running testnet")
    status.add_argument("--dir", type=Path, required=True, help="testnet directory")
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")

    tox = sub.add_parser("toxiproxy", help="run the Toxiproxy-API-compatible server")
    tox.add_argument("--host", default="127.0.0.1", help="API listen host (default 127.0.0.1)")
    tox.add_argument("--port", type=int, default=8474, help="API port (default 8474)")

    fault = sub.add_parser(
        "fault",
        help="inject a fault into a running testnet",
        description="Link faults go through the fault proxy; lazy and clock-offset use the "
        "nodes' test hooks; kill/pause/resume signal the node processes of a detached testnet.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="""examples:
  clp-testnet fault --dir net partition v0,v1 v2,v3,v4
  clp-testnet fault --dir net cut v0 v1          v0 can no longer send to v1
  clp-testnet fault --dir net isolate v4
  clp-testnet fault --dir net latency v2 --ms 300 --jitter 20
  clp-testnet fault --dir net lazy v3            v3 stops answering challenges
  clp-testnet fault --dir net heal""",
    )
    fault.add_argument("--dir", type=Path, required=True, help="testnet directory")
    fault.add_argument(
        "action",
        choices=[
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
        ],
        help="the fault",
    )
    fault.add_argument("targets", nargs="*", help="node names (partition: comma-separated groups)")
    fault.add_argument("--ms", type=int, default=0, help="latency/timeout/offset in ms")
    fault.add_argument("--jitter", type=int, default=0, help="latency jitter in ms")
    fault.add_argument("--rate", type=int, default=0, help="bandwidth in KB/s")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        handler = COMMANDS[args.command]
        return handler(args)
    except (TestnetError, ClpConfigError, ValueError) as exc:
        console.print(f"[red]clp-testnet: error:[/] {exc}")
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]interrupted; everything was stopped[/]")
        return 130


def cmd_demo(args: argparse.Namespace) -> int:
    from harness.demo import run_demo

    if args.validators < 4:
        raise ValueError("the demo needs at least 4 validators (an ejection must fit the cap)")
    ok = asyncio.run(run_demo(console, args.dir, args.validators, keep=args.dir is not None))
    return 0 if ok else 1


def _parse_overrides(items: list[str]) -> dict[str, int]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not value.lstrip("-").isdigit():
            raise ValueError(f"--clp {item!r}: want NAME=INTEGER")
        out[name.strip()] = int(value)
    return out


def cmd_init(args: argparse.Namespace) -> int:
    base = ClpConfig.test_profile() if args.profile == "test" else ClpConfig.production()
    clp = ClpConfig.from_dict({**base.to_dict(), **_parse_overrides(args.clp)})
    stakes = None
    if args.stakes:
        try:
            stakes = [int(s) for s in args.stakes.split(",")]
        except ValueError as exc:
            raise ValueError(f"--stakes {args.stakes!r}: want comma-separated integers") from exc
    manifest = init_testnet(
        args.dir,
        validators=args.validators,
        clp=clp,
        chain_id=args.chain_id,
        stakes=stakes,
        proxied=not args.no_proxy,
        seed=args.seed,
    )
    console.print(f"wrote a {len(manifest.nodes)}-validator testnet to {args.dir}")
    for n in manifest.nodes:
        console.print(f"  {n.name}  {n.address}  api {n.api_url}")
    console.print(f"start it with: clp-testnet up --dir {args.dir}")
    return 0


RUN_FILE = "run.json"


def cmd_up(args: argparse.Namespace) -> int:
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


def cmd_down(args: argparse.Namespace) -> int:
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


def cmd_status(args: argparse.Namespace) -> int:
    from harness.report.tables import gather_rows, status_table

    manifest = TestnetManifest.load(args.dir)

    async def go() -> list[dict[str, Any]]:
        cluster = LocalBackend(manifest)
        try:
            return await gather_rows(cluster)
        finally:
            await cluster.close_clients()

    rows = asyncio.run(go())
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        console.print(status_table(rows, str(args.dir)))
    return 0


def cmd_toxiproxy(args: argparse.Namespace) -> int:
    from harness.toxiproxy.__main__ import main as tox_main

    tox_main(["--host", args.host, "--port", str(args.port)])
    return 0


def cmd_fault(args: argparse.Namespace) -> int:
    from harness.faults.cli import run_fault

    manifest = TestnetManifest.load(args.dir)
    return asyncio.run(run_fault(manifest, args, console))


COMMANDS = {
    "demo": cmd_demo,
    "init": cmd_init,
    "up": cmd_up,
    "down": cmd_down,
    "status": cmd_status,
    "toxiproxy": cmd_toxiproxy,
    "fault": cmd_fault,
}


if __name__ == "__main__":
    sys.exit(main())
