"""Shared builders for the consensus tests: keys, validator sets, signed messages, blocks."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from clp_node.chain.keys import ValidatorKey
from clp_node.consensus.core import Action, Broadcast, Decide, TendermintCore, TimeoutConfig
from clp_node.consensus.types import Proposal, ValidatorSet, Vote, VoteType

CHAIN = "clp-test"
TIMEOUTS = TimeoutConfig(propose_ms=1000, prevote_ms=500, precommit_ms=500, delta_ms=100)


def make_keys(n: int, tag: str = "k") -> list[ValidatorKey]:
    """Keys sorted by address, so keys[i] is the i-th in proposer rotation order."""
    keys = [ValidatorKey.from_seed_text(f"{tag}-{i}") for i in range(n)]
    return sorted(keys, key=lambda k: k.address)


def make_set(keys: Sequence[ValidatorKey], powers: Sequence[int] | None = None) -> ValidatorSet:
    powers = powers if powers is not None else [1] * len(keys)
    return ValidatorSet({k.address: (k.public_key, p) for k, p in zip(keys, powers, strict=True)})


def block(label: str, height: int = 1, valid: bool = True) -> dict[str, Any]:
    return {"label": label, "height": height, "valid": valid}


def hash_of(b: object) -> bytes:
    return hashlib.blake2b(json.dumps(b, sort_keys=True).encode(), digest_size=32).digest()


def is_valid(b: object) -> bool:
    return isinstance(b, dict) and b.get("valid") is True


def vote(
    key: ValidatorKey,
    vote_type: VoteType,
    height: int,
    round: int,
    block_hash: bytes | None,
    chain: str = CHAIN,
) -> Vote:
    return Vote.create(chain, vote_type, height, round, block_hash, key.address, key.sign)


def prevote(key: ValidatorKey, height: int, round: int, b: object | None) -> Vote:
    return vote(key, VoteType.PREVOTE, height, round, None if b is None else hash_of(b))


def precommit(key: ValidatorKey, height: int, round: int, b: object | None) -> Vote:
    return vote(key, VoteType.PRECOMMIT, height, round, None if b is None else hash_of(b))


def proposal(
    key: ValidatorKey, height: int, round: int, b: object, pol_round: int = -1, chain: str = CHAIN
) -> Proposal:
    return Proposal.create(chain, height, round, hash_of(b), b, pol_round, key.address, key.sign)


def proposer_key(
    keys: Sequence[ValidatorKey], vs: ValidatorSet, height: int, round: int
) -> ValidatorKey:
    addr = vs.proposer(height, round)
    return next(k for k in keys if k.address == addr)


def make_core(key: ValidatorKey | None, **kwargs: Any) -> TendermintCore:
    return TendermintCore(
        CHAIN,
        None if key is None else key.address,
        None if key is None else key.sign,
        TIMEOUTS,
        hash_of=hash_of,
        **kwargs,
    )


def start(core: TendermintCore, vs: ValidatorSet, height: int = 1, **kwargs: Any) -> list[Action]:
    def get_value(h: int, r: int) -> tuple[bytes, object]:
        b = block(f"own-{h}-{r}", h)
        return hash_of(b), b

    return core.start_height(height, vs, get_value, is_valid, **kwargs)


def broadcasts(actions: Sequence[Action]) -> list[Proposal | Vote]:
    return [a.message for a in actions if isinstance(a, Broadcast)]


def votes_of(actions: Sequence[Action], vote_type: VoteType) -> list[Vote]:
    return [m for m in broadcasts(actions) if isinstance(m, Vote) and m.type is vote_type]


def decisions(actions: Sequence[Action]) -> list[Decide]:
    return [a for a in actions if isinstance(a, Decide)]
