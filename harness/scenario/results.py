"""What one scenario run produced (``result.json``), and the tally of repeated runs.

A check with verdict "unknown" (the history did not let the checker decide) is shown but
does not fail a run; a failed check, a failed expectation or a harness error does. A
scenario that needs a capability the node under test lacks (the optional test hooks) is
"not_applicable": reported with the reason, neither passed nor failed.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.node_kinds import DEFAULT_KIND

PASSED, FAILED, ERROR, FLAKY = "passed", "failed", "error", "flaky"
NOT_APPLICABLE = "not_applicable"


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    verdict: str
    evidence: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ExpectationOutcome:
    what: str
    passed: bool
    detail: str


def reproduce_command(
    file: Path | str, seed: int, backend: str, node: str = DEFAULT_KIND, mix: str = ""
) -> str:
    """The exact command that runs this scenario again with the same keys and randomness
    (and node implementation: ``--mix``, else ``--node`` when it is not the default)."""
    words = ["clp-testnet", "run", str(file), "--seed", str(seed), "--backend", backend]
    if mix:
        return shlex.join([*words, "--mix", mix])
    return shlex.join(words + (["--node", node] if node != DEFAULT_KIND else []))


def decide_status(
    checks: Iterable[CheckOutcome],
    expectations: Iterable[ExpectationOutcome],
    error: str | None,
    not_applicable: str | None = None,
) -> str:
    if error is not None:
        return ERROR
    if not_applicable is not None:
        return NOT_APPLICABLE
    if any(c.verdict == "fail" for c in checks) or any(not e.passed for e in expectations):
        return FAILED
    return PASSED


@dataclass
class ScenarioResult:
    scenario: str
    file: str
    seed: int
    backend: str
    status: str = ERROR
    duration_s: float = 0.0
    checks: list[CheckOutcome] = field(default_factory=list)
    expectations: list[ExpectationOutcome] = field(default_factory=list)
    fault_log: list[dict[str, Any]] = field(default_factory=list)
    logs: dict[str, str] = field(default_factory=dict)
    out_dir: str = ""
    error: str | None = None
    not_applicable: str | None = None  # why the node under test cannot run this scenario
    notes: list[str] = field(default_factory=list)  # what may explain it: a step that came late
    node: str = DEFAULT_KIND  # the node implementation (``--node``) the run started
    mix: str = ""  # the run's ``--mix`` (python:3,rust:2), if any
    #: The node kind each validator started as (a mixed testnet's differ).
    implementations: dict[str, str] = field(default_factory=dict)

    @property
    def reproduce(self) -> str:
        return reproduce_command(self.file, self.seed, self.backend, self.node, self.mix)

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    def finish(self) -> None:
        self.status = decide_status(self.checks, self.expectations, self.error, self.not_applicable)

    def failures(self) -> list[str]:
        """One line per reason this run did not pass."""
        out = [f"error: {self.error}"] if self.error else []
        out += [
            f"check {c.name}: {'; '.join(c.evidence)}" for c in self.checks if c.verdict == "fail"
        ]
        out += [f"{e.what}: {e.detail}" for e in self.expectations if not e.passed]
        return out

    def failure_report(self) -> str:
        """What a failing run prints: why, how to reproduce it, where the logs are."""
        lines = [f"scenario {self.scenario} {self.status} (seed {self.seed}, {self.backend})"]
        lines += [f"  - {f}" for f in self.failures()]
        lines += [f"  note: {n}" for n in self.notes]
        lines.append(f"reproduce: {self.reproduce}")
        if self.out_dir:
            lines.append(f"results: {Path(self.out_dir) / 'result.json'}")
            lines.append(f"report: {Path(self.out_dir) / 'report.html'}")
        lines += [f"log {n}: {p}" for n, p in self.logs.items()]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "file": self.file,
            "seed": self.seed,
            "backend": self.backend,
            "status": self.status,
            "duration_s": round(self.duration_s, 3),
            "checks": [asdict(c) for c in self.checks],
            "expectations": [asdict(e) for e in self.expectations],
            "fault_log": self.fault_log,
            "logs": self.logs,
            "out_dir": self.out_dir,
            "error": self.error,
            "not_applicable": self.not_applicable,
            "notes": self.notes,
            "node": self.node,
            "mix": self.mix,
            "implementations": self.implementations,
            "reproduce": self.reproduce,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScenarioResult:
        return cls(
            scenario=data["scenario"],
            file=data["file"],
            seed=int(data["seed"]),
            backend=data["backend"],
            status=data["status"],
            duration_s=float(data["duration_s"]),
            checks=[CheckOutcome(**c) for c in data.get("checks", [])],
            expectations=[ExpectationOutcome(**e) for e in data.get("expectations", [])],
            fault_log=list(data.get("fault_log", [])),
            logs=dict(data.get("logs", {})),
            out_dir=data.get("out_dir", ""),
            error=data.get("error"),
            not_applicable=data.get("not_applicable"),
            notes=list(data.get("notes", [])),
            node=data.get("node", DEFAULT_KIND),
            mix=str(data.get("mix", "")),
            implementations=dict(data.get("implementations", {})),
        )

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")


@dataclass
class Tally:
    """Repeated runs of one scenario: passed (all), failed (none) or flaky (some)."""

    scenario: str
    file: str
    passed: int = 0
    failed: int = 0
    errors: int = 0
    not_applicable: int = 0
    first_failure: ScenarioResult | None = None

    @property
    def runs(self) -> int:
        return self.passed + self.failed + self.errors + self.not_applicable

    @property
    def verdict(self) -> str:
        if self.not_applicable and self.not_applicable == self.runs:
            return NOT_APPLICABLE
        if self.passed == self.runs:
            return PASSED
        return FAILED if self.passed == 0 else FLAKY

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "file": self.file,
            "verdict": self.verdict,
            "runs": self.runs,
            "passed": self.passed,
            "failed": self.failed,
            "errors": self.errors,
            "not_applicable": self.not_applicable,
            "reproduce": self.first_failure.reproduce if self.first_failure else None,
        }


def tally(results: Iterable[ScenarioResult]) -> list[Tally]:
    """One Tally per scenario, in the order scenarios first appear."""
    out: dict[str, Tally] = {}
    for r in results:
        t = out.setdefault(r.scenario, Tally(r.scenario, r.file))
        if r.status == PASSED:
            t.passed += 1
        elif r.status == FAILED:
            t.failed += 1
        elif r.status == NOT_APPLICABLE:
            t.not_applicable += 1
            continue
        else:
            t.errors += 1
        if r.status != PASSED and t.first_failure is None:
            t.first_failure = r
    return list(out.values())


def exit_code(tallies: Iterable[Tally]) -> int:
    """0 when every scenario passed every run (or cannot apply to this node), else 1."""
    return 0 if all(t.verdict in (PASSED, NOT_APPLICABLE) for t in tallies) else 1
