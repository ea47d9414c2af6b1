"""The one-command demo: a validator is partitioned away mid-epoch, misses its challenges,
is slashed at the epoch's end, ejected at the next, and after the heal syncs and sees
itself ejected. Every step is checked against the chain; the exit code is the verdict.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from harness.cluster.backends import init_for_backend, make_cluster
from harness.cluster.base import Cluster
from harness.faults.nemesis import Nemesis
from harness.node_kinds import DEFAULT_KIND
from harness.report.tables import gather_rows, status_table
from harness.scenario.results import CheckOutcome, ExpectationOutcome, ScenarioResult


@dataclass
class Check:
    name: str
    passed: bool
    detail: str


@dataclass
class Verdict:
    checks: list[Check] = field(default_factory=list)

    def add(self, name: str, passed: bool, detail: str) -> bool:
        self.checks.append(Check(name, passed, detail))
        return passed

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    def table(self) -> Table:
        t = Table(title="verdict")
        t.add_column("check")
        t.add_column("result")
        t.add_column("evidence")
        for c in self.checks:
            t.add_row(c.name, "[green]pass[/]" if c.passed else "[red]FAIL[/]", c.detail)
        return t


class Demo:
    def __init__(self, cluster: Cluster, nemesis: Nemesis, console: Console, victim: str) -> None:
        self.cluster = cluster
        self.nemesis = nemesis
        self.console = console
        self.victim = victim
        self.others = [n for n in cluster.names if n != victim]
        self.verdict = Verdict()
        self.t0 = time.monotonic()
        self.trace: list[dict[str, Any]] = []  # sampled heights, for the report's lanes

    def say(self, text: str) -> None:
        self.console.print(f"[dim]{time.monotonic() - self.t0:6.1f}s[/] {text}")

    async def progress_until(self, coro: Any, what: str) -> Any:
        """Show heights while waiting, so a long step never looks stuck."""
        task = asyncio.ensure_future(coro)
        with self.console.status(what) as status:
            while not task.done():
                heights = await self.cluster.heights()
                self.trace.append({"t": round(time.time(), 3), "heights": heights})
                shown = "  ".join(f"{n}:{h if h is not None else '-'}" for n, h in heights.items())
                status.update(f"{what}   [dim]{shown}[/]")
                await asyncio.wait({task}, timeout=0.5)
        return task.result()

    async def run(self) -> Verdict:
        c, victim = self.cluster, self.victim
        E = c.clock.epoch_length
        victim_addr = c.address(victim)
        # As soon as the chain runs, so the victim answers well under half its challenges
        # even when the isolation lands several blocks late on a loaded machine (a rate
        # exactly at the minimum passes, CLP_SPEC §7; at E // 4 a 6-block delay left 5000).
        partition_at = 2
        self.say(f"waiting for height {partition_at} (inside epoch 0)")
        await self.progress_until(c.wait_for_height(partition_at), "chain starting")
        await self.nemesis.apply("isolate", node=victim)
        self.say(f"[bold]partitioned {victim}[/] away from the other {len(self.others)} validators")

        results0 = await self.progress_until(
            c.wait_for_epoch_result(0, self.others), f"epoch 0 closing at height {E}"
        )
        self.check_same("epoch 0 result identical on the majority", results0)
        r0 = results0[self.others[0]]
        v0 = _outcome(r0, victim_addr)
        self.verdict.add(
            f"{victim} slashed for epoch 0",
            v0 is not None
            and v0["slashed"] > 0
            and v0["status"] in ("slashed", "ejection_deferred"),
            f"rate {v0['rate_bps'] if v0 else '?'} bps, slashed {v0['slashed'] if v0 else '?'}",
        )
        healthy_slashed = [
            o for o in r0["validators"] if o["address"] != victim_addr and o["slashed"]
        ]
        self.verdict.add(
            "no one else slashed in epoch 0",
            not healthy_slashed,
            f"{len(healthy_slashed)} others slashed",
        )
        outcome = v0["status"] if v0 else "no outcome"
        rate = v0["rate_bps"] if v0 else "?"
        self.say(f"epoch 0 closed: {victim} rate {rate} bps → {outcome}")

        results1 = await self.progress_until(
            c.wait_for_epoch_result(1, self.others), f"epoch 1 closing at height {2 * E}"
        )
        self.check_same("epoch 1 result identical on the majority", results1)
        r1 = results1[self.others[0]]
        self.verdict.add(
            f"{victim} ejected at the end of epoch 1",
            victim_addr in r1["ejected"] and victim_addr not in r1["next_committee"],
            f"ejected={[c.name_of(a) for a in r1['ejected']]}, "
            f"next committee size {len(r1['next_committee'])}",
        )
        self.say(f"epoch 1 closed: ejected {[c.name_of(a) for a in r1['ejected']]}")

        await self.nemesis.apply("heal")
        self.say("[bold]partition healed[/]; waiting for the victim to sync")
        heads = await c.heights(self.others)
        target = max(h for h in heads.values() if h is not None)
        await self.progress_until(
            c.wait_for_height(target, [victim]), f"{victim} syncing to {target}"
        )
        own_view = await c.client(victim).validator(victim_addr)
        self.verdict.add(
            f"{victim} synced and sees itself ejected",
            own_view["status"] == "ejected" and not own_view["in_committee"],
            f"status {own_view['status']}, in_committee {own_view['in_committee']}",
        )
        all_r1 = await asyncio.gather(*(c.client(n).epoch_result(1) for n in c.names))
        self.check_same(
            "epoch 1 result identical on all nodes after heal",
            dict(zip(c.names, all_r1, strict=True)),
        )
        await self.check_agreement_and_conservation()
        return self.verdict

    def check_same(self, name: str, results: dict[str, Any]) -> None:
        values = list(results.values())
        same = all(v == values[0] for v in values) and values[0] is not None
        self.verdict.add(name, same, f"{len(values)} nodes compared")

    async def check_agreement_and_conservation(self) -> None:
        c = self.cluster
        heights = await c.heights()
        top = min(h for h in heights.values() if h is not None)
        mismatches = 0
        for h in range(1, top + 1):
            hashes = {
                (await c.client(n).block(h) or {}).get("block", {}).get("hash") for n in c.names
            }
            mismatches += len(hashes) != 1
        self.verdict.add(
            "all nodes finalized one chain",
            mismatches == 0,
            f"heights 1..{top}, {mismatches} mismatches",
        )
        totals = []
        genesis_total = sum(n.stake for n in c.manifest.nodes)
        for n in c.names:
            status = await c.client(n).clp_status()
            totals.append(sum(status["stakes"].values()) + status["burned"])
        self.verdict.add(
            "stake conserved (stakes + burned = genesis)",
            all(t == genesis_total for t in totals),
            f"genesis {genesis_total}, nodes {sorted(set(totals))}",
        )


def _outcome(result: dict[str, Any], address: str) -> dict[str, Any] | None:
    return next((o for o in result["validators"] if o["address"] == address), None)


async def run_demo(
    console: Console,
    root: Path | None = None,
    validators: int = 5,
    keep: bool = False,
    backend: str = "local",
    monitor: bool = False,
    out: Path = Path("runs"),
    node: str = DEFAULT_KIND,
) -> bool:
    """The demo in the run folder ``root`` (default out/demo-<time>/): result.json,
    history.json, logs/ and report.html stay; the testnet/ inside goes after a pass
    unless ``keep``. ``node`` names the implementation the caller resolved
    (``harness.cluster.node_choice.node_environment``), for the record."""
    from harness.scenario.runner import make_run_dir, started_with_monitor

    root = root if root is not None else make_run_dir(out, "demo")
    root.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    result = ScenarioResult("demo", "(built in)", 0, backend, out_dir=str(root), node=node)
    manifest = init_for_backend(backend, root / "testnet", validators=validators, seed="demo")
    clp, cons = manifest.clp, manifest.consensus
    console.print(
        f"[bold]CLP demo[/]: {validators} validators, epoch {clp['epoch_length']} blocks, "
        f"challenge every {clp['challenge_interval']}, window {clp['response_window']}, "
        f"block interval {cons['block_interval_ms']} ms, {backend} backend, {node} node — "
        f"run folder {root}"
    )
    cluster = make_cluster(backend, manifest, root / "logs")
    prom = None
    verdict = Verdict()
    try:
        try:
            prom = await started_with_monitor(cluster, root / "prometheus" if monitor else None)
            fault_api = cluster.fault_api()
            assert fault_api is not None, "the demo's testnet is always proxied"
            console.print(
                f"started {validators} nodes and the Toxiproxy server "
                f"({time.monotonic() - started:.1f} s)"
            )
            if prom is not None:
                console.print(f"Prometheus scraping every node: {prom.url}", highlight=False)
                console.print(
                    f"  e.g. {prom.url}/graph?g0.expr=alphaos_clp_validator_stake"
                    f"%7Bvalidator%3D%22{cluster.names[-1]}%22%7D",
                    highlight=False,
                )
            nemesis = Nemesis(cluster, fault_api)
            demo = Demo(cluster, nemesis, console, victim=cluster.names[-1])
            try:
                verdict = await demo.run()
            except TimeoutError as exc:
                verdict = demo.verdict
                verdict.add("demo finished in time", False, str(exc))
            console.print(status_table(await gather_rows(cluster), "final state"))
            console.print(verdict.table())
            result.checks = await _checks(cluster, nemesis, root)
            result.fault_log = nemesis.log.to_json()
            if prom is not None:
                await asyncio.to_thread(prom.save, root / "monitor.json")
            logs = ", ".join(cluster.log_path(n) for n in cluster.names)
            result.logs = {n: cluster.log_path(n) for n in cluster.names}
            (root / "heights.json").write_text(json.dumps(demo.trace) + "\n")
        finally:
            await cluster.shutdown()
    finally:
        if prom is not None:
            prom.stop()
    result.expectations = [ExpectationOutcome(c.name, c.passed, c.detail) for c in verdict.checks]
    result.duration_s = time.monotonic() - started
    result.finish()
    data = result.to_json() | {"seed": "demo", "reproduce": demo_command(validators, backend, node)}
    (root / "result.json").write_text(json.dumps(data, indent=2) + "\n")
    report = _report(root)
    elapsed = time.monotonic() - started
    if verdict.passed:
        console.print(
            f"[bold green]PASS[/]: the CLP flow happened as the spec says ({elapsed:.0f} s)"
        )
    else:
        console.print(f"[bold red]FAIL[/] after {elapsed:.0f} s; node logs: {logs}")
        keep = True
    console.print(f"report: {report}", highlight=False, soft_wrap=True)
    if keep:
        console.print(f"testnet kept in {root / 'testnet'}", highlight=False)
    else:
        shutil.rmtree(root / "testnet", ignore_errors=True)
    return verdict.passed


def demo_command(validators: int, backend: str, node: str = DEFAULT_KIND) -> str:
    extra = f" --node {node}" if node != DEFAULT_KIND else ""
    return f"clp-testnet demo --validators {validators} --backend {backend}{extra}"


async def _checks(cluster: Cluster, nemesis: Nemesis, root: Path) -> list[CheckOutcome]:
    """The §10 checkers on the demo's history too, so its report shows their evidence."""
    from harness.checks import collect_history, run_checks

    history = await collect_history(cluster, nemesis.log.to_json())
    (root / "history.json").write_text(json.dumps(history.to_json(), default=str) + "\n")
    return [CheckOutcome(r.name, r.verdict, list(r.evidence)) for r in run_checks(history)]


def _report(root: Path) -> Path | str:
    from harness.report.build import write_report

    try:
        return write_report(root)
    except Exception as exc:  # the verdict stands; say why there is no page
        return f"not written ({type(exc).__name__}: {exc})"
