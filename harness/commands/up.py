"""``clp-testnet up``: run a testnet made by init, in the foreground or detached.

Both modes record the pids in ``run.json`` (so ``fault kill`` and a second ``up`` see the
run); the foreground mode removes it again when it stops. Ctrl-C, a failed start or any
error stops every process it started before the command exits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from harness.cluster.compose_run import is_compose_layout
from harness.cluster.leftovers import listening_sockets, manifest_ports
from harness.cluster.local import LocalBackend
from harness.cluster.node_choice import local_command
from harness.cluster.testnet import TestnetError, TestnetManifest
from harness.commands import RUN_FILE, console
from harness.monitor import Monitor
from harness.node_kinds import add_node_option, node_kind
from harness.node_mix import mix_nodes, parse_mix
from harness.scenario.runner import started_with_monitor


def register(sub: Any) -> None:
    p = sub.add_parser(
        "up",
        help="start a testnet made by init (local processes)",
        description="Start the Toxiproxy-API server and one node process per validator of a "
        "testnet made by `init`. In the foreground it shows a live status table until Ctrl-C, "
        "which stops everything; with --detach it returns once every node answers and "
        "`clp-testnet down` stops it. Logs go to DIR/logs/.",
    )
    p.add_argument("--dir", type=Path, required=True, help="testnet directory")
    add_node_option(p, mix=True)
    p.add_argument(
        "--detach", action="store_true", help="leave it running in the background (see `down`)"
    )
    p.add_argument(
        "--monitor",
        action="store_true",
        help="also run a real Prometheus scraping every node (Debian's prometheus on PATH) "
        "and print its URL; metric names: docs/metrics.md",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    command = local_command(args.node)  # an unknown or unbuilt node: one line, nothing started
    # Absolute: `down` knows a recorded process by its config path on its command line,
    # whatever folder `down` runs in and however it names the testnet.
    args.dir = args.dir.resolve()
    manifest = TestnetManifest.load(args.dir)
    if args.mix:  # this start's mix over the testnet's validators, kept in its manifest
        kinds = mix_nodes(parse_mix(args.mix), len(manifest.nodes), exact=False)
        for kind in set(kinds):
            node_kind(kind).command()  # an unbuilt Rust node: one line, nothing started
        manifest.implementations = {n.name: k for n, k in zip(manifest.nodes, kinds, strict=True)}
        manifest.save()
    if is_compose_layout(manifest):
        raise TestnetError(
            f"{args.dir} is laid out for containers: start it with `docker compose up -d` in "
            "the folder of its docker-compose.yml (status, fault, check, down then reach it)"
        )
    if (args.dir / RUN_FILE).exists():
        raise TestnetError(
            f"{args.dir} seems to be running (run `clp-testnet down --dir {args.dir}`)"
        )
    ports = manifest_ports(manifest)
    busy = sorted(listening_sockets(ports))
    if busy:
        taken = ", ".join(f"{p} ({ports[p]})" for p in busy)
        raise TestnetError(f"ports of {args.dir} are already in use: {taken}")
    detached = False
    try:
        detached = asyncio.run(_up(manifest, args.detach, args.monitor, command))
    finally:
        if not detached:  # also after a second Ctrl-C cut the teardown short
            (args.dir / RUN_FILE).unlink(missing_ok=True)
    return 0


async def _up(
    manifest: TestnetManifest, detach: bool, monitor: bool = False, command: str | None = None
) -> bool:
    """True once a detached testnet runs; in the foreground, runs until cancelled.
    ``command`` starts a node (None: the backend's default); run.json records it, so that
    ``fault restart`` starts the same implementation again."""
    from rich.live import Live

    from harness.report.tables import gather_rows, status_table

    cluster = LocalBackend(manifest, node_command=command)
    run_file = manifest.root / RUN_FILE
    prom: Monitor | None = None
    try:
        with console.status("starting nodes" + (" and Prometheus" if monitor else "")):
            prom = await started_with_monitor(
                cluster, manifest.root / "prometheus" if monitor else None
            )
        pids = {n: cluster.pid(n) for n in cluster.names}
        record: dict[str, Any] = {
            "pids": pids,
            # Each proxy server's pid by its API port (the mark `down` checks it by).
            "toxiproxies": dict(
                zip(map(str, manifest.toxiproxy_ports), cluster.proxies.pids, strict=True)
            )
            if cluster.proxies
            else {},
            "node_command": cluster.node_command,
            "node_commands": cluster.node_commands,
            "implementations": cluster.implementations(),  # the fault log's start
        }
        if prom is not None:
            record["prometheus"] = prom.proc.pid if prom.proc else None
            console.print(f"Prometheus scraping every node: {prom.url}", highlight=False)
        run_file.write_text(json.dumps(record))
    except BaseException:  # a failed or interrupted start must not leave processes behind
        if prom is not None:
            prom.stop()
        await cluster.stop()
        raise
    if detach:
        cluster.detach()
        await cluster.close_clients()
        if cluster.proxies is not None:
            cluster.proxies.api.close()
        console.print(f"running in the background; logs in {cluster.log_dir}")
        return True
    try:
        with Live(console=console, refresh_per_second=2) as live:
            while True:
                live.update(status_table(await gather_rows(cluster), "Ctrl-C to stop"))
                await asyncio.sleep(1.0)
    finally:  # Ctrl-C cancels this task: stop, then the CLI reports the interrupt (exit 130)
        if prom is not None:
            prom.stop()
        await cluster.stop()
