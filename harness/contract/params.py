"""CLP parameters (protocol §2) and the height arithmetic of §3-§4, written from the spec.

The harness's own reading of the rules: scenario parameters are validated here, and the
checkers derive challenge heights and epochs from here, never from the node's code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

BPS_MAX = 10_000
BPS_FIELDS = ("min_response_rate_bps", "slash_fraction_bps", "systemic_fault_bps")


class ClpParamsError(ValueError):
    """A CLP parameter breaks a rule of §2; the message starts with the field's name."""


@dataclass(frozen=True)
class ClpParams:
    """The genesis' CLP parameters; a missing one takes the spec's production default.

    Construction validates (§2: a clear error, never a silent fix).
    """

    epoch_length: int = 360
    challenge_interval: int = 10
    response_window: int = 5
    min_response_rate_bps: int = 5000
    slash_fraction_bps: int = 100
    max_consecutive_failures: int = 36
    min_stake: int = 1_000
    min_committee_size: int = 4
    systemic_fault_bps: int = 3334

    def __post_init__(self) -> None:
        problem = params_problem(self)
        if problem is not None:
            raise ClpParamsError(problem)

    @classmethod
    def production(cls) -> ClpParams:
        return cls()

    @classmethod
    def test_profile(cls) -> ClpParams:
        """§2's test profile: E=20, K=2, W=4, 10% slash, ejection after 12 misses."""
        return cls(
            epoch_length=20,
            challenge_interval=2,
            response_window=4,
            slash_fraction_bps=1000,
            max_consecutive_failures=12,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClpParams:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ClpParamsError(f"unknown CLP parameter(s): {', '.join(unknown)}")
        return cls(**data)

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    def epoch_of(self, height: int) -> int:
        """epoch(h) = (h - 1) // E for h >= 1."""
        if height < 1:
            raise ValueError(f"height {height} has no epoch")
        return (height - 1) // self.epoch_length

    def epoch_first_height(self, epoch: int) -> int:
        return epoch * self.epoch_length + 1

    def epoch_last_height(self, epoch: int) -> int:
        return (epoch + 1) * self.epoch_length

    def closes_epoch(self, height: int) -> int | None:
        """§3: committing a height with h % E == 0 closes epoch h / E - 1."""
        if height >= 1 and height % self.epoch_length == 0:
            return height // self.epoch_length - 1
        return None

    def should_generate(self, h: int) -> bool:
        """§4: a challenge at h iff h % K == 0 and its whole window lies in h's epoch."""
        return (
            h >= 1
            and h % self.challenge_interval == 0
            and self.epoch_of(h) == self.epoch_of(h + self.response_window)
        )

    def challenge_heights(self, epoch: int) -> list[int]:
        lo, hi = self.epoch_first_height(epoch), self.epoch_last_height(epoch)
        return [h for h in range(lo, hi + 1) if self.should_generate(h)]

    def ejection_cap(self, n: int) -> int:
        """§7: at most min((n - 1) // 3, n - min_committee_size) ejections, never negative."""
        return max(0, min((n - 1) // 3, n - self.min_committee_size))


def params_problem(p: ClpParams) -> str | None:
    """The first §2 rule ``p`` breaks, as a message that starts with the field; or None."""
    for f in fields(p):
        value = getattr(p, f.name)
        if not isinstance(value, int) or isinstance(value, bool):
            return f"{f.name} must be an integer, got {value!r}"
    k, w, e = p.challenge_interval, p.response_window, p.epoch_length
    if k < 1:
        return f"challenge_interval must be >= 1, got {k}"
    if w < 2:
        return f"response_window must be >= 2, got {w}"
    if e < k + w:
        return f"epoch_length must be >= challenge_interval + response_window ({k + w}), got {e}"
    for name in BPS_FIELDS:
        value = getattr(p, name)
        if not 0 <= value <= BPS_MAX:
            return f"{name} must be in 0..={BPS_MAX}, got {value}"
    if p.min_committee_size < 3:
        return f"min_committee_size must be >= 3, got {p.min_committee_size}"
    if p.max_consecutive_failures < 1:
        return f"max_consecutive_failures must be >= 1, got {p.max_consecutive_failures}"
    if p.min_stake < 0:
        return f"min_stake must be >= 0, got {p.min_stake}"
    return None
