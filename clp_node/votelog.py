"""The signed-vote log: what we sign is on disk before it leaves, so we never sign twice.

Never let two different votes for one (height, round, type) leave this node, not even
across a restart: the first one is on disk before it is sent. A precommit for a block takes
the round's proposal with it, so a restart restores the locked block and the valid round as
well (``TendermintCore.start_height(restore=...)``). The log of a height is pruned with its
block (``BlockStore.append``); here only a cache of the heights not yet final is kept.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from clp_node.consensus.types import Proposal, Vote, VoteType
from clp_node.logs import log_event
from clp_node.wire import decode_consensus, encode_consensus

log = logging.getLogger(__name__)


class SignedStore(Protocol):
    """The store's consensus WAL (``BlockStore``)."""

    def record_signed(
        self, height: int, round_: int, slot: str, block_hash: str, message: dict[str, Any]
    ) -> str: ...

    def signed_messages(self, height: int) -> list[dict[str, Any]]: ...


class VoteLog:
    def __init__(
        self,
        address: str,
        store: SignedStore,
        proposal_for: Callable[[int, bytes], Proposal | None],
    ) -> None:
        """``proposal_for(round, block_hash)``: the proposal of that block the core holds."""
        self.address = address
        self.store = store
        self.proposal_for = proposal_for
        # (height, round, slot) -> block hash on record in the WAL; heights not yet final
        self._signed: dict[tuple[int, int, str], str] = {}
        # (height, round, slot, block hash) of the second votes the double_sign hook signed
        self._conflicts: set[tuple[int, int, str, str]] = set()

    def prune(self, height: int) -> None:
        """Forget the cache below ``height``, the height now being decided."""
        self._signed = {s: h for s, h in self._signed.items() if s[0] >= height}
        self._conflicts = {c for c in self._conflicts if c[0] >= height}

    def record_conflict(self, vote: Vote) -> None:
        """The ``double_sign`` test hook (protocol §14): ``vote`` conflicts with the one on
        record for its step and is let out anyway. Kept in memory only, so a restart never
        restores it into consensus (which goes on with the first)."""
        self._conflicts.add((vote.height, vote.round, str(vote.type), _digest(vote)))
        log_event(
            log,
            logging.WARNING,
            "consensus.double_signed",
            slot=f"{vote.height}/{vote.round}/{vote.type}",
            block_hash=_digest(vote),
        )

    def restored(self, height: int) -> list[Proposal | Vote]:
        """What we signed at ``height`` before a restart (empty unless we crashed mid-height)."""
        return [decode_consensus(m) for m in self.store.signed_messages(height)]

    def admit(self, message: Proposal | Vote) -> bool:
        """Write our own messages to the WAL before they leave; False: must not be sent.

        Someone else's message (a relay) always may leave.
        """
        if isinstance(message, Proposal):
            if message.proposer == self.address:
                self._record(message.height, message.round, "proposal", message)
            return True
        if message.validator != self.address:
            return True  # a relay of someone else's vote
        if message.type is VoteType.PRECOMMIT and message.block_hash is not None:
            behind = self.proposal_for(message.round, message.block_hash)
            if behind is not None and behind.height == message.height:
                self._record(message.height, message.round, "proposal", behind)
        digest = self._record(message.height, message.round, str(message.type), message)
        if digest != _digest(message) and (
            (message.height, message.round, str(message.type), _digest(message))
            not in self._conflicts
        ):
            log_event(
                log,
                logging.ERROR,
                "consensus.double_sign_prevented",
                slot=f"{message.height}/{message.round}/{message.type}",
            )
            return False
        return True

    def _record(self, height: int, round_: int, slot: str, message: Proposal | Vote) -> str:
        key = (height, round_, slot)
        recorded = self._signed.get(key)
        if recorded is None:
            recorded = self.store.record_signed(
                height, round_, slot, _digest(message), encode_consensus(message)
            )
            self._signed[key] = recorded
        return recorded


def _digest(message: Proposal | Vote) -> str:
    return message.block_hash.hex() if message.block_hash else "nil"
