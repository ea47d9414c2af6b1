"""The fault timeline laid over the chain: which validator surely or possibly missed what."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from harness.checks.analysis import Analysis
from harness.checks.timeline import Segment, max_offset_s, segments

BASE_SKEW_S = 0.2  # block times are the proposer's clock; the harness's is another process'
RECONNECT_S = 5.0  # peers redial after a heal or restart
RECOVERY_S = 3.0  # ... and a validator is back in sync after a fault ends
Kind = Literal["hard", "soft"]


@dataclass(frozen=True)
class Timing:
    """Protocol durations from the genesis' consensus parameters (CLP_SPEC §8)."""

    round_s: float
    block_s: float
    window_blocks: int

    @property
    def stall_budget_s(self) -> float:
        """Longest a connected committee may go without a block: a few failed rounds."""
        return 5 * self.round_s + 2.0

    @property
    def recovery_s(self) -> float:
        """How long after a fault a validator may still be redialling, resyncing and
        missing windows: a redial at a typical backoff cap plus one window of blocks."""
        return RECOVERY_S + self.window_blocks * self.block_s


class FaultView:
    def __init__(self, analysis: Analysis) -> None:
        self.a = analysis
        h = analysis.history
        c = h.consensus
        round_ms = (
            c.get("block_interval_ms", 1000)
            + c.get("timeout_propose_ms", 3000)
            + c.get("timeout_prevote_ms", 1000)
            + c.get("timeout_precommit_ms", 1000)
        )
        block_s = c.get("block_interval_ms", 1000) / 1000
        self.timing = Timing(round_ms / 1000, block_s, analysis.params.response_window)
        self.skew = BASE_SKEW_S + max_offset_s(h.faults)
        self.name_of = dict(h.names)
        self.node_names = sorted(set(h.names.values()) | set(h.chains))

    @cached_property
    def segments(self) -> list[Segment]:
        first = self.a.time_of(1)
        return segments(self.a.history.faults, self.node_names, first if first else 0.0)

    def stakes_by_name(self, committee: Mapping[str, int]) -> dict[str, int]:
        return {self.name_of.get(a, a): s for a, s in committee.items()}

    def certainly_excluded(
        self, name: str, lo: float, hi: float, first_height: int, committee: Mapping[str, int]
    ) -> str | None:
        """A reason if a run of fault states excluding ``name`` surely covered [lo, hi].

        ``lo`` is when the challenge block was proposed (``first_height``), ``hi`` when the
        last block of its window was: a response needs the first, and must be in a
        proposer's hands by the second.
        """
        stake = self.stakes_by_name(committee)
        segs = self.segments
        for k, seg in enumerate(segs):
            why = seg.state.excluded(name, stake)
            if why is None:
                continue
            began = seg.start_hi < lo - self.skew or (
                seg.start_height is not None and first_height >= seg.start_height + 2
            )
            if not began:
                continue
            j, covered = k, True
            while covered and segs[j].end_lo <= hi + self.skew:
                j += 1
                covered = j < len(segs) and segs[j].state.excluded(name, stake) is not None
            if covered:
                return f"{why} ({seg.opened_by})"
        return None

    def impairment(
        self, name: str, lo: float, hi: float, committee: Mapping[str, int]
    ) -> tuple[Kind, str] | None:
        """The strongest fault touching ``name`` that may have overlapped [lo, hi] (or the
        resync after it): "hard" when it cut ``name`` off, "soft" when it only may have
        slowed it (toxics, clock offsets, some links down)."""
        stake = self.stakes_by_name(committee)
        found: tuple[Kind, str] | None = None
        for seg in self.segments:
            why = seg.state.touched(name, stake)
            if why is None:
                continue
            if seg.start_lo <= hi + self.skew and seg.end_hi + self.timing.recovery_s >= (
                lo - self.skew
            ):
                cut = seg.state.excluded(name, stake)
                if cut is not None:
                    return "hard", f"{cut} ({seg.opened_by})"
                found = found or ("soft", f"{why} ({seg.opened_by})")
        return found
