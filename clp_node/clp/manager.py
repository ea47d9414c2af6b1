"""ClpManager: the CLP module as the chain drives it, block by finalized block."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clp_node.clp.aggregator import ResponseAggregator
from clp_node.clp.challenge import ChallengeGenerator
from clp_node.clp.penalty import PenaltyEvaluator
from clp_node.clp.response import ResponseHandler
from clp_node.clp.types import (
    ClpChallenge,
    ClpConfig,
    ClpEpochResult,
    ClpResponse,
    ResponseRejectReason,
    ValidatorClpStatus,
)


class ClpManager:
    """Owns the open challenges and counters of the current epoch; holds no clock and no I/O."""

    def __init__(self, config: ClpConfig, chain_id: str, public_keys: Mapping[str, bytes]) -> None:
        self.config = config
        self.chain_id = chain_id
        self.public_keys = dict(public_keys)
        self.generator = ChallengeGenerator(config, chain_id)
        self.handler = ResponseHandler(config, chain_id)
        self.aggregator = ResponseAggregator()
        self.evaluator = PenaltyEvaluator(config)
        self.epoch = 0
        self.committee: dict[str, int] = {}

    def start_epoch(self, epoch: int, committee: Mapping[str, int]) -> None:
        self.epoch = epoch
        self.committee = dict(committee)
        self.aggregator.start_epoch(sorted(committee))

    def on_block_finalized(self, height: int, block_hash: bytes) -> ClpChallenge | None:
        """Issue the challenge derived from block ``height`` when one is due."""
        if not self.generator.should_generate(height):
            return None
        challenge = self.generator.generate(height, block_hash, sorted(self.committee))
        self.aggregator.register_challenge(challenge)
        return challenge

    def check_response(
        self,
        response: ClpResponse | Any,
        block_height: int,
        earlier_in_block: frozenset[tuple[int, str]] | set[tuple[int, str]] = frozenset(),
    ) -> ResponseRejectReason | None:
        """Would ``response`` be valid in the block at ``block_height``? Changes nothing."""

        def is_duplicate(h: int, v: str) -> bool:
            return (h, v) in earlier_in_block or self.aggregator.has_response(h, v)

        return self.handler.verify_response(
            response, block_height, self.aggregator.challenge, self.public_keys, is_duplicate
        )

    def process_response(
        self, response: ClpResponse, block_height: int
    ) -> ResponseRejectReason | None:
        """Check a response included at ``block_height`` and count it when valid."""
        reason = self.check_response(response, block_height)
        if reason is None:
            self.aggregator.record_response(response.challenge_height, response.validator)
        return reason

    def finalize_expired_challenges(self, current_block: int) -> dict[int, dict[str, bool]]:
        """Close every open challenge whose deadline is at or before ``current_block``."""
        due = [c.height for c in self.aggregator.open_challenges() if c.deadline <= current_block]
        return {h: self.aggregator.finalize_challenge(h) for h in due}

    def evaluate_epoch(self, burned_before: int) -> ClpEpochResult:
        return self.evaluator.evaluate_epoch(
            self.epoch, self.committee, self.aggregator.all_statuses(), burned_before
        )

    def open_challenges(self) -> list[ClpChallenge]:
        return self.aggregator.open_challenges()

    def statuses(self) -> dict[str, ValidatorClpStatus]:
        return self.aggregator.all_statuses()
