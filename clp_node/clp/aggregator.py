"""Counting who answered each challenge once its window closes (CLP_SPEC §6)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from clp_node.clp.types import ClpChallenge, ValidatorClpStatus


class ResponseAggregator:
    """Open challenges, who answered them, and each validator's counters.

    Epoch counters restart with every epoch; ``consecutive_failures`` runs across epochs
    because ejection is about a streak, not about one epoch.
    """

    def __init__(self) -> None:
        self._challenges: dict[int, ClpChallenge] = {}
        self._responded: dict[int, set[str]] = {}
        self._statuses: dict[str, ValidatorClpStatus] = {}

    def start_epoch(self, committee: Iterable[str]) -> None:
        for address in committee:
            old = self._statuses.get(address, ValidatorClpStatus(address))
            self._statuses[address] = ValidatorClpStatus(
                address, consecutive_failures=old.consecutive_failures
            )

    def register_challenge(self, challenge: ClpChallenge) -> None:
        if challenge.height in self._challenges:
            raise ValueError(f"challenge at height {challenge.height} is already registered")
        self._challenges[challenge.height] = challenge
        self._responded[challenge.height] = set()
        for address in challenge.expected:
            self._statuses.setdefault(address, ValidatorClpStatus(address))

    def challenge(self, height: int) -> ClpChallenge | None:
        return self._challenges.get(height)

    def open_challenges(self) -> list[ClpChallenge]:
        return [self._challenges[h] for h in sorted(self._challenges)]

    def has_response(self, height: int, validator: str) -> bool:
        return validator in self._responded.get(height, ())

    def record_response(self, height: int, validator: str) -> bool:
        """Count an included response; False when it cannot count (unknown, unexpected, again)."""
        challenge = self._challenges.get(height)
        if challenge is None or validator not in challenge.expected:
            return False
        responded = self._responded[height]
        if validator in responded:
            return False
        responded.add(validator)
        return True

    def finalize_challenge(self, height: int) -> dict[str, bool]:
        """Close the challenge at ``height``: who answered, in address order."""
        challenge = self._challenges.pop(height, None)
        if challenge is None:
            return {}
        responded = self._responded.pop(height)
        outcome: dict[str, bool] = {}
        for address in sorted(challenge.expected):
            st = self._statuses.get(address, ValidatorClpStatus(address))
            answered = address in responded
            if answered:
                st = replace(
                    st,
                    challenges=st.challenges + 1,
                    responses=st.responses + 1,
                    consecutive_failures=0,
                )
            else:
                st = replace(
                    st,
                    challenges=st.challenges + 1,
                    missed=st.missed + 1,
                    consecutive_failures=st.consecutive_failures + 1,
                )
            self._statuses[address] = st
            outcome[address] = answered
        return outcome

    def status(self, address: str) -> ValidatorClpStatus | None:
        return self._statuses.get(address)

    def all_statuses(self) -> dict[str, ValidatorClpStatus]:
        return {a: self._statuses[a] for a in sorted(self._statuses)}
