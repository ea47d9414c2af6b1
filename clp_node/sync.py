"""What each peer says its finalized height is: the input of block sync, never trusted.

A claim only says where to ask for blocks; the blocks themselves are verified. So a claim
must not stick: each new claim replaces the last (a peer that fell back says so), a claim
is capped at what a sync request could ever reach, and a peer that left a sync request
unanswered loses its claim until it makes a new one.
"""

from __future__ import annotations

# Heights are SQLite integers; nothing above this is a height any chain reaches.
MAX_HEIGHT = 2**62


class PeerHeights:
    def __init__(self) -> None:
        self._claims: dict[str, int] = {}

    def note(self, peer: str, claim: object) -> bool:
        """Record a claim; False (and nothing recorded) for one that is not a height."""
        if not isinstance(claim, int) or isinstance(claim, bool) or not 0 <= claim <= MAX_HEIGHT:
            return False
        self._claims[peer] = claim
        return True

    def claim(self, peer: str) -> int | None:
        return self._claims.get(peer)

    def ahead_of(self, height: int) -> dict[str, int]:
        return {p: h for p, h in self._claims.items() if h > height}

    def unanswered(self, peer: str, height: int) -> None:
        """``peer`` did not serve the blocks above ``height`` it claimed: drop the claim."""
        if self._claims.get(peer, 0) > height:
            self._claims[peer] = height

    def to_json(self) -> dict[str, int]:
        return dict(self._claims)
