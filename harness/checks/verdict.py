"""A checker's verdict: pass, fail, or unknown when the history cannot decide, with evidence."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Verdict = Literal["pass", "fail", "unknown"]
VERDICTS: tuple[Verdict, ...] = ("pass", "fail", "unknown")


@dataclass(frozen=True)
class CheckResult:
    name: str
    verdict: Verdict
    evidence: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")

    @property
    def failed(self) -> bool:
        return self.verdict == "fail"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "verdict": self.verdict, "evidence": list(self.evidence)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CheckResult:
        return cls(str(data["name"]), data["verdict"], [str(e) for e in data.get("evidence", [])])


def combine(name: str, fails: list[str], unknowns: list[str], passes: list[str]) -> CheckResult:
    """Fail if anything failed, else unknown if anything was undecided, else pass.

    The evidence leads with what decided the verdict, then the rest for context.
    """
    if fails:
        return CheckResult(name, "fail", fails + unknowns + passes)
    if unknowns:
        return CheckResult(name, "unknown", unknowns + passes)
    return CheckResult(name, "pass", passes)
