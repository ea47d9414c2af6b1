"""Signed CLP responses and the §5 validity rules, checked in their order."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping

from clp_node.chain.keys import ValidatorKey, address_bytes, verify_signature
from clp_node.clp.challenge import ChallengeGenerator, encode_chain_id, u64be
from clp_node.clp.types import (
    ClpChallenge,
    ClpConfig,
    ClpResponse,
    MalformedResponse,
    ResponseRejectReason,
)

RESPONSE_DOMAIN = b"alphaos.clp.response.v1"


def response_message(chain_id: str, height: int, challenge_value: bytes, address: str) -> bytes:
    """The 32-byte digest a validator signs: chain id and challenge value stop replays."""
    h = hashlib.blake2b(digest_size=32)
    h.update(RESPONSE_DOMAIN)
    h.update(encode_chain_id(chain_id))
    h.update(u64be(height))
    h.update(challenge_value)
    h.update(address_bytes(address))
    return h.digest()


class ResponseHandler:
    """Creates responses and judges whether one may be included in the block at height b."""

    def __init__(self, config: ClpConfig, chain_id: str) -> None:
        self.config = config
        self.chain_id = chain_id
        self._generator = ChallengeGenerator(config, chain_id)

    def create_response(self, key: ValidatorKey, challenge: ClpChallenge) -> ClpResponse:
        msg = response_message(self.chain_id, challenge.height, challenge.value, key.address)
        return ClpResponse(challenge.height, key.address, key.sign(msg))

    def verify_response(
        self,
        response: ClpResponse | object,
        block_height: int,
        challenge_at: Callable[[int], ClpChallenge | None],
        public_keys: Mapping[str, bytes],
        is_duplicate: Callable[[int, str], bool],
    ) -> ResponseRejectReason | None:
        """None when valid for inclusion at ``block_height``, else the first failing rule.

        ``challenge_at(h)`` gives the challenge issued at h (None when there is none),
        ``is_duplicate(h, v)`` whether a response for (h, v) is on chain or earlier in the block.
        """
        if not isinstance(response, ClpResponse):
            try:
                response = ClpResponse.from_json(response)
            except MalformedResponse:
                return ResponseRejectReason.MALFORMED
        if not _well_formed(response):
            return ResponseRejectReason.MALFORMED
        h = response.challenge_height
        if not self._generator.should_generate(h) or h >= block_height:
            return ResponseRejectReason.UNKNOWN_CHALLENGE
        if block_height > h + self.config.response_window:
            return ResponseRejectReason.EXPIRED
        challenge = challenge_at(h)
        if challenge is None:
            return ResponseRejectReason.UNKNOWN_CHALLENGE
        if response.validator not in challenge.expected:
            return ResponseRejectReason.NOT_IN_COMMITTEE
        if is_duplicate(h, response.validator):
            return ResponseRejectReason.DUPLICATE
        public_key = public_keys.get(response.validator)
        if public_key is None:
            return ResponseRejectReason.NOT_IN_COMMITTEE
        msg = response_message(self.chain_id, h, challenge.value, response.validator)
        if not verify_signature(public_key, msg, response.signature):
            return ResponseRejectReason.BAD_SIGNATURE
        return None


def _well_formed(response: ClpResponse) -> bool:
    try:
        ClpResponse.from_json(response.to_json())
    except (MalformedResponse, AttributeError, TypeError, ValueError):
        return False
    return True
