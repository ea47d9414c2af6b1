"""The signed-vote log alone: what we sign is on disk before it leaves, and never twice."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from clp_node.chain.block import Block
from clp_node.chain.keys import ValidatorKey
from clp_node.consensus.types import Proposal, Vote, VoteType
from clp_node.store.sqlite import BlockStore
from clp_node.votelog import VoteLog

CHAIN = "t"
HEAD = b"\x00" * 32


class CountingStore:
    """A BlockStore that counts its writes to the consensus WAL."""

    def __init__(self, path: Path) -> None:
        self.store = BlockStore(path)
        self.writes = 0

    def record_signed(
        self, height: int, round_: int, slot: str, block_hash: str, message: dict[str, Any]
    ) -> str:
        self.writes += 1
        return self.store.record_signed(height, round_, slot, block_hash, message)

    def signed_messages(self, height: int) -> list[dict[str, Any]]:
        return self.store.signed_messages(height)


@pytest.fixture
def store(tmp_path: Path) -> CountingStore:
    return CountingStore(tmp_path / "chain.sqlite")


def _proposal(key: ValidatorKey, height: int = 1, round_: int = 0, tag: int = 0) -> Proposal:
    block = Block(CHAIN, height, HEAD, key.address, (), 1000 + tag)
    return Proposal.create(CHAIN, height, round_, block.hash, block, -1, key.address, key.sign)


def _vote(key: ValidatorKey, kind: VoteType, block_hash: bytes | None, height: int = 1) -> Vote:
    return Vote.create(CHAIN, kind, height, 0, block_hash, key.address, key.sign)


def test_our_messages_are_recorded_and_others_pass_unrecorded(
    store: CountingStore, kit: SimpleNamespace
) -> None:
    me, other = kit.keys[0], kit.keys[1]
    log = VoteLog(me.address, store, lambda r, h: None)
    theirs = _proposal(other)
    assert log.admit(theirs)
    assert log.admit(_vote(other, VoteType.PREVOTE, theirs.block_hash))
    assert store.writes == 0
    ours = _proposal(me)
    assert log.admit(ours)
    assert log.admit(_vote(me, VoteType.PREVOTE, ours.block_hash))
    # in (round, slot) order: "prevote" < "proposal"
    assert log.restored(1) == [_vote(me, VoteType.PREVOTE, ours.block_hash), ours]


def test_a_conflicting_vote_is_refused_and_said(
    store: CountingStore, kit: SimpleNamespace, caplog: pytest.LogCaptureFixture
) -> None:
    me = kit.keys[0]
    log = VoteLog(me.address, store, lambda r, h: None)
    block_hash = _proposal(kit.keys[1]).block_hash
    assert log.admit(_vote(me, VoteType.PREVOTE, block_hash))
    assert log.admit(_vote(me, VoteType.PREVOTE, block_hash))  # the same vote again
    with caplog.at_level(logging.ERROR, logger="clp_node"):
        assert not log.admit(_vote(me, VoteType.PREVOTE, None))
    assert [r.event for r in caplog.records] == ["consensus.double_sign_prevented"]  # type: ignore[attr-defined]
    assert log.admit(_vote(me, VoteType.PRECOMMIT, None))  # another slot


def test_a_restarted_log_refuses_what_conflicts_with_the_disk(
    store: CountingStore, kit: SimpleNamespace
) -> None:
    me = kit.keys[0]
    block_hash = _proposal(kit.keys[1]).block_hash
    assert VoteLog(me.address, store, lambda r, h: None).admit(
        _vote(me, VoteType.PRECOMMIT, block_hash)
    )
    restarted = VoteLog(me.address, store, lambda r, h: None)
    assert not restarted.admit(_vote(me, VoteType.PRECOMMIT, None))
    assert restarted.admit(_vote(me, VoteType.PRECOMMIT, block_hash))


def test_a_precommit_takes_its_proposal_of_the_same_height_along(
    store: CountingStore, kit: SimpleNamespace
) -> None:
    me, proposer = kit.keys[0], kit.keys[1]
    p1 = _proposal(proposer, height=1)
    held = {p1.block_hash: p1}
    log = VoteLog(me.address, store, lambda r, h: held.get(h))
    pc = _vote(me, VoteType.PRECOMMIT, p1.block_hash)
    assert log.admit(pc)
    assert log.restored(1) == [pc, p1]  # so a restart restores the lock and its block
    # a proposal the core holds for another height is not this one's
    p2 = _proposal(proposer, height=3, tag=1)
    held[p2.block_hash] = p2
    assert log.admit(_vote(me, VoteType.PRECOMMIT, p2.block_hash, height=2))
    assert [type(m) for m in log.restored(2)] == [Vote]


def test_the_cache_spares_the_store_until_its_height_is_pruned(
    store: CountingStore, kit: SimpleNamespace
) -> None:
    me = kit.keys[0]
    log = VoteLog(me.address, store, lambda r, h: None)
    vote = _vote(me, VoteType.PREVOTE, None)
    log.admit(vote)
    log.admit(vote)
    log.prune(1)  # height 1 is still being decided
    log.admit(vote)
    assert store.writes == 1
    log.prune(2)
    log.admit(vote)
    assert store.writes == 2


def test_restored_is_empty_for_a_height_never_signed(
    store: CountingStore, kit: SimpleNamespace
) -> None:
    log = VoteLog(kit.keys[0].address, store, lambda r, h: None)
    assert log.restored(7) == []


def test_a_double_sign_conflict_is_let_out_once_recorded(
    store: CountingStore, kit: SimpleNamespace
) -> None:
    me = kit.keys[0]
    log = VoteLog(me.address, store, lambda r, h: None)
    first = _vote(me, VoteType.PREVOTE, b"\x01" * 32)
    second = _vote(me, VoteType.PREVOTE, None)
    assert log.admit(first)
    assert not log.admit(second)  # a second vote for one step is refused...
    log.record_conflict(second)
    assert log.admit(second)  # ...unless the double_sign hook signed it
    assert not log.admit(_vote(me, VoteType.PREVOTE, b"\x02" * 32))  # and only that one
    # the WAL keeps the first only: a restart goes on with it, never restores the conflict
    assert len(store.signed_messages(1)) == 1
