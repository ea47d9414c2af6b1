"""The exploration loop: draw, run, judge, triage (replay), shrink, write the scenario file.

Every run's folder holds ``explore.json`` (seed, index, backend, the drawn document),
``scenario.toml`` (the same document as a scenario file) and the runner's outputs, so one
run can be re-run alone (``explore --replay RUN_DIR``).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.checks import SAFETY_CHECKS
from harness.explore import coverage
from harness.explore.generate import Doc, draw, kinds_for
from harness.explore.shrink import shrink
from harness.explore.steer import STEER_LAG, aim_for, steer
from harness.explore.tomlout import dumps
from harness.node_kinds import DEFAULT_KIND
from harness.scenario.parse import parse_file
from harness.scenario.results import ERROR, ScenarioResult, reproduce_command

REPLAYS = 3  # a liveness failure none of these reproduces is flaky, not a bug
# A safety failure is a bug whether or not a replay shows it again; more replays (and more
# tries per shrink candidate) only make it likelier to be reproduced and shrunk.
SAFETY_REPLAYS = 6
SAFETY_TRIES_PER_CANDIDATE = 2
DESCRIPTION_CHECKS = 3  # a shrunk file's description names at most this many failures
DESCRIPTION_CHARS = 240  # ... with the first evidence of each, cut to this length
Say = Callable[[str], None]


@dataclass
class ExploreOptions:
    seed: int = 1
    runs: int | None = None
    time_budget_s: float | None = None
    backend: str = "local"
    out: Path = Path("runs")
    shrink_budget: int = 12
    max_failures: int | None = None  # stop once this many failures reproduced
    jobs: int = 1  # runs at once: a testnet mostly waits on block intervals
    say: Say = print
    node: str = DEFAULT_KIND  # the implementation the caller resolved, for reproduce commands
    #: Node kinds to draw mixed testnets of (``--draw-mixes``); empty: never drawn.
    mix_kinds: tuple[str, ...] = ()


@dataclass
class Failure:
    index: int
    run_dir: str
    signature: list[str]
    reasons: list[str]
    reproduced: int = 0
    replays: int = 0
    flaky: bool = False
    safety: bool = False  # a safety check failed: never flaky, reproduced or not
    shrunk_file: str | None = None
    shrink_runs: int = 0
    shrunk_steps: int | None = None
    shrunk_validators: int | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Summary:
    seed: int
    backend: str
    out_dir: str
    runs: int = 0
    passed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    duration_s: float = 0.0
    coverage: dict[str, Any] = field(default_factory=dict)
    aims: dict[int, str] = field(default_factory=dict)  # run index -> the property aimed at
    reached_after_s: dict[str, float] = field(default_factory=dict)  # property -> time to it

    @property
    def bugs(self) -> list[Failure]:
        return [f for f in self.failures if not f.flaky]

    def to_json(self) -> dict[str, Any]:
        per10 = self.runs * 600 / self.duration_s if self.duration_s else 0.0
        return {
            "seed": self.seed,
            "backend": self.backend,
            "out_dir": self.out_dir,
            "runs": self.runs,
            "passed": self.passed,
            "failures": [f.to_json() for f in self.failures],
            "flaky": sum(1 for f in self.failures if f.flaky),
            "errors": self.errors,
            "duration_s": round(self.duration_s, 1),
            "runs_per_10_min": round(per10, 1),
            "coverage": self.coverage,
            "aims": {str(i): a for i, a in sorted(self.aims.items())},
            "reached_after_s": self.reached_after_s,
        }


def signature(result: ScenarioResult) -> list[str]:
    """What failed, by name: the failing checks, else the failing expectations' subjects."""
    checks = sorted(c.name for c in result.checks if c.verdict == "fail")
    if checks:
        return checks
    return sorted({e.what.split(":")[0] for e in result.expectations if not e.passed})


async def run_doc(
    doc: Doc, run_dir: Path, seed: int, backend: str, node: str = DEFAULT_KIND
) -> ScenarioResult:
    """One document through the scenario runner and every checker, in ``run_dir``."""
    from harness.scenario.runner import RunOptions, run_scenario

    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "scenario.toml"
    path.write_text(dumps(doc), encoding="utf-8")
    meta = {"seed": seed, "backend": backend, "doc": doc}
    (run_dir / "explore.json").write_text(json.dumps(meta, indent=1) + "\n")
    scenario = parse_file(path)
    opts = RunOptions(seed=seed, backend=backend, run_dir=run_dir, node=node)
    return await run_scenario(scenario, opts)


def load_history(run_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((run_dir / "history.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _clock(seconds: float) -> str:
    s = max(0, int(seconds))
    return f"{s // 60}m{s % 60:02d}s"


class Explorer:
    def __init__(self, opts: ExploreOptions) -> None:
        self.opts = opts
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = opts.out / f"explore-{opts.seed}-{stamp}"
        self.dir, n = base, 1
        while self.dir.exists():
            n += 1
            self.dir = base.with_name(f"{base.name}-{n}")
        self.dir.mkdir(parents=True)
        self.summary = Summary(opts.seed, opts.backend, str(self.dir))
        self.hits: list[set[str]] = []
        self.kinds = [k.name for k in kinds_for(opts.backend)]
        self.first_run: dict[str, int] = {}  # property -> index of the first run to hit it

    def _more(self, started: float) -> bool:
        o, s = self.opts, self.summary
        if o.runs is not None and s.runs >= o.runs:
            return False
        if o.max_failures is not None and len(s.bugs) >= o.max_failures:
            return False
        return not (o.time_budget_s is not None and time.monotonic() - started >= o.time_budget_s)

    def _left(self, started: float) -> str:
        o, s = self.opts, self.summary
        parts = []
        if o.runs is not None:
            parts.append(f"{o.runs - s.runs} runs left")
        if o.time_budget_s is not None:
            parts.append(f"{_clock(o.time_budget_s - (time.monotonic() - started))} left")
        return ", ".join(parts)

    def _batch(self) -> int:
        """How many runs to start together: ``jobs``, but never past ``runs``."""
        o = self.opts
        size = max(1, o.jobs)
        if o.runs is not None:
            size = min(size, o.runs - self.summary.runs)
        return size

    async def explore(self) -> Summary:
        """Runs in batches of ``jobs``, judged in index order: the same seed gives the same
        runs and summary whatever ``jobs`` is; a failure's replays and shrinking run alone,
        so their timing is not shared with other testnets."""
        o = self.opts
        started = time.monotonic()
        index = 0
        while self._more(started):
            size = self._batch()
            docs = [self._draw(i) for i in range(index, index + size)]
            dirs = [self.dir / f"run-{i:03d}" for i in range(index, index + size)]
            results = await asyncio.gather(
                *(run_doc(d, r, o.seed, o.backend, o.node) for d, r in zip(docs, dirs, strict=True))
            )
            for k, result in enumerate(results):
                await self._record(index + k, docs[k], dirs[k], result, started)
            index += size
        self._save(started)
        return self.summary

    def _draw(self, index: int) -> Doc:
        """Run ``index``'s document, aimed at a property not yet reached when its turn comes.

        The aim reads only runs ``STEER_LAG`` (or ``jobs``) before this one: those are
        judged before this run is drawn, so the runs are the same whatever ``jobs`` is (up
        to ``STEER_LAG``)."""
        o = self.opts
        doc = draw(o.seed, index, o.backend, o.mix_kinds or None)
        lag = max(STEER_LAG, o.jobs)
        seen = coverage.tally(self.hits[: max(0, index - lag + 1)])
        never = coverage.summary(seen, index, self.kinds)["never"]
        aim = aim_for(index, seen, never) if index >= lag else None
        if aim is None:
            return doc
        rng = random.Random(f"clp-explore:{o.seed}:{index}:aim")
        aimed = steer(doc, aim, rng, o.backend, seed=o.seed)
        if aimed is not doc:
            self.summary.aims[index] = aim
        return aimed

    async def _record(
        self, index: int, doc: Doc, run_dir: Path, result: ScenarioResult, started: float
    ) -> None:
        o, s = self.opts, self.summary
        s.runs += 1
        hit = coverage.observe(doc, load_history(run_dir))
        self.hits.append(hit)
        for prop in sorted(hit - set(self.first_run)):
            self.first_run[prop] = index
            s.reached_after_s[prop] = round(time.monotonic() - started, 1)
        if result.status == ERROR:
            s.errors.append({"index": index, "run_dir": str(run_dir), "error": result.error})
        elif result.passed:
            s.passed += 1
        else:
            await self._triage(index, doc, run_dir, result)
        counts = coverage.tally(self.hits)
        cov = coverage.summary(counts, s.runs, self.kinds)
        o.say(
            f"[explore] run {index} {result.status} in {result.duration_s:.0f}s | "
            f"runs {s.runs} | failures {len(s.bugs)} flaky "
            f"{len(s.failures) - len(s.bugs)} errors {len(s.errors)} | coverage "
            f"{len(cov['counts']) - len(cov['never'])}/{len(cov['counts'])} | "
            f"{self._left(started)}"
        )
        self._save(started)  # after every run: an interrupted exploration keeps its tally

    def _save(self, started: float) -> None:
        s = self.summary
        s.duration_s = time.monotonic() - started
        s.coverage = coverage.summary(coverage.tally(self.hits), s.runs, self.kinds)
        s.coverage["first_run"] = dict(sorted(self.first_run.items()))
        (self.dir / "summary.json").write_text(json.dumps(s.to_json(), indent=1) + "\n")

    async def _triage(self, index: int, doc: Doc, run_dir: Path, result: ScenarioResult) -> None:
        o = self.opts
        sig = signature(result)
        failure = Failure(index, str(run_dir), sig, result.failures())
        self.summary.failures.append(failure)
        report = run_dir / "failure.txt"
        report.write_text(result.failure_report() + "\n", encoding="utf-8")
        o.say(f"[explore] run {index} FAILED: {'; '.join(failure.reasons)[:300]}")
        o.say(f"[explore] run {index}: run report {report}")
        failure.safety = bool(set(sig) & SAFETY_CHECKS)
        replays = SAFETY_REPLAYS if failure.safety else REPLAYS
        for k in range(replays):
            replay = await run_doc(doc, run_dir / f"replay-{k}", o.seed, o.backend, o.node)
            failure.replays += 1
            if set(signature(replay)) & set(sig) and not replay.passed:
                failure.reproduced += 1
                break
        if not failure.reproduced:
            if failure.safety:
                o.say(
                    f"[explore] run {index}: {', '.join(sorted(set(sig) & SAFETY_CHECKS))} "
                    f"failed and did not reproduce in {replays} replays: still a failure "
                    f"(what the nodes served); the evidence stays in {run_dir}"
                )
                return
            failure.flaky = True
            o.say(f"[explore] run {index}: did not reproduce in {replays} replays: flaky")
            return
        await self._shrink(failure, doc, run_dir, sig, result)

    async def _shrink(
        self, failure: Failure, doc: Doc, run_dir: Path, sig: list[str], result: ScenarioResult
    ) -> None:
        o = self.opts
        tries: list[int] = [0]
        per_candidate = SAFETY_TRIES_PER_CANDIDATE if failure.safety else 1

        async def fails(candidate: Doc) -> bool:
            for _ in range(per_candidate):
                tries[0] += 1
                r = await run_doc(
                    candidate, run_dir / f"shrink-{tries[0]:02d}", o.seed, o.backend, o.node
                )
                steps = len(candidate["steps"])
                o.say(f"[explore] shrink try {tries[0]}: {r.status}, {steps} steps")
                if not r.passed and bool(set(signature(r)) & set(sig)):
                    return True
            return False

        best, calls = await shrink_async(doc, fails, o.shrink_budget)
        failure.shrink_runs = calls
        best = dict(best)
        best["name"] = f"{doc['name']}-min"
        best["description"] = describe(result, o.seed, failure.index, calls)
        path = self.dir / "failures" / f"{best['name']}.toml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dumps(best), encoding="utf-8")
        failure.shrunk_file = str(path)
        failure.shrunk_steps = len(best["steps"])
        failure.shrunk_validators = int(best["cluster"]["validators"])
        o.say(
            f"[explore] run {failure.index} shrunk to {failure.shrunk_steps} steps, "
            f"{failure.shrunk_validators} validators: "
            f"{reproduce_command(path, o.seed, o.backend, o.node)}"
        )


def describe(result: ScenarioResult, seed: int, index: int, calls: int) -> str:
    """A few lines for a shrunk file: what failed and its first evidence, not every line."""
    lines = [f"Found by clp-testnet explore --seed {seed} (run {index}), shrunk in {calls} runs."]
    failed = [c for c in result.checks if c.verdict == "fail"]
    for c in failed[:DESCRIPTION_CHECKS]:
        first = c.evidence[0] if c.evidence else "no evidence"
        lines.append(f"check {c.name} failed: {_cut(first)}")
    bad = [e for e in result.expectations if not e.passed]
    for e in bad[: max(0, DESCRIPTION_CHECKS - len(failed))]:
        lines.append(f"{e.what}: {_cut(e.detail)}")
    if result.error:
        lines.append(f"error: {_cut(result.error)}")
    more = len(failed) + len(bad) - (len(lines) - 1)
    if more > 0:
        lines.append(f"(+{more} more in the run's failure.txt)")
    return "\n".join(lines)


def _cut(text: str) -> str:
    return text if len(text) <= DESCRIPTION_CHARS else text[: DESCRIPTION_CHARS - 1] + "…"


async def shrink_async(doc: Doc, fails: Callable[[Doc], Any], budget: int) -> tuple[Doc, int]:
    """``shrink`` with an async oracle: the pure shrinker asks, this loop runs the runs."""
    loop_results: dict[str, bool] = {}

    def oracle(candidate: Doc) -> bool:
        key = repr(candidate)
        if key not in loop_results:
            fut = asyncio.run_coroutine_threadsafe(fails(candidate), loop)
            loop_results[key] = fut.result()
        return loop_results[key]

    loop = asyncio.get_running_loop()
    return await asyncio.to_thread(shrink, doc, oracle, budget)


async def replay(run_dir: Path, say: Say = print, node: str = DEFAULT_KIND) -> ScenarioResult:
    """Re-run one saved run (its document, seed and backend) into RUN_DIR/replay-N."""
    meta = json.loads((run_dir / "explore.json").read_text())
    n = 0
    while (run_dir / f"replay-{n}").exists():
        n += 1
    target = run_dir / f"replay-{n}"
    say(f"[explore] replaying {run_dir} (seed {meta['seed']}, {meta['backend']}) into {target}")
    return await run_doc(meta["doc"], target, int(meta["seed"]), str(meta["backend"]), node)
