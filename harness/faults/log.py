"""The fault log: one record per fault action, in the format of FAULTLOG.md (format 2).

Each record says what was asked (kind and args), the highest chain height once it had
taken effect, the wall-time window of the effect and the full fault state after it. A
record of another format (an older clp-testnet) is refused with one clear error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.faults.state import FaultState

FORMAT = 2


class OldLog(ValueError):
    """A fault log written by an older version (no ``"format": 2``): not readable."""


@dataclass(frozen=True)
class FaultRecord:
    seq: int
    kind: str
    args: Mapping[str, Any]
    height: int | None
    t_start: float
    t_end: float
    state: FaultState

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "seq": self.seq,
            "kind": self.kind,
            "args": dict(self.args),
            "height": self.height,
            "t_start": self.t_start,
            "t_end": self.t_end,
            "state": self.state.to_json(),
        }

    @classmethod
    def from_json(cls, raw: Any, where: str = "fault record") -> FaultRecord:
        """OldLog for a record of an older format; ValueError for a malformed one."""
        if not isinstance(raw, dict):
            raise ValueError(f"{where}: an object is required")
        if raw.get("format") != FORMAT:
            raise OldLog(
                f"{where}: not a format-{FORMAT} fault record (written by an older clp-testnet, "
                "whose log records actions instead of the fault state); re-run to get a new log"
            )
        try:
            return cls(
                int(raw["seq"]),
                str(raw["kind"]),
                dict(raw.get("args") or {}),
                raw["height"] if isinstance(raw.get("height"), int) else None,
                float(raw["t_start"]),
                float(raw["t_end"]),
                FaultState.from_json(raw["state"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{where}: malformed ({type(exc).__name__}: {exc})") from exc


@dataclass
class FaultLog:
    records: list[FaultRecord] = field(default_factory=list)
    path: Path | None = None
    """Also append each record here as a JSON line, so faults injected by separate
    ``clp-testnet fault`` invocations leave one trail next to the testnet."""

    @classmethod
    def load(cls, path: Path) -> FaultLog:
        """The log at ``path`` (empty when absent), appended to from now on."""
        records = []
        if path.exists():
            for i, line in enumerate(path.read_text().splitlines()):
                if line.strip():
                    records.append(FaultRecord.from_json(json.loads(line), f"{path}:{i + 1}"))
        return cls(records, path)

    @property
    def state(self) -> FaultState:
        return self.records[-1].state if self.records else FaultState()

    def add(self, record: FaultRecord) -> None:
        self.records.append(record)
        if self.path is not None:
            with self.path.open("a") as f:
                f.write(json.dumps(record.to_json()) + "\n")

    def to_json(self) -> list[dict[str, Any]]:
        return [r.to_json() for r in self.records]
