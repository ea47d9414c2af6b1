"""`clp-testnet fault`: one fault against a running testnet, from another shell.

Every fault is appended to ``FAULT_LOG`` in the testnet directory (one JSON line each:
time, height, action, params), so faults from separate invocations leave one trail.
"""

from __future__ import annotations

import argparse
import json
import signal

import httpx
from rich.console import Console

from harness.cluster.client import NodeUnavailable
from harness.cluster.leftovers import cmdline
from harness.cluster.local import LocalBackend
from harness.cluster.process import signal_group
from harness.cluster.testnet import TestnetManifest
from harness.faults.nemesis import FaultError, FaultLog, Nemesis
from harness.faults.toxiproxy_api import ToxiproxyApi, ToxiproxyError

PROCESS_SIGNALS = {"kill": signal.SIGKILL, "pause": signal.SIGSTOP, "resume": signal.SIGCONT}
FAULT_LOG = "faults.jsonl"


async def run_fault(manifest: TestnetManifest, args: argparse.Namespace, console: Console) -> int:
    cluster = LocalBackend(manifest)
    api = ToxiproxyApi(f"http://127.0.0.1:{manifest.toxiproxy_port}") if manifest.proxied else None
    nemesis = Nemesis(cluster, api, FaultLog(path=manifest.root / FAULT_LOG))
    targets: list[str] = args.targets
    action: str = args.action
    try:
        if action in PROCESS_SIGNALS:
            run_file = manifest.root / "run.json"
            if not run_file.exists():
                raise FaultError("process faults need a testnet started with `up --detach`")
            pids = json.loads(run_file.read_text())["pids"]
            for name in _need(targets, 1, action):
                nemesis.check([name])
                pid = pids.get(name)
                # The recorded pid may be dead and reused: signal it only while it runs this node.
                if not pid or str(manifest.config_path(name)) not in cmdline(pid):
                    raise FaultError(f"{name} is not running")
                if action != "resume":
                    await nemesis.record(action, node=name)
                signal_group(pid, PROCESS_SIGNALS[action])
                if action == "resume":
                    await nemesis.record(action, node=name)
        elif action == "partition":
            groups = [t.split(",") for t in _need(targets, 1, action)]
            await nemesis.partition(groups)
        elif action == "cut":
            src, dst = _need(targets, 2, action)
            await nemesis.cut(src, dst)
        elif action in ("isolate", "mute"):
            for name in _need(targets, 1, action):
                await (nemesis.isolate(name) if action == "isolate" else nemesis.mute(name))
        elif action == "heal":
            await nemesis.heal()
        elif action == "latency":
            await nemesis.latency(args.ms, args.jitter, nodes=_need(targets, 1, action))
        elif action == "bandwidth":
            await nemesis.bandwidth(args.rate, nodes=_need(targets, 1, action))
        elif action == "timeout":
            await nemesis.timeout(args.ms, nodes=_need(targets, 1, action))
        elif action == "reset-peer":
            await nemesis.reset_peer(args.ms, nodes=_need(targets, 1, action))
        elif action in ("lazy", "active"):
            for name in _need(targets, 1, action):
                await nemesis.lazy(name, on=action == "lazy")
        elif action == "clock-offset":
            for name in _need(targets, 1, action):
                await nemesis.clock_offset(name, args.ms)
        console.print(f"{action} {' '.join(targets)}: done")
        return 0
    except FaultError as exc:
        console.print(f"[red]clp-testnet fault: error:[/] {exc}")
        return 2
    except (httpx.HTTPError, ToxiproxyError, NodeUnavailable) as exc:
        where = api.base_url if api is not None else "the nodes"
        console.print(
            f"[red]clp-testnet fault: error:[/] {action} failed talking to {where}: {exc} "
            f"(is the testnet running? `clp-testnet status --dir {manifest.root}`)"
        )
        return 1
    finally:
        await cluster.close_clients()
        if api is not None:
            api.close()


def _need(targets: list[str], n: int, action: str) -> list[str]:
    if len(targets) < n:
        raise FaultError(f"{action} needs at least {n} node name(s)")
    return targets
