"""``clp-testnet down``: stop a detached local testnet, and remove Docker leftovers of crashes.

With ``--dir`` it stops the processes a detached ``up`` recorded there. With ``--docker``
(the default when no ``--dir`` is given) it removes every container, network and volume
labelled as the project's (or only one run's, with ``--run-id``) whose owning process is
gone — what a crashed or killed run left behind, swarm services, configs and secrets
included. A run whose owner still runs on this host is kept unless ``--force``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
from pathlib import Path
from typing import Any

from harness.cluster.compose_run import ComposeTestnet, is_compose_layout
from harness.cluster.leftovers import cmdline, proc_stat
from harness.cluster.process import signal_group
from harness.cluster.testnet import MANIFEST, TestnetManifest
from harness.commands import RUN_FILE, console


def register(sub: Any) -> None:
    p = sub.add_parser(
        "down",
        help="stop a detached testnet; remove Docker leftovers of crashed runs",
        description="Stop a detached local testnet (--dir) and/or remove the containers, "
        "networks and volumes that crashed Docker runs left (--docker; the default without "
        "--dir).",
    )
    p.add_argument("--dir", type=Path, help="testnet directory of a detached local run")
    p.add_argument(
        "--docker",
        action="store_true",
        help="remove Docker leftovers (default when --dir is not given)",
    )
    p.add_argument("--run-id", help="only the Docker objects of this run id")
    p.add_argument(
        "--force",
        action="store_true",
        help="also remove Docker runs whose owning process is still alive",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.dir is not None:
        stop_local(args.dir.resolve())  # as `up` started it: see there
    if args.docker or args.run_id or args.dir is None:
        remove_docker_leftovers(args.run_id, args.force)
    return 0


def stop_local(root: Path, grace: float = 5.0) -> None:
    """SIGTERM the recorded processes that are still ours, SIGKILL what outlives ``grace``;
    a testnet docker compose runs goes as with ``docker compose down``."""
    run_file = root / RUN_FILE
    if not run_file.exists():  # as a compose testnet never has: `up` refuses to start it
        found = TestnetManifest.load(root) if (root / MANIFEST).is_file() else None
        if found is not None and is_compose_layout(found):
            stop_compose(found)
        else:
            console.print(f"{root}: nothing recorded as running here")
        return
    data: dict[str, Any] = json.loads(run_file.read_text())
    manifest = TestnetManifest.load(root)
    # A recorded pid may be dead and reused by an unrelated process: only signal it while
    # its command line is still the node (its config path) or this testnet's proxy (its port).
    marks = {pid: str(manifest.config_path(name)) for name, pid in data.get("pids", {}).items()}
    if data.get("toxiproxy"):  # a run file of before proxy servers were split
        marks[data["toxiproxy"]] = str(manifest.toxiproxy_port)
    for port, pid in data.get("toxiproxies", {}).items():
        marks[pid] = port
    if data.get("prometheus"):  # `up --monitor`: its command line names its config here
        marks[data["prometheus"]] = str(root / "prometheus")
    ours = [pid for pid, mark in marks.items() if pid and mark in cmdline(pid)]
    for pid in ours:
        signal_group(pid, signal.SIGCONT)
        signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(_running(p) for p in ours) and time.monotonic() < deadline:
        time.sleep(0.05)
    killed = [p for p in ours if _running(p)]
    for pid in killed:
        signal_group(pid, signal.SIGKILL)
    run_file.unlink()
    extra = f" ({len(killed)} needed SIGKILL)" if killed else ""
    console.print(f"stopped {len(ours)} processes{extra}")


def stop_compose(manifest: TestnetManifest) -> None:
    """Remove the compose project's containers and network; its data volumes stay."""
    cluster = ComposeTestnet(manifest)
    try:
        cluster.stop_sync()
        volumes = cluster.volumes()
    finally:
        asyncio.run(cluster.close_clients())
    console.print(f"stopped compose project {cluster.project.name}")
    if volumes:
        console.print(
            f"its data volumes stay ({', '.join(volumes)}): `docker compose down -v` in the "
            "folder of its docker-compose.yml removes them"
        )


def _running(pid: int) -> bool:
    stat = proc_stat(pid)
    return stat is not None and stat.state != "Z"


def remove_docker_leftovers(run_id: str | None, force: bool) -> None:
    from harness.cluster.engine import docker_client, remove_leftovers
    from harness.cluster.swarm import remove_swarm_leftovers

    client = docker_client()
    try:
        # swarm services first: their tasks' containers go with them
        swarm_removed, swarm_kept = remove_swarm_leftovers(client, run_id, force)
        removed, kept = remove_leftovers(client, run_id, force)
    finally:
        client.close()
    for name in swarm_removed:
        console.print(f"removed swarm object {name}")
    kept = {**swarm_kept, **kept}
    for kind, names in (
        ("container", removed.containers),
        ("network", removed.networks),
        ("volume", removed.volumes),
    ):
        for name in names:
            console.print(f"removed {kind} {name}")
    for rid, owner in kept.items():
        console.print(f"kept run {rid}: its owner {owner} is still running (--force removes it)")
    what = f"run {run_id}" if run_id else "the project"
    console.print(f"removed {removed.total + len(swarm_removed)} Docker objects of {what}")
