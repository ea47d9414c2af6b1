"""The signed votes this node holds, served at ``/alpha/consensus/votes`` (protocol §11).

Nothing is done per received vote: the core already keeps every verified vote of the height
being decided (``TendermintCore.held_votes``). When the next height starts, those and the
conflicting votes the core kept as evidence are archived under their height, and heights
older than two epochs are dropped with the node's per-height pruning. The only vote added
directly is a ``double_sign`` test vote (§14), which the core never sees.

The archive is memory only: after a restart the node holds the votes of the heights it
started since, and ``oldest`` says so (a height it was deciding when it stopped is not
complete, so ``oldest`` is the height after it).
"""

from __future__ import annotations

from collections.abc import Iterable

from clp_node.consensus.types import Vote, VoteType

# The order of a vote's type is that of its sign byte (§9.2): prevote, then precommit.
_TYPE_ORDER = {VoteType.PREVOTE: 1, VoteType.PRECOMMIT: 2}

VoteKey = tuple[int, int, int, str, bytes]


def vote_key(vote: Vote) -> VoteKey:
    """The served order: (height, round, type, validator, block hash), nil first."""
    return (
        vote.height,
        vote.round,
        _TYPE_ORDER[vote.type],
        vote.validator,
        vote.block_hash or b"",
    )


class VoteHistory:
    def __init__(self, keep_heights: int) -> None:
        """``keep_heights``: how many heights below the one being decided are kept (2E)."""
        self.keep_heights = keep_heights
        self._heights: dict[int, dict[VoteKey, Vote]] = {}
        self._oldest: int | None = None  # set when the first height starts

    @property
    def oldest(self) -> int:
        """The lowest height whose votes this node holds completely (1 before any start)."""
        return 1 if self._oldest is None else self._oldest

    def add(self, votes: Iterable[Vote]) -> None:
        """Archive votes under their heights; a vote already held is kept once."""
        for vote in votes:
            self._heights.setdefault(vote.height, {})[vote_key(vote)] = vote

    def height_started(self, height: int, fresh: bool) -> None:
        """``height`` is being decided now: forget what is older than ``keep_heights``.

        ``fresh``: on the first call, whether this node never decided anything before (else
        it restarted, and what it received at ``height`` before it stopped is lost).
        """
        if self._oldest is None:
            self._oldest = height if fresh else height + 1
        floor = max(1, height - self.keep_heights)
        self._oldest = max(self._oldest, floor)
        for h in [h for h in self._heights if h < floor]:
            del self._heights[h]

    def between(self, first: int, last: int, live: Iterable[Vote] = ()) -> list[Vote]:
        """The held votes of heights ``first..=last`` in the served order; ``live``: the
        votes of the height being decided, not archived yet."""
        chosen: dict[VoteKey, Vote] = {}
        for h in sorted(h for h in self._heights if first <= h <= last):
            chosen.update(self._heights[h])
        for vote in live:
            if first <= vote.height <= last:
                chosen[vote_key(vote)] = vote
        return [chosen[k] for k in sorted(chosen)]

    def newest(self) -> int:
        """The highest archived height (0 when none)."""
        return max(self._heights, default=0)
