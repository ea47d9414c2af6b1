"""Run one scenario: testnet from its seed, steps in protocol time, a quiet period, checks.

Everything a run produced goes into its output folder: ``result.json`` (the verdict),
``history.json`` (what the checkers judged), ``logs/`` (every node and the fault proxy)
and a copy of the scenario file. Failures of the system under test (a trigger never
reached, a check or expectation failed) make the run *failed*; a problem of the harness
itself makes it *error*. Teardown happens on every exit, Ctrl-C included.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import time
import traceback
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from harness.checks.votes import VoteCollector
from harness.cluster.backends import init_for_backend, make_cluster
from harness.cluster.base import Cluster, WaitTimeout
from harness.faults.kinds import KINDS
from harness.faults.nemesis import Nemesis
from harness.monitor import Monitor
from harness.node_kinds import DEFAULT_KIND
from harness.scenario.actions import ActionExecutor, top_height
from harness.scenario.expect import evaluate
from harness.scenario.model import Scenario, Step
from harness.scenario.progress import NullReporter, Reporter
from harness.scenario.results import CheckOutcome, ExpectationOutcome, ScenarioResult
from harness.scenario.stalls import LoopStalls
from harness.scenario.triggers import trigger_height

T = TypeVar("T")
DEFAULT_SEED = 1
VOTES_POLL_MIN_S = 2.0
#: run.until_epoch polls every node once in this many polls, the leading node alone between.
FULL_POLL_EVERY = 5
# Every node's height is sampled this often while the run waits, for the progress line and
# the report's lanes; with paced waits (Cluster.pace) these are most of a run's requests.
WATCH_EVERY_S = 1.0
#: A testnet of more links starts with them up: connecting thousands of held links at once
#: (one proxy reset, about 4 ms per listener on a busy machine) would take longer than the
#: start it waits out (the official server gives up on a request after 25 s).
HOLD_LINKS_MAX = 2000


def needs_test_hooks(scenario: Scenario) -> bool:
    """Whether a step drives the node's optional test hooks (POST /admin/faults)."""
    return any(s.action.is_fault and KINDS[s.action.kind].group == "hooks" for s in scenario.steps)


def uses_double_sign(scenario: Scenario) -> bool:
    """Whether a step injects ``double_sign``, a hook a node may leave out (§14)."""
    return any(s.action.is_fault and s.action.kind == "double_sign" for s in scenario.steps)


@dataclass
class RunOptions:
    seed: int = DEFAULT_SEED
    backend: str = "local"
    out: Path = Path("runs")  # a run gets out/<scenario>-<timestamp>/
    run_dir: Path | None = None  # ...unless given exactly
    reporter: Reporter = field(default_factory=NullReporter)
    keep_testnet: bool = False  # keep keys and chain data of a passed run too
    monitor: bool = False  # a real Prometheus scrapes every node; its series go in the report
    # The node implementation the caller resolved (harness.cluster.node_choice.node_environment):
    # recorded in the result and its reproduce command, never resolved here.
    node: str = DEFAULT_KIND
    mix: str = ""  # the run's --mix (python:3,rust:2), likewise only recorded


async def start_monitor(cluster: Cluster, folder: Path, wait_targets: bool = True) -> Monitor:
    """Prometheus over every node (it takes ~5 s to take up its targets: call this before
    ``cluster.start()`` when the API addresses are known then, so no block is missed)."""
    targets = {n: cluster.api_url(n) for n in cluster.names}
    return await asyncio.to_thread(Monitor(folder, targets).start, wait_targets)


async def started_with_monitor(
    cluster: Cluster, folder: Path | None, hold_links: bool = False
) -> Monitor | None:
    """Start ``cluster`` (``hold_links``: see ``Cluster.start``), and Prometheus over it
    when ``folder`` is given (see above)."""
    monitor = None
    if folder is not None and cluster.api_urls_known_before_start:
        monitor = await start_monitor(cluster, folder)
    try:
        await cluster.start(hold_links)
        if folder is not None and monitor is None:  # (Docker: ports published at start)
            # the run goes on at once; Prometheus' first ~5 s of samples are missing
            monitor = await start_monitor(cluster, folder, wait_targets=False)
    except BaseException:
        if monitor is not None:
            monitor.stop()
        raise
    return monitor


def make_run_dir(out: Path, name: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = out / f"{name}-{stamp}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    path.mkdir(parents=True)
    return path


async def run_scenario(scenario: Scenario, options: RunOptions | None = None) -> ScenarioResult:
    opts = options or RunOptions()
    run_dir = opts.run_dir or make_run_dir(opts.out, scenario.name)
    run_dir.mkdir(parents=True, exist_ok=True)
    return await _Run(scenario, opts, run_dir).execute()


class _Run:
    def __init__(self, scenario: Scenario, opts: RunOptions, run_dir: Path) -> None:
        self.sc = scenario
        self.opts = opts
        self.dir = run_dir
        self.reporter = opts.reporter
        self.cfg = scenario.cluster.clp_config()
        self.failures: list[ExpectationOutcome] = []
        self.cluster: Cluster | None = None
        self.trace: list[dict[str, object]] = []  # sampled heights, for the report's lanes
        #: When (monotonic) the watch asked every node for the heights of ``trace[-1]``.
        self._asked_at: float | None = None
        self.notes: list[str] = []  # what may explain the result (a step that came late)
        self.stalls = LoopStalls()  # the harness's own hold-ups, named in those notes

    async def execute(self) -> ScenarioResult:
        sc, opts = self.sc, self.opts
        result = ScenarioResult(
            sc.name,
            str(sc.file),
            opts.seed,
            opts.backend,
            out_dir=str(self.dir),
            node=opts.node,
            mix=opts.mix,
        )
        started = time.monotonic()
        with contextlib.suppress(OSError):
            shutil.copyfile(sc.file, self.dir / "scenario.toml")
        self.stalls.start()
        try:
            await self._execute(result)
        except Exception as exc:
            result.error = f"{type(exc).__name__}: {exc}"
            (self.dir / "error.txt").write_text(traceback.format_exc())
        except BaseException:
            result.error = "interrupted"
            raise
        finally:
            await self.stalls.stop()
            self.reporter.done()
            result.duration_s = time.monotonic() - started
            result.finish()
            result.save(self.dir / "result.json")
            (self.dir / "heights.json").write_text(json.dumps(self.trace) + "\n")
            self._report(result)
        if result.passed and not opts.keep_testnet:
            shutil.rmtree(self.dir / "testnet", ignore_errors=True)
        return result

    async def _execute(self, result: ScenarioResult) -> None:
        sc, opts = self.sc, self.opts
        spec = sc.cluster
        manifest = init_for_backend(
            opts.backend,
            self.dir / "testnet",
            validators=spec.validators,
            clp=self.cfg,
            consensus=spec.consensus_params(),
            stakes=list(spec.stakes) if spec.stakes else None,
            seed=str(opts.seed),
            nodes=spec.nodes,
        )
        cluster = make_cluster(opts.backend, manifest, self.dir / "logs")
        self.cluster = cluster
        result.implementations = cluster.implementations()
        result.logs = {n: cluster.log_path(n) for n in cluster.names}
        nemesis: Nemesis | None = None
        monitor = None
        try:
            self.reporter.event(
                f"{sc.name}: starting {spec.validators} validators "
                f"({opts.backend}, seed {opts.seed})"
            )
            # The links stay down until the steps are about to wait for their heights: a
            # step due at height 1 then fires at height 1 however long the start took.
            held = len(manifest.links) <= HOLD_LINKS_MAX
            monitor = await started_with_monitor(
                cluster, self.dir / "prometheus" if opts.monitor else None, hold_links=held
            )
            if monitor is not None:
                self.reporter.event(f"Prometheus scraping every node: {monitor.url}")
            if needs_test_hooks(sc) and not await cluster.client(cluster.names[0]).has_test_hooks():
                result.not_applicable = "the node has no test hooks (GET /admin/faults is 404)"
                self.reporter.event(f"{sc.name}: not applicable: {result.not_applicable}")
                return
            if uses_double_sign(sc) and "double_sign" not in (
                await cluster.client(cluster.names[0]).get_faults()
            ):
                result.not_applicable = (
                    "the node has no double_sign hook (GET /admin/faults does not list it)"
                )
                self.reporter.event(f"{sc.name}: not applicable: {result.not_applicable}")
                return
            nemesis = Nemesis(cluster, cluster.fault_api())
            ex = ActionExecutor(cluster, nemesis, opts.seed)
            votes = VoteCollector(list(cluster.names))
            poller = asyncio.create_task(self._poll_votes(cluster, votes), name="votes")
            try:
                if held:
                    await cluster.connect_links()
                await self._steps(ex)
                await self._until(ex)
                await self._quiet(nemesis)
            finally:
                poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poller
            await ex.check_forgeries()
            checks = await self._checks(cluster, nemesis, votes)
            expectations = await evaluate(cluster, sc.expects)
            result.checks = checks
            result.expectations = self.failures + ex.outcomes + expectations
        finally:
            result.notes = list(self.notes)
            if nemesis is not None:
                result.fault_log = nemesis.log.to_json()
            if monitor is not None:
                await asyncio.to_thread(monitor.save, self.dir / "monitor.json")
                monitor.stop()
            self.reporter.event(f"{sc.name}: stopping the testnet")
            await cluster.shutdown()
            result.logs = {n: cluster.log_path(n) for n in cluster.names}

    def _report(self, result: ScenarioResult) -> None:
        """report.html and timeline.svg; a report that cannot be made never hides the run."""
        from harness.report.build import write_report

        try:
            write_report(self.dir)
        except Exception as exc:  # the verdict is saved already; say why the page is missing
            (self.dir / "report-error.txt").write_text(f"{type(exc).__name__}: {exc}\n")

    # ---- phases --------------------------------------------------------------------------

    async def watch(self, aw: Awaitable[T], what: str) -> T:
        """Await ``aw`` while showing every node's height."""
        assert self.cluster is not None
        task = asyncio.ensure_future(aw)
        try:
            while not task.done():
                asked = time.monotonic()
                heights = await self.cluster.heights()
                self._asked_at = asked
                self.trace.append({"t": round(time.time(), 3), "heights": heights})
                self.reporter.waiting(what, heights)
                await asyncio.wait({task}, timeout=WATCH_EVERY_S)
            return task.result()
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def chain_reaches(self, height: int) -> int:
        """The chain (its highest node) is at ``height``: a step's trigger. It fires on
        the first node there (``Cluster.first_at``): a trigger that waits for every node's
        answer fires blocks late on a loaded machine."""
        assert self.cluster is not None
        c = self.cluster
        now = top_height(self.trace[-1]["heights"]) if self.trace else 0  # type: ignore[arg-type]
        budget = c.clock.blocks(max(height - now, 1))
        if self._asked_at is not None:
            # Polled only for the last blocks before the chain can be there, judged from the
            # watch's last poll of every node (no new poll: it would wait for a slow node).
            since = time.monotonic() - self._asked_at
            budget -= await c.pace(height, now, budget, since=since)
        return await c.wait_for(
            lambda: c.first_at(height), budget, f"the chain to reach height {height}"
        )

    def _note_late(
        self,
        step: Step,
        target: int,
        fired: int,
        ex: ActionExecutor,
        since: float,
        before: tuple[str, float] | None = None,
    ) -> None:
        """A step that took effect more than a response window after its height did not
        test what the scenario says; the result says so, next to whatever failed.
        ``before``: the step run before this one and its seconds; one that ran past this
        step's height (a failing expect_progress waits out its budget) is named as the
        cause, not the harness."""
        records = ex.nemesis.log.records
        took = None
        if step.action.is_fault and records and KINDS[step.action.kind].takes_effect_at_once:
            took = records[-1].height  # the height once injected: a link change is instant
        at = max(fired, took or 0)
        late = at - target
        if late <= self.cfg.response_window:
            return
        window_s = self.cfg.response_window * self.cluster.clock.block_s if self.cluster else 0.0
        if before is not None and before[1] > window_s:
            cause = f"{before[0]} before it took {before[1]:.1f} s (steps run one by one)"
        else:
            load = os.getloadavg()[0]
            stall = self.stalls.longest_since(since)
            held = f"; its event loop was held up for {stall:.1f} s at once" if stall else ""
            cause = (
                f"the harness fell behind the chain (load average {load:.0f} on "
                f"{os.cpu_count()} cores{held})"
            )
        self.notes.append(
            f"{step.label} ({step.action.kind}) was due at height {target} and took effect "
            f"at height {at}, {late} blocks late (more than the {self.cfg.response_window}-"
            f"block response window): {cause}"
        )
        self.reporter.event(f"note: {self.notes[-1]}")

    async def _steps(self, ex: ActionExecutor) -> None:
        last = time.monotonic()
        before: tuple[str, float] | None = None  # the last step run and its seconds
        for step in self.sc.steps:
            t = step.trigger
            target = trigger_height(t, self.cfg)
            if target is None:
                delay = max(0.0, last + float(t.value) - time.monotonic())
                await self.watch(asyncio.sleep(delay), f"{step.label}: {t.describe()}")
                at = "after"
            else:
                what = f"{step.label}: waiting for height {target} ({t.describe()})"
                try:
                    fired = await self.watch(self.chain_reaches(target), what)
                    at = str(fired)
                except WaitTimeout as exc:
                    self.failures.append(
                        ExpectationOutcome(
                            f"{step.label} trigger {t.describe()} reached", False, str(exc)
                        )
                    )
                    self.reporter.event(f"{step.label}: never triggered; skipping the rest")
                    return
            self.reporter.event(f"{step.label} at {at}: {step.action.describe()}")
            ran = time.monotonic()
            await ex.run(step)
            if target is not None:
                self._note_late(step, target, fired, ex, since=last, before=before)
            last = time.monotonic()
            before = (f"{step.label} ({step.action.kind})", last - ran)

    async def _until(self, ex: ActionExecutor) -> None:
        """The chain, and every node with no fault on it, has evaluated run.until_epoch."""
        assert self.cluster is not None
        c, epoch = self.cluster, self.sc.until_epoch
        close = self.cfg.epoch_last_height(epoch)
        leader: str | None = None  # the highest node of the last poll of every node
        polls = itertools.count()

        async def evaluated() -> bool:
            # After the pace (closed, below), between polls of every node (each
            # FULL_POLL_EVERY-th, so a leader cut off meanwhile delays nothing by more than
            # that), ask the last full poll's highest node alone whether it is at the
            # epoch's end yet: a third of the requests, each of them on a node's event loop.
            nonlocal leader
            if leader is not None and next(polls) % FULL_POLL_EVERY:
                h = await c.height_of(leader)
                if h is not None and h < close:
                    return False
            hs = await c.heights()
            known = {n: h for n, h in hs.items() if h is not None}
            if not known:
                return False
            leader = max(known, key=lambda n: known[n])
            if known[leader] < close:
                return False
            for n in sorted({leader, *ex.unfaulted()}):
                if await c.client(n).epoch_result(epoch) is None:
                    return False
            return True

        now = top_height(await c.heights())
        budget = c.clock.blocks(max(close - now, 1))
        what = f"run.until_epoch: epoch {epoch} evaluated (height {close})"

        async def closed() -> bool:
            left = budget - await c.pace(close, now, budget)
            return await c.wait_for(evaluated, left, what)

        try:
            await self.watch(closed(), what)
            self.reporter.event(f"epoch {epoch} evaluated")
        except WaitTimeout as exc:
            self.failures.append(ExpectationOutcome(what, False, str(exc)))

    async def _quiet(self, nemesis: Nemesis) -> None:
        """Clear every fault, then every node converges and the chain goes on N blocks."""
        assert self.cluster is not None
        c = self.cluster
        self.reporter.event("quiet period: every fault cleared, killed nodes restarted")
        await nemesis.reset()
        target = top_height(await c.heights()) + self.sc.quiet.blocks
        what = (
            f"quiet: every node at height {target} ({self.sc.quiet.blocks} blocks after the faults)"
        )
        try:
            await self.watch(c.wait_for_height(target), what)
        except WaitTimeout as exc:
            self.failures.append(ExpectationOutcome(what, False, str(exc)))

    async def _poll_votes(self, cluster: Cluster, votes: VoteCollector) -> None:
        """Read every node's votes every half epoch: a node keeps two epochs of them (§11),
        so nothing ages out before the history is collected."""
        block_s = self.sc.cluster.consensus_params().block_interval_ms / 1000
        period = max(VOTES_POLL_MIN_S, self.cfg.epoch_length * block_s / 2)
        while True:
            await asyncio.sleep(period)
            await votes.poll(cluster)

    async def _checks(
        self, cluster: Cluster, nemesis: Nemesis, votes: VoteCollector | None = None
    ) -> list[CheckOutcome]:
        from harness.checks import collect_history, run_checks

        self.reporter.event("collecting the history and running the checkers")
        history = await self.watch(
            collect_history(cluster, nemesis.log.to_json(), votes), "collecting the history"
        )
        data = history.to_json()
        (self.dir / "history.json").write_text(json.dumps(data, indent=1, default=str) + "\n")
        return [CheckOutcome(r.name, r.verdict, list(r.evidence)) for r in run_checks(history)]
