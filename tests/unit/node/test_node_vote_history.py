"""The votes a node serves (protocol §11): archived per height, each once, in order, pruned."""

from __future__ import annotations

from types import SimpleNamespace

from clp_node.chain.keys import ValidatorKey
from clp_node.consensus.core import TendermintCore, TimeoutConfig
from clp_node.consensus.types import ValidatorSet, Vote, VoteType
from clp_node.vote_history import VoteHistory

CHAIN = "t"
A, B = b"\xaa" * 32, b"\xbb" * 32


def _vote(
    key: ValidatorKey, kind: VoteType, height: int, round_: int, block_hash: bytes | None
) -> Vote:
    return Vote.create(CHAIN, kind, height, round_, block_hash, key.address, key.sign)


def test_votes_are_served_once_in_height_round_type_validator_hash_order(
    kit: SimpleNamespace,
) -> None:
    k0, k1 = sorted(kit.keys[:2], key=lambda k: k.address)
    history = VoteHistory(keep_heights=10)
    history.height_started(1, fresh=True)
    votes = [
        _vote(k1, VoteType.PRECOMMIT, 1, 0, A),
        _vote(k0, VoteType.PREVOTE, 1, 1, B),
        _vote(k1, VoteType.PREVOTE, 1, 0, B),
        _vote(k1, VoteType.PREVOTE, 1, 0, None),  # k1 equivocates: both are kept
        _vote(k0, VoteType.PREVOTE, 1, 0, A),
    ]
    history.add(votes)
    history.add(votes[:2])  # again: still once
    served = history.between(1, 1)
    assert [(v.round, v.type, v.validator, v.block_hash) for v in served] == [
        (0, VoteType.PREVOTE, k0.address, A),
        (0, VoteType.PREVOTE, k1.address, None),  # nil before a hash
        (0, VoteType.PREVOTE, k1.address, B),
        (0, VoteType.PRECOMMIT, k1.address, A),
        (1, VoteType.PREVOTE, k0.address, B),
    ]
    live = [_vote(k0, VoteType.PREVOTE, 2, 0, A)]
    assert history.between(2, 2, live) == live
    assert history.between(1, 2, live)[-1] == live[0]
    assert history.between(3, 9, live) == []


def test_heights_older_than_the_window_are_pruned_and_oldest_says_so(
    kit: SimpleNamespace,
) -> None:
    key = kit.keys[0]
    history = VoteHistory(keep_heights=4)
    history.height_started(1, fresh=True)
    assert history.oldest == 1
    for h in range(1, 9):
        history.add([_vote(key, VoteType.PREVOTE, h, 0, A)])
        history.height_started(h + 1, fresh=True)
    assert history.oldest == 5  # 9 - 4
    assert [v.height for v in history.between(1, 9)] == [5, 6, 7, 8]


def test_after_a_restart_the_interrupted_height_is_not_complete(kit: SimpleNamespace) -> None:
    history = VoteHistory(keep_heights=40)
    history.height_started(12, fresh=False)
    assert history.oldest == 13
    history.height_started(13, fresh=False)  # only the first call says where we began
    assert history.oldest == 13


def test_the_core_hands_over_every_verified_vote_of_its_height(kit: SimpleNamespace) -> None:
    keys = kit.keys[:4]
    vs = ValidatorSet({k.address: (k.public_key, 1) for k in keys})
    core = TendermintCore(CHAIN, None, None, TimeoutConfig.test_profile())
    core.start_height(1, vs, lambda h, r: (A, object()), lambda b: True)
    votes = [_vote(k, VoteType.PREVOTE, 1, 0, None) for k in keys[:2]]
    forged = Vote(VoteType.PREVOTE, 1, 0, None, keys[2].address, b"\x00" * 64)
    for v in [*votes, votes[0], forged]:
        core.on_vote(v)
    assert sorted(core.held_votes(), key=lambda v: v.validator) == sorted(
        votes, key=lambda v: v.validator
    )
