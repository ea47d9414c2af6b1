"""Epoch evaluation: slashes, the systemic breaker and capped ejections (CLP_SPEC §7)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from clp_node.clp.types import (
    BPS_MAX,
    ClpConfig,
    ClpEpochResult,
    ValidatorClpStatus,
    ValidatorEpochOutcome,
    ValidatorStatus,
)


class SlashError(ValueError):
    """A slash that would make stake negative or exceed it; never applied."""


@dataclass(frozen=True)
class GovernorClpImpact:
    """Governance weight earned by liveness: the epoch's rate, zero once ejected."""

    weights_bps: Mapping[str, int]

    @property
    def total_bps(self) -> int:
        return sum(self.weights_bps.values())

    @classmethod
    def from_outcomes(cls, outcomes: tuple[ValidatorEpochOutcome, ...]) -> GovernorClpImpact:
        return cls({o.address: o.governance_weight_bps for o in outcomes})


class PenaltyEvaluator:
    def __init__(self, config: ClpConfig) -> None:
        self.config = config

    def calculate_slash(self, stake: int) -> int:
        if stake < 0:
            raise SlashError(f"stake {stake} is negative")
        amount = min(stake * self.config.slash_fraction_bps // BPS_MAX, stake)
        if not 0 <= amount <= stake:
            raise SlashError(f"slash {amount} outside 0..={stake}")
        return amount

    def ejection_cap(self, committee_size: int) -> int:
        """At most a third of the committee, and never below the committee floor."""
        n = committee_size
        return max(0, min((n - 1) // 3, n - self.config.min_committee_size))

    def is_systemic(self, failing_stake: int, committee_stake: int) -> bool:
        """A third of the stake failing at once is the network's fault, not the validators'.

        An epoch in which nobody failed is never systemic, even with a threshold of 0.
        """
        if failing_stake <= 0:
            return False
        return failing_stake * BPS_MAX >= committee_stake * self.config.systemic_fault_bps

    def evaluate_epoch(
        self,
        epoch: int,
        committee: Mapping[str, int],
        statuses: Mapping[str, ValidatorClpStatus],
        burned_before: int,
    ) -> ClpEpochResult:
        """Decide the epoch from the committee's stakes and its validators' CLP counters."""
        cfg = self.config
        members = sorted(committee)
        evaluated = [a for a in members if _status(statuses, a).challenges > 0]
        min_rate = cfg.min_response_rate_bps
        failing = [a for a in evaluated if _status(statuses, a).rate_bps < min_rate]
        committee_stake = sum(committee[a] for a in members)
        failing_stake = sum(committee[a] for a in failing)
        systemic = self.is_systemic(failing_stake, committee_stake)

        slashed: dict[str, int] = {}
        ejected: list[str] = []
        deferred: list[str] = []

        def stake_after(a: str) -> int:
            return committee[a] - slashed.get(a, 0)

        if not systemic:
            for a in failing:
                slashed[a] = self.calculate_slash(committee[a])
            candidates = [
                a
                for a in evaluated
                if _status(statuses, a).consecutive_failures >= cfg.max_consecutive_failures
                or stake_after(a) < cfg.min_stake
            ]
            candidates.sort(
                key=lambda a: (
                    -_status(statuses, a).consecutive_failures,
                    stake_after(a),
                    a,
                )
            )
            cap = self.ejection_cap(len(members))
            ejected = sorted(candidates[:cap])
            deferred = candidates[cap:]

        failing_set = set(failing)
        outcomes = []
        for a in members:
            st = _status(statuses, a)
            if a in ejected:
                status = ValidatorStatus.EJECTED
            elif a in deferred:
                status = ValidatorStatus.EJECTION_DEFERRED
            elif a in failing_set and not systemic:
                status = ValidatorStatus.SLASHED
            else:
                status = ValidatorStatus.ACTIVE
            rate = st.rate_bps
            outcomes.append(
                ValidatorEpochOutcome(
                    address=a,
                    challenges=st.challenges,
                    responses=st.responses,
                    rate_bps=rate,
                    slashed=slashed.get(a, 0),
                    status=status,
                    consecutive_failures=st.consecutive_failures,
                    stake_after=stake_after(a),
                    governance_weight_bps=0 if status is ValidatorStatus.EJECTED else rate,
                )
            )
        slashed_total = sum(slashed.values())
        impact = GovernorClpImpact.from_outcomes(tuple(outcomes))
        return ClpEpochResult(
            epoch=epoch,
            systemic=systemic,
            validators=tuple(outcomes),
            slashed_total=slashed_total,
            ejected=tuple(ejected),
            next_committee=tuple(a for a in members if a not in ejected),
            burned_total=burned_before + slashed_total,
            governance_weight_total_bps=impact.total_bps,
        )


def _status(statuses: Mapping[str, ValidatorClpStatus], address: str) -> ValidatorClpStatus:
    return statuses.get(address) or ValidatorClpStatus(address)
