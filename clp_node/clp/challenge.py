"""Challenges derived from finalized blocks (CLP_SPEC §4)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from clp_node.clp.types import ClpChallenge, ClpConfig

CHALLENGE_DOMAIN = b"alphaos.clp.challenge.v1"


def u16be(n: int) -> bytes:
    return n.to_bytes(2, "big")


def u64be(n: int) -> bytes:
    return n.to_bytes(8, "big")


def encode_chain_id(chain_id: str) -> bytes:
    raw = chain_id.encode()
    if len(raw) >= 2**16:
        raise ValueError("chain id longer than 65535 bytes")
    return u16be(len(raw)) + raw


class ChallengeGenerator:
    """Decides which heights carry a challenge and derives its unpredictable value."""

    def __init__(self, config: ClpConfig, chain_id: str) -> None:
        self.config = config
        self.chain_id = chain_id

    def should_generate(self, height: int) -> bool:
        """Only where the whole window lies in h's epoch, so the committee is fixed."""
        cfg = self.config
        return (
            height >= 1
            and height % cfg.challenge_interval == 0
            and cfg.epoch_of(height) == cfg.epoch_of(height + cfg.response_window)
        )

    @staticmethod
    def compute_challenge_value(chain_id: str, height: int, block_hash: bytes) -> bytes:
        h = hashlib.blake2b(digest_size=32)
        h.update(CHALLENGE_DOMAIN)
        h.update(encode_chain_id(chain_id))
        h.update(u64be(height))
        h.update(block_hash)
        return h.digest()

    def generate(self, height: int, block_hash: bytes, committee: Sequence[str]) -> ClpChallenge:
        if not self.should_generate(height):
            raise ValueError(f"no challenge is due at height {height}")
        return ClpChallenge(
            height=height,
            epoch=self.config.epoch_of(height),
            value=self.compute_challenge_value(self.chain_id, height, block_hash),
            deadline=height + self.config.response_window,
            expected=tuple(sorted(committee)),
        )
