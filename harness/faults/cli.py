"""`clp-testnet fault`: one fault against a running testnet, from another shell.

Every fault is appended to ``FAULT_LOG`` in the testnet directory, so faults from separate
invocations leave one trail; each invocation continues from the last record's fault state.
Process faults act on the processes ``up`` recorded in ``run.json``; ``restart`` starts a
new process and records its pid there.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from typing import Any

from rich.console import Console

from harness.cluster.base import Cluster
from harness.cluster.client import NodeHTTPError, NodeUnavailable
from harness.cluster.compose_run import ComposeTestnet, is_compose_layout
from harness.cluster.leftovers import cmdline
from harness.cluster.local import LocalBackend
from harness.cluster.process import signal_group
from harness.cluster.proxies import proxy_api
from harness.cluster.testnet import TestnetManifest
from harness.cluster.toxiproxy_api import ProxyApi, ToxiproxyError
from harness.faults.errors import FaultError
from harness.faults.kinds.base import FaultKind
from harness.faults.log import FaultLog, OldLog
from harness.faults.nemesis import Nemesis

FAULT_LOG = "faults.jsonl"
RUN_FILE = "run.json"  # harness.commands.RUN_FILE, written by `up`


class DetachedLocal(LocalBackend):
    """The node processes of a testnet that ``up`` started, driven by their recorded pids."""

    def __init__(self, manifest: TestnetManifest) -> None:
        run_file = manifest.root / RUN_FILE  # `up` records its node command: restart uses it
        recorded = json.loads(run_file.read_text()) if run_file.exists() else {}
        super().__init__(manifest, node_command=recorded.get("node_command"))
        self.node_commands.update(recorded.get("node_commands") or {})
        self.recorded_kinds: dict[str, str] = dict(recorded.get("implementations") or {})
        self.proxies = None  # the fault proxy belongs to `up`; reached through its API only
        self.run_file = manifest.root / RUN_FILE

    def implementations(self) -> dict[str, str]:
        """The kinds ``up`` started (it knew ``--node``; this process may not)."""
        return {**super().implementations(), **self.recorded_kinds}

    def _run(self) -> dict[str, Any]:
        if not self.run_file.exists():
            raise FaultError("process faults need a testnet started with `up --detach`")
        run: dict[str, Any] = json.loads(self.run_file.read_text())
        return run

    def pid(self, name: str) -> int | None:
        self.manifest.node(name)
        pid = self._run()["pids"].get(name)
        # The recorded pid may be dead and reused: it counts only while it runs this node.
        if not pid or str(self.manifest.config_path(name)) not in cmdline(pid):
            return None
        return int(pid)

    def is_running(self, name: str) -> bool:
        return self.pid(name) is not None

    def _signal(self, name: str, sig: signal.Signals) -> int:
        pid = self.pid(name)
        if pid is None:
            raise FaultError(f"{name} is not running")
        signal_group(pid, sig)
        return pid

    async def kill(self, name: str) -> None:
        self._signal(name, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while self.is_running(name) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    async def pause(self, name: str) -> None:
        self._signal(name, signal.SIGSTOP)

    async def resume(self, name: str) -> None:
        self._signal(name, signal.SIGCONT)

    async def restart(self, name: str) -> None:
        run = self._run()
        await super().restart(name)
        proc = self.procs[name]
        run["pids"][name] = proc.pid
        run["node_commands"] = self.node_commands  # an upgraded node keeps its new kind
        self.run_file.write_text(json.dumps(run))
        self._close_log(name)  # the new process holds its own descriptor


async def run_fault(
    manifest: TestnetManifest, kind: FaultKind, raw: dict[str, Any], console: Console
) -> int:
    cluster: Cluster
    api: ProxyApi | None
    if is_compose_layout(manifest):  # at the ports its containers publish
        cluster = ComposeTestnet(manifest)
        api = cluster.fault_api()
    else:
        cluster = DetachedLocal(manifest)
        api = proxy_api(manifest) if manifest.proxied else None
    import httpx

    try:
        log = FaultLog.load(manifest.root / FAULT_LOG)
        nemesis = Nemesis(cluster, api, log)
        record = await nemesis.apply(kind.name, raw)
        console.print(f"{kind.describe(record.args)}: done")
        return 0
    except (FaultError, OldLog) as exc:
        console.print(f"[red]clp-testnet fault: error:[/] {kind.cli_name}: {exc}")
        return 2
    except (httpx.HTTPError, ToxiproxyError, NodeUnavailable, NodeHTTPError) as exc:
        where = api.base_url if api is not None else "the nodes"
        console.print(
            f"[red]clp-testnet fault: error:[/] {kind.cli_name} failed talking to {where}: "
            f"{exc} (is the testnet running? `clp-testnet status --dir {manifest.root}`)"
        )
        return 1
    finally:
        await cluster.close_clients()
        if api is not None:
            api.close()
