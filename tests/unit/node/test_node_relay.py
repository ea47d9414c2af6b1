"""Consensus gossip alone: each message to the peers that may lack it, relays held back."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from node_fakes import FakeLinks

from clp_node.chain.block import Block
from clp_node.chain.keys import ValidatorKey
from clp_node.consensus.core import DEFAULT_MAX_HEIGHTS_AHEAD
from clp_node.consensus.types import Proposal, Vote, VoteType
from clp_node.net.framing import DEFAULT_MAX_FRAME_BYTES, encode_payload
from clp_node.relay import RELAY_AFTER_S, RESEND_AFTER_S, ConsensusRelay
from clp_node.sync import PeerHeights
from clp_node.wire import Consensus, Duplicate, decode_inbound, encode_consensus, frame_digest

CHAIN = "t"
HEAD = b"\x00" * 32


class Relay(SimpleNamespace):
    """A relay for KEYS[0] with peers KEYS[1..3], its fake links and what it may send."""

    relay: ConsensusRelay
    links: FakeLinks
    heights: PeerHeights
    refused: set[int]


@pytest.fixture
def r(kit: SimpleNamespace) -> Relay:
    peers = [k.address for k in kit.keys[1:4]]
    links = FakeLinks(peers)
    heights = PeerHeights()
    refused: set[int] = set()  # id() of messages the vote log refuses
    relay = ConsensusRelay(
        kit.keys[0].address,
        peers,
        links,
        heights,
        lambda m: id(m) not in refused,
        DEFAULT_MAX_FRAME_BYTES,
    )
    return Relay(relay=relay, links=links, heights=heights, refused=refused)


def _proposal(key: ValidatorKey, height: int = 1) -> Proposal:
    block = Block(CHAIN, height, HEAD, key.address, (), 1000)
    return Proposal.create(CHAIN, height, 0, block.hash, block, -1, key.address, key.sign)


def _vote(key: ValidatorKey, kind: VoteType, block_hash: bytes | None, height: int = 1) -> Vote:
    return Vote.create(CHAIN, kind, height, 0, block_hash, key.address, key.sign)


def _inbound(message: Proposal | Vote) -> Consensus:
    """The frame as the node's decoder hands it over (its payload's digest)."""
    return Consensus(message, frame_digest(encode_payload(encode_consensus(message))))


def _sent(r: Relay) -> set[str]:
    """The peers the relay sent to since the last call."""
    got = {p for targets, _ in r.links.frames for p in targets}
    r.links.frames.clear()
    return got


def test_our_message_goes_once_to_each_peer_as_its_canonical_frame(
    r: Relay, kit: SimpleNamespace
) -> None:
    vote = _vote(kit.keys[0], VoteType.PREVOTE, None)
    r.relay.broadcast(vote)
    assert r.links.frames == [(r.links.peers, r.relay.frame_of(vote)[0])]
    assert decode_inbound(r.links.frames[0][1][4:]) == _inbound(vote)  # what a peer gets
    r.links.frames.clear()
    r.relay.broadcast(vote)
    assert _sent(r) == set()
    assert r.relay.stats["frames_sent"] == 3


def test_a_message_goes_again_after_resend_after_or_on_a_new_link(
    r: Relay, kit: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [100.0]
    monkeypatch.setattr("clp_node.relay.time.monotonic", lambda: clock[0])
    vote = _vote(kit.keys[0], VoteType.PREVOTE, None)
    r.relay.broadcast(vote)
    _sent(r)
    peer = r.links.peers[0]
    r.links.generations[peer] += 1  # reconnected: nothing is known to have arrived
    r.relay.broadcast(vote)
    assert _sent(r) == {peer}
    clock[0] += RESEND_AFTER_S
    r.relay.broadcast(vote)
    assert _sent(r) == set(r.links.peers)


def test_what_the_vote_log_refuses_never_leaves(r: Relay, kit: SimpleNamespace) -> None:
    vote = _vote(kit.keys[0], VoteType.PREVOTE, None)
    r.refused.add(id(vote))
    r.relay.broadcast(vote)
    r.relay.tick(1e9, [vote])
    assert r.links.frames == []


def test_nothing_of_a_height_goes_to_a_peer_that_finalized_it(
    r: Relay, kit: SimpleNamespace
) -> None:
    final, behind, silent = r.links.peers
    r.heights.note(final, 1)
    r.heights.note(behind, 0)
    r.relay.broadcast(_vote(kit.keys[0], VoteType.PREVOTE, None))
    assert _sent(r) == {behind, silent}


def test_a_message_is_never_sent_back_to_a_peer_that_sent_it(
    r: Relay, kit: SimpleNamespace
) -> None:
    proposer = kit.keys[1]
    p = _proposal(proposer)
    r.relay.received(proposer.address, _inbound(p), height=1)
    r.relay.broadcast(p)
    assert _sent(r) == set(r.links.peers) - {proposer.address}


def test_a_copy_counts_its_sender_as_holding_it(r: Relay, kit: SimpleNamespace) -> None:
    p = _proposal(kit.keys[1])
    frame = _inbound(p)
    r.relay.received(kit.keys[1].address, frame, height=1)
    r.relay.duplicate(kit.keys[2].address, Duplicate(frame.digest, 1))
    assert r.relay.stats["duplicates_dropped"] == 1
    r.relay.broadcast(p)
    assert _sent(r) == {kit.keys[3].address}


def test_a_peers_own_votes_stop_relays_of_what_they_show_it_holds(
    r: Relay, kit: SimpleNamespace
) -> None:
    """A prevote for B shows B's proposal; a precommit for B shows a polka for B too."""
    proposer, second, third = kit.keys[1], kit.keys[2], kit.keys[3]
    p = _proposal(proposer)
    pv = _vote(second, VoteType.PREVOTE, p.block_hash)
    pc = _vote(third, VoteType.PRECOMMIT, p.block_hash)
    for sender, message in ((proposer, p), (second, pv), (third, pc)):
        r.relay.received(sender.address, _inbound(message), height=1)
    r.relay.broadcast(p)  # the proposer sent it; `second` prevoted it, `third` too
    assert _sent(r) == set()
    r.relay.broadcast(pv)  # `second` signed it; `third` has a polka
    assert _sent(r) == {proposer.address}
    # A vote relayed by someone else shows nothing about its relayer.
    other = _vote(proposer, VoteType.PRECOMMIT, p.block_hash)
    r.relay.received(second.address, _inbound(other), height=1)
    assert not r.relay.knowledge.holds(second.address, 1, ("polka", 0, p.block_hash))
    # Precommits and nil votes are never covered: a polka is not a commit.
    r.relay.broadcast(pc)
    assert _sent(r) == {proposer.address, second.address}


def test_someone_elses_message_is_relayed_only_once_it_is_old_here(
    r: Relay, kit: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("clp_node.relay.time.monotonic", lambda: 50.0)
    theirs = _vote(kit.keys[1], VoteType.PREVOTE, None)
    ours = _vote(kit.keys[0], VoteType.PREVOTE, None)
    r.relay.received(kit.keys[1].address, _inbound(theirs), height=1)
    r.relay.tick(50.0 + RELAY_AFTER_S / 2, [theirs, ours])
    assert r.relay.stats["relays_held"] == 1
    assert r.links.frames_to(kit.keys[2].address) == [r.relay.frame_of(ours)[0]]
    r.relay.tick(50.0 + RELAY_AFTER_S, [theirs, ours])
    assert r.links.frames_to(kit.keys[2].address)[-1] == r.relay.frame_of(theirs)[0]
    assert r.relay.frame_of(theirs)[0] not in r.links.frames_to(kit.keys[1].address)


def test_heights_far_ahead_are_not_remembered(r: Relay, kit: SimpleNamespace) -> None:
    near = _inbound(
        _vote(kit.keys[1], VoteType.PREVOTE, None, height=1 + DEFAULT_MAX_HEIGHTS_AHEAD)
    )
    far = _inbound(_vote(kit.keys[1], VoteType.PREVOTE, None, height=2 + DEFAULT_MAX_HEIGHTS_AHEAD))
    r.relay.received(kit.keys[1].address, near, height=1)
    r.relay.received(kit.keys[1].address, far, height=1)
    assert r.relay.seen.get(near.digest) is not None
    assert r.relay.seen.get(far.digest) is None  # a later copy can still be used


def test_a_new_height_forgets_what_only_mattered_below_it(r: Relay, kit: SimpleNamespace) -> None:
    old = _inbound(_vote(kit.keys[1], VoteType.PREVOTE, None, height=1))
    last = _inbound(_vote(kit.keys[1], VoteType.PREVOTE, None, height=2))
    r.relay.received(kit.keys[1].address, old, height=1)
    r.relay.received(kit.keys[1].address, last, height=2)
    r.relay.start_height(3)
    assert r.relay.seen.get(old.digest) is None
    assert r.relay.seen.get(last.digest) is not None  # late copies of the last height
    r.relay.broadcast(last.message)  # knowledge of height 2 is gone: everyone may need it
    assert _sent(r) == set(r.links.peers)
