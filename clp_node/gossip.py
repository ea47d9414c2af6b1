"""What each peer is known to hold, so the node relays only what a peer may lack.

CometBFT's gossip keeps such per-peer knowledge; ours is keyed by the frame digest of a
consensus message (``wire.frame_digest``, canonical bytes), per height:

* a peer that sent us a message holds it: we never send it back;
* a message we sent on the peer's current link (same ``link_generation``) is not sent
  again until ``resend_after`` has passed: a link that stays up may still lose frames (a
  black-holing proxy), and a peer that was not ready may have dropped it;
* a reconnect or a queue overflow starts a new generation: everything may be sent again;
* what a peer's own votes imply it holds (``learned``/``holds``, opaque *facts* the node
  names): an honest validator prevotes a block only with the round's proposal for it and
  precommits it only after a polka for it, so neither is relayed to it any more. A false
  claim (its own vote, on its own link) only deprives the claimant.

Plain data and explicit times (no clock, no I/O), so it is tested directly.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterable

RECEIVED = float("inf")  # "sent at" of a message the peer sent us: never needs it again


class PeerKnowledge:
    def __init__(self, resend_after: float) -> None:
        self._resend_after = resend_after
        # height -> peer -> digest -> (generation, sent-at time, or RECEIVED)
        self._by_height: dict[int, dict[str, dict[bytes, tuple[int, float]]]] = {}
        self._facts: dict[int, dict[str, set[Hashable]]] = {}  # height -> peer -> facts

    def _of(self, height: int, peer: str) -> dict[bytes, tuple[int, float]]:
        return self._by_height.setdefault(height, {}).setdefault(peer, {})

    def received(self, peer: str, height: int, digest: bytes) -> None:
        self._of(height, peer)[digest] = (-1, RECEIVED)

    def sent(self, peer: str, height: int, digest: bytes, generation: int, now: float) -> None:
        known = self._of(height, peer)
        if known.get(digest, (0, 0.0))[1] != RECEIVED:
            known[digest] = (generation, now)

    def needs(self, peer: str, height: int, digest: bytes, generation: int, now: float) -> bool:
        record = self._by_height.get(height, {}).get(peer, {}).get(digest)
        if record is None:
            return True
        gen, at = record
        if at == RECEIVED:
            return False
        return gen != generation or now - at >= self._resend_after

    def learned(self, peer: str, height: int, facts: Iterable[Hashable]) -> None:
        """The peer showed (by a message of its own) that it holds these facts of a height."""
        self._facts.setdefault(height, {}).setdefault(peer, set()).update(facts)

    def holds(self, peer: str, height: int, fact: Hashable) -> bool:
        return fact in self._facts.get(height, {}).get(peer, ())

    def prune(self, below_height: int) -> None:
        """Heights below this are final here: nothing of them is gossiped any more."""
        for h in [h for h in self._by_height if h < below_height]:
            del self._by_height[h]
        for h in [h for h in self._facts if h < below_height]:
            del self._facts[h]


class SeenFrames:
    """Consensus frames already handled, by digest: a copy is dropped before decoding.

    Bounded: the oldest entries go first, and heights below the current one are pruned.
    Only frames whose handling is final are remembered (see ``ValidatorNode``), so a copy
    that comes when it can be used (e.g. a message for a height we had not reached) is not
    lost to this filter.
    """

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._seen: OrderedDict[bytes, tuple[int, float]] = OrderedDict()  # -> (height, at)

    def get(self, digest: bytes) -> tuple[int, float] | None:
        """(height, first seen) of a frame already handled, else None."""
        return self._seen.get(digest)

    def add(self, digest: bytes, height: int, now: float) -> None:
        if digest in self._seen:
            return
        self._seen[digest] = (height, now)
        while len(self._seen) > self._capacity:
            self._seen.popitem(last=False)

    def prune(self, below_height: int) -> None:
        for d in [d for d, (h, _) in self._seen.items() if h < below_height]:
            del self._seen[d]

    def __len__(self) -> int:
        return len(self._seen)
