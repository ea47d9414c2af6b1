"""The staking ledger: stakes, burned stake, and the conservation law that binds them."""

from __future__ import annotations

from collections.abc import Mapping

from clp_node.clp.penalty import SlashError


class StakingLedger:
    """Integer stakes; a slash is validated in full before any of it is applied."""

    def __init__(self, stakes: Mapping[str, int]) -> None:
        for address, stake in stakes.items():
            if stake < 0:
                raise ValueError(f"stake of {address} is negative")
        self._stakes = dict(stakes)
        self.genesis_total = sum(stakes.values())
        self.burned = 0

    def stake(self, address: str) -> int:
        return self._stakes[address]

    def stakes(self) -> dict[str, int]:
        return dict(sorted(self._stakes.items()))

    @property
    def total_stake(self) -> int:
        return sum(self._stakes.values())

    def validate_slashes(self, slashes: Mapping[str, int]) -> None:
        for address, amount in slashes.items():
            if address not in self._stakes:
                raise SlashError(f"slash of unknown validator {address}")
            if amount < 0:
                raise SlashError(f"slash of {address} is negative ({amount})")
            if amount > self._stakes[address]:
                raise SlashError(
                    f"slash of {address} ({amount}) exceeds its stake ({self._stakes[address]})"
                )

    def apply_slashes(self, slashes: Mapping[str, int]) -> None:
        """All or nothing: one bad slash and the ledger is left untouched."""
        self.validate_slashes(slashes)
        for address, amount in slashes.items():
            self._stakes[address] -= amount
            self.burned += amount

    def conserved(self) -> bool:
        """sum(stakes) + burned == genesis total, and no stake is negative."""
        return self.total_stake + self.burned == self.genesis_total and all(
            s >= 0 for s in self._stakes.values()
        )
