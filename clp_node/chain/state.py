"""ChainState: the deterministic state machine every node runs over finalized blocks.

Applying block b runs CLP_SPEC §6 in its order — record the block's responses, close the
challenge whose deadline is b, and at an epoch's last block evaluate the epoch, apply its
slashes and fix the next committee — then issues the challenge derived from b, if due.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from clp_node.chain.block import Block
from clp_node.chain.genesis import Genesis
from clp_node.chain.ledger import StakingLedger
from clp_node.clp.manager import ClpManager
from clp_node.clp.types import ClpChallenge, ClpEpochResult, ResponseRejectReason


class InvalidBlock(ValueError):
    """A block the state machine refuses; ``reason`` is a short machine-readable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class AppliedBlock:
    """What applying one block changed, for logs, metrics and the API."""

    height: int
    challenge: ClpChallenge | None
    finalized: dict[int, dict[str, bool]]
    epoch_result: ClpEpochResult | None


class ChainState:
    def __init__(self, genesis: Genesis) -> None:
        self.genesis = genesis
        self.config = genesis.clp
        self.chain_id = genesis.chain_id
        self.height = 0
        self.head_hash = genesis.hash()
        self.head_time_ms = 0
        self.ledger = StakingLedger(genesis.stakes())
        self.committees: dict[int, dict[str, int]] = {0: genesis.stakes()}
        self.epoch_results: dict[int, ClpEpochResult] = {}
        self.ejected_at: dict[str, int] = {}
        self.slashed_totals: dict[str, int] = {v.address: 0 for v in genesis.validators}
        self.clp = ClpManager(genesis.clp, genesis.chain_id, genesis.public_keys())
        self.clp.start_epoch(0, self.committees[0])

    @property
    def next_height(self) -> int:
        return self.height + 1

    @property
    def current_epoch(self) -> int:
        """The epoch of the next block to be finalized."""
        return self.config.epoch_of(self.height + 1)

    def committee(self, epoch: int) -> dict[str, int] | None:
        """Members and their stakes at the start of ``epoch``; None while not yet known."""
        members = self.committees.get(epoch)
        return dict(members) if members is not None else None

    def committee_for_height(self, height: int) -> dict[str, int] | None:
        return self.committee(self.config.epoch_of(height))

    def check_response(
        self, response: Any, block_height: int | None = None
    ) -> ResponseRejectReason | None:
        """Would ``response`` be valid in the next block (or the block at ``block_height``)?"""
        return self.clp.check_response(response, block_height or self.next_height)

    def validate_block(self, block: Block) -> None:
        """Raise InvalidBlock unless ``block`` may extend this state; changes nothing."""
        if block.chain_id != self.chain_id:
            raise InvalidBlock("WRONG_CHAIN", f"chain id {block.chain_id!r}")
        if block.height != self.next_height:
            raise InvalidBlock("WRONG_HEIGHT", f"got {block.height}, want {self.next_height}")
        if block.parent_hash != self.head_hash:
            raise InvalidBlock("WRONG_PARENT", f"parent {block.parent_hash.hex()[:16]}")
        if block.time_ms < self.head_time_ms:
            raise InvalidBlock("TIME_NOT_MONOTONIC", f"{block.time_ms} < {self.head_time_ms}")
        committee = self.committee_for_height(block.height) or {}
        if block.proposer not in committee:
            raise InvalidBlock("BAD_PROPOSER", f"{block.proposer} is not in the committee")
        keys = [r.key() for r in block.responses]
        if keys != sorted(keys):
            raise InvalidBlock("UNSORTED_RESPONSES", "responses must be sorted by (h, validator)")
        seen: set[tuple[int, str]] = set()
        for r in block.responses:
            reason = self.clp.check_response(r, block.height, seen)
            if reason is not None:
                raise InvalidBlock(
                    "INVALID_RESPONSE",
                    f"response ({r.challenge_height}, {r.validator}): {reason.value}",
                )
            seen.add(r.key())

    def apply_block(self, block: Block) -> AppliedBlock:
        self.validate_block(block)
        for r in block.responses:
            self.clp.process_response(r, block.height)
        finalized = self.clp.finalize_expired_challenges(block.height)
        result = None
        closed = self.config.closes_epoch(block.height)
        if closed is not None:
            result = self._close_epoch(closed)
        challenge = self.clp.on_block_finalized(block.height, block.hash)
        self.height = block.height
        self.head_hash = block.hash
        self.head_time_ms = block.time_ms
        return AppliedBlock(block.height, challenge, finalized, result)

    def _close_epoch(self, epoch: int) -> ClpEpochResult:
        result = self.clp.evaluate_epoch(self.ledger.burned)
        slashes = result.slashes()
        self.ledger.apply_slashes(slashes)
        for address, amount in slashes.items():
            self.slashed_totals[address] += amount
        for address in result.ejected:
            self.ejected_at[address] = epoch
        next_committee = {a: self.ledger.stake(a) for a in result.next_committee}
        self.committees[epoch + 1] = next_committee
        self.epoch_results[epoch] = result
        self.clp.start_epoch(epoch + 1, next_committee)
        return result

    def to_json(self) -> dict[str, Any]:
        """Everything consensus-relevant, in a canonical form for digests and debugging."""
        return {
            "chain_id": self.chain_id,
            "height": self.height,
            "head_hash": self.head_hash.hex(),
            "head_time_ms": self.head_time_ms,
            "stakes": self.ledger.stakes(),
            "burned": self.ledger.burned,
            "committees": {str(e): dict(sorted(c.items())) for e, c in self.committees.items()},
            "ejected_at": dict(sorted(self.ejected_at.items())),
            "statuses": {a: s.to_json() for a, s in self.clp.statuses().items()},
            "open_challenges": [c.to_json() for c in self.clp.open_challenges()],
            "epoch_results": {str(e): r.to_json() for e, r in sorted(self.epoch_results.items())},
        }

    def digest(self) -> bytes:
        """Equal digests mean equal states: how two nodes (or two replays) are compared."""
        canonical = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.blake2b(canonical.encode(), digest_size=32).digest()
