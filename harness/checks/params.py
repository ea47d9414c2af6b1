"""CLP parameters (CLP_SPEC §2) and the height arithmetic of §3-§4, written from the spec."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

BPS_MAX = 10_000


@dataclass(frozen=True)
class ClpParams:
    """The genesis' CLP parameters; a missing one takes the spec's production default."""

    epoch_length: int = 360
    challenge_interval: int = 10
    response_window: int = 5
    min_response_rate_bps: int = 5000
    slash_fraction_bps: int = 100
    max_consecutive_failures: int = 36
    min_stake: int = 1_000
    min_committee_size: int = 4
    systemic_fault_bps: int = 3334

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClpParams:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown CLP parameter(s): {', '.join(unknown)}")
        for k, v in data.items():
            if not isinstance(v, int) or isinstance(v, bool):
                raise ValueError(f"CLP parameter {k} must be an integer, got {v!r}")
        p = cls(**data)
        if p.epoch_length < p.challenge_interval + p.response_window or p.challenge_interval < 1:
            raise ValueError(f"CLP parameters break E >= K + W, K >= 1: {p}")
        return p

    def epoch(self, height: int) -> int:
        """epoch(h) = (h - 1) // E for h >= 1."""
        if height < 1:
            raise ValueError(f"height {height} has no epoch")
        return (height - 1) // self.epoch_length

    def first_height(self, epoch: int) -> int:
        return epoch * self.epoch_length + 1

    def last_height(self, epoch: int) -> int:
        return (epoch + 1) * self.epoch_length

    def should_generate(self, h: int) -> bool:
        """§4: a challenge at h iff h % K == 0 and its whole window lies in h's epoch."""
        return (
            h >= 1
            and h % self.challenge_interval == 0
            and self.epoch(h) == self.epoch(h + self.response_window)
        )

    def challenge_heights(self, epoch: int) -> list[int]:
        lo, hi = self.first_height(epoch), self.last_height(epoch)
        return [h for h in range(lo, hi + 1) if self.should_generate(h)]

    def ejection_cap(self, n: int) -> int:
        """§7: at most min((n - 1) // 3, n - min_committee_size) ejections, never negative."""
        return max(0, min((n - 1) // 3, n - self.min_committee_size))
