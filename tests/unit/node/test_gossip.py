"""Relay only what a peer may lack; drop a consensus copy before decoding it; decode once."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from clp_node.chain.block import Block
from clp_node.clp.types import ClpConfig
from clp_node.consensus.types import Proposal, Vote, VoteType
from clp_node.gossip import PeerKnowledge, SeenFrames
from clp_node.net.framing import FrameNotJson, FrameNotObject, encode_frame, encode_payload
from clp_node.node import RELAY_AFTER_S, RESPONSE_RESEND_AFTER_S, ValidatorNode
from clp_node.wire import (
    CONSENSUS_PREFIX,
    Consensus,
    Duplicate,
    MalformedConsensus,
    decode_inbound,
    encode_consensus,
    frame_digest,
)

CHAIN = "clp-testnet"
D1, D2 = b"\x01" * 16, b"\x02" * 16


def test_a_peer_that_sent_a_message_never_gets_it_back() -> None:
    k = PeerKnowledge(resend_after=2.0)
    k.received("p", 5, D1)
    assert not k.needs("p", 5, D1, generation=1, now=100.0)
    k.sent("p", 5, D1, generation=2, now=100.0)  # a send does not undo "it has it"
    assert not k.needs("p", 5, D1, generation=3, now=1e9)
    assert k.needs("q", 5, D1, generation=1, now=100.0)


def test_a_sent_message_waits_for_resend_after_or_a_new_link() -> None:
    k = PeerKnowledge(resend_after=2.0)
    assert k.needs("p", 5, D1, 1, 10.0)
    k.sent("p", 5, D1, 1, 10.0)
    assert not k.needs("p", 5, D1, 1, 11.9)
    assert k.needs("p", 5, D1, 1, 12.0)  # the link stayed up but may have lost it
    assert k.needs("p", 5, D1, 2, 10.5)  # reconnected: nothing is known to have arrived
    assert k.needs("p", 5, D2, 1, 10.5)  # another message


def test_knowledge_of_final_heights_is_pruned() -> None:
    k = PeerKnowledge(resend_after=2.0)
    k.received("p", 4, D1)
    k.received("p", 5, D2)
    k.prune(5)
    assert k.needs("p", 4, D1, 1, 0.0)
    assert not k.needs("p", 5, D2, 1, 0.0)


def test_seen_frames_are_bounded_and_pruned_by_height() -> None:
    s = SeenFrames(capacity=2)
    s.add(D1, 3, 1.0)
    s.add(D1, 9, 5.0)  # the first sighting stays
    assert s.get(D1) == (3, 1.0)
    s.add(D2, 4, 2.0)
    s.add(b"\x03" * 16, 4, 3.0)
    assert len(s) == 2 and s.get(D1) is None  # oldest went first
    s.prune(5)
    assert len(s) == 0


def _vote(kit: SimpleNamespace, height: int = 1) -> Vote:
    k = kit.keys[1]
    return Vote.create(CHAIN, VoteType.PREVOTE, height, 0, b"\x07" * 32, k.address, k.sign)


def test_inbound_consensus_is_decoded_with_its_digest(kit: SimpleNamespace) -> None:
    v = _vote(kit)
    payload = encode_payload(encode_consensus(v))
    assert payload.startswith(CONSENSUS_PREFIX)
    got = decode_inbound(payload)
    assert got == Consensus(v, frame_digest(payload))


@pytest.mark.parametrize(
    "change",
    [
        {"height": True},
        {"height": -1},
        {"round": 2**64},
        {"validator": "AB" * 20},
        {"signature": "00"},
        {"type": "maybe"},
        {"block_hash": "zz" * 32},
    ],
)
def test_a_malformed_vote_is_the_senders_bad_message(kit: SimpleNamespace, change: dict) -> None:
    envelope = encode_consensus(_vote(kit))
    envelope["msg"].update(change)
    got = decode_inbound(encode_payload(envelope))
    assert isinstance(got, MalformedConsensus)


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (CONSENSUS_PREFIX + b'"msg":', FrameNotJson),
        (b"[1, 2]", FrameNotObject),
        (b"NaN", FrameNotJson),
        (b"\xff", FrameNotJson),
    ],
)
def test_broken_frames_close_the_connection_as_before(payload: bytes, error: type) -> None:
    with pytest.raises(error):
        decode_inbound(payload)


def test_other_messages_are_plain_dicts() -> None:
    msg = {"type": "status", "height": 2**70}
    assert decode_inbound(json.dumps(msg).encode()) == msg


@pytest.fixture
def node(tmp_path: Path, kit: SimpleNamespace) -> ValidatorNode:
    """KEYS[0] of a 4-validator genesis with KEYS[1..3] as peers; nothing is started."""
    config = kit.node_config(tmp_path, kit.genesis([100_000] * 4), peers=3)
    n = ValidatorNode(config)
    n.replay()
    return n


def _queued(node: ValidatorNode) -> dict[str, int]:
    return {p: node.net.queued(p) for p in node._peer_addrs}


async def test_a_copy_is_dropped_undecoded_and_its_sender_counts_as_holding_it(
    node: ValidatorNode, kit: SimpleNamespace
) -> None:
    node._start_height()
    v = _vote(kit)
    payload = encode_payload(encode_consensus(v))
    first = node._decode_frame(payload)
    assert isinstance(first, Consensus)
    node._on_message(kit.keys[1].address, first)
    again = node._decode_frame(payload)
    assert again == Duplicate(frame_digest(payload), 1)
    node._on_message(kit.keys[2].address, again)
    assert node.gossip_stats["duplicates_dropped"] == 1
    digest = frame_digest(payload)
    for sender in (kit.keys[1].address, kit.keys[2].address):
        assert not node.knowledge.needs(sender, 1, digest, 0, time.monotonic())
    assert node.knowledge.needs(kit.keys[3].address, 1, digest, 0, time.monotonic())


async def test_own_messages_go_once_to_each_peer_and_relays_skip_their_senders(
    node: ValidatorNode, kit: SimpleNamespace
) -> None:
    node._start_height()
    proposer = kit.keys[1]
    chain = node.genesis.chain_id
    block = Block(chain, 1, node.state.head_hash, proposer.address, (), int(time.time() * 1000))
    p = Proposal.create(chain, 1, 0, block.hash, block, -1, proposer.address, proposer.sign)
    before = _queued(node)
    node._on_message(proposer.address, decode_inbound(encode_payload(encode_consensus(p))))
    after = _queued(node)
    # Our prevote for it went to every peer, once.
    assert {a: after[a] - before[a] for a in after} == dict.fromkeys(after, 1)
    prevote = next(m for m in node.core.own_messages() if isinstance(m, Vote))
    node._broadcast_consensus(prevote)  # a gossip tick right after: nothing new to send
    assert _queued(node) == after
    # The proposal (someone else's) is relayed only to peers that may lack it.
    node._broadcast_consensus(p)
    relayed = _queued(node)
    assert relayed[proposer.address] == after[proposer.address]
    assert all(relayed[a] == after[a] + 1 for a in after if a != proposer.address)


async def test_nothing_of_a_height_goes_to_a_peer_that_finalized_it(
    node: ValidatorNode, kit: SimpleNamespace
) -> None:
    node._start_height()
    node.peer_heights.note(kit.keys[3].address, 1)
    frame_sizes = _queued(node)
    v = Vote.create(
        node.genesis.chain_id, VoteType.PREVOTE, 1, 0, None, node.address, node.key.sign
    )
    node._broadcast_consensus(v)
    sent = {a: _queued(node)[a] - frame_sizes[a] for a in frame_sizes}
    assert sent[kit.keys[3].address] == 0 and sent[kit.keys[1].address] == 1
    assert encode_frame(encode_consensus(v))[4:].startswith(CONSENSUS_PREFIX)


def test_facts_a_peer_showed_are_held_until_their_height_is_pruned() -> None:
    k = PeerKnowledge(resend_after=2.0)
    k.learned("p", 5, [("polka", 0, D1), ("proposal", 0, D1)])
    assert k.holds("p", 5, ("polka", 0, D1))
    assert not k.holds("p", 5, ("polka", 1, D1))  # another round
    assert not k.holds("q", 5, ("polka", 0, D1))  # another peer
    assert not k.holds("p", 6, ("polka", 0, D1))  # another height
    k.prune(6)
    assert not k.holds("p", 5, ("polka", 0, D1))


def _relayed(node: ValidatorNode, before: dict[str, int]) -> set[str]:
    return {a for a, n in _queued(node).items() if n > before[a]}


async def test_a_peers_own_votes_stop_relays_of_what_they_show_it_holds(
    node: ValidatorNode, kit: SimpleNamespace
) -> None:
    """A prevote for B shows B's proposal; a precommit for B shows a polka for B too."""
    node._start_height()
    chain = node.genesis.chain_id
    proposer, second, third = kit.keys[1], kit.keys[2], kit.keys[3]
    block = Block(chain, 1, node.state.head_hash, proposer.address, (), int(time.time() * 1000))
    p = Proposal.create(chain, 1, 0, block.hash, block, -1, proposer.address, proposer.sign)
    node._on_message(proposer.address, decode_inbound(encode_payload(encode_consensus(p))))
    pv = Vote.create(chain, VoteType.PREVOTE, 1, 0, block.hash, second.address, second.sign)
    node._on_message(second.address, decode_inbound(encode_payload(encode_consensus(pv))))
    pc = Vote.create(chain, VoteType.PRECOMMIT, 1, 0, block.hash, third.address, third.sign)
    node._on_message(third.address, decode_inbound(encode_payload(encode_consensus(pc))))
    before = _queued(node)
    node._broadcast_consensus(p)  # the proposer sent it; `second` prevoted it, `third` too
    assert _relayed(node, before) == set()
    before = _queued(node)
    node._broadcast_consensus(pv)  # `second` signed it; `third` has a polka
    assert _relayed(node, before) == {proposer.address}
    # A vote relayed by someone else shows nothing about its relayer.
    other = Vote.create(
        chain, VoteType.PRECOMMIT, 1, 0, block.hash, proposer.address, proposer.sign
    )
    node._on_message(second.address, decode_inbound(encode_payload(encode_consensus(other))))
    assert not node.knowledge.holds(second.address, 1, ("polka", 0, block.hash))
    # Precommits and nil votes are never covered: a polka is not a commit.
    before = _queued(node)
    node._broadcast_consensus(pc)
    assert _relayed(node, before) == {proposer.address, second.address}


@pytest.fixture
async def six(tmp_path: Path, kit: SimpleNamespace) -> ValidatorNode:
    """KEYS[0] of a 6-validator genesis with a response window of 2 (a relay after one
    block without the response), at height 2 (a challenge, K = 2); KEYS[1..5] are its
    peers; nothing is started."""
    clp = dataclasses.replace(ClpConfig.test_profile(), response_window=2)
    config = kit.node_config(tmp_path, kit.genesis([100_000] * 6, clp=clp, chain_id=CHAIN), peers=5)
    n = ValidatorNode(config)
    for h in (1, 2):
        members = sorted(n.state.committee_for_height(h) or {})
        n.state.apply_block(Block(CHAIN, h, n.state.head_hash, members[h % 6], (), 1000 * h))
    n._start_height()
    return n


def _response_frames(node: ValidatorNode) -> dict[str, int]:
    prefix = b'{"type":"clp_response"'
    return {
        a: sum(1 for f in node.net._links[a]._queue if f[4:].startswith(prefix))
        for a in node._peer_addrs
    }


def _response_of(node: ValidatorNode, key: Any) -> dict[str, Any]:
    challenge = next(iter(node.state.clp.open_challenges()))
    r = node.state.clp.handler.create_response(key, challenge)
    return {"type": "clp_response", **r.to_json()}


async def test_a_peers_response_is_relayed_late_to_the_next_proposers_only(
    six: ValidatorNode, kit: SimpleNamespace
) -> None:
    sender = kit.keys[1].address
    six._on_message(sender, _response_of(six, kit.keys[1]))
    assert len(six.pool) == 1
    six._gossip_tick(time.monotonic())
    assert sum(_response_frames(six).values()) == 0  # its signer sent it to everyone
    six._gossip_tick(time.monotonic() + RELAY_AFTER_S)
    assert sum(_response_frames(six).values()) == 0  # no block went by without it yet
    members = sorted(six.state.committee_for_height(3) or {})
    six.state.apply_block(Block(CHAIN, 3, six.state.head_hash, members[3], (), 3000))
    six._gossip_tick(time.monotonic())
    assert sum(_response_frames(six).values()) == 0  # a block without it, but still young
    six._gossip_tick(time.monotonic() + RELAY_AFTER_S)
    proposers = six._upcoming_proposers()
    assert len(proposers) == 2  # the response window
    got = {a for a, n in _response_frames(six).items() if n}
    assert got == (proposers - {sender, six.address}) and got
    six._gossip_tick(time.monotonic() + RELAY_AFTER_S)  # not again before a resend is due
    assert sum(_response_frames(six).values()) == len(got)


async def test_a_clients_response_goes_to_every_peer_at_once(
    six: ValidatorNode, kit: SimpleNamespace
) -> None:
    body = _response_of(six, kit.keys[2])
    del body["type"]
    assert six.submit_response(body) is None
    assert _response_frames(six) == dict.fromkeys(six._peer_addrs, 1)


async def test_our_own_response_is_sent_once_then_again_only_when_a_resend_is_due(
    six: ValidatorNode,
) -> None:
    own = next(iter(six.state.clp.open_challenges()))
    r = six.state.clp.handler.create_response(six.key, own)
    six._pool(r)
    six._gossip_response(r, time.monotonic())
    assert _response_frames(six) == dict.fromkeys(six._peer_addrs, 1)
    six._gossip_tick(time.monotonic())
    assert _response_frames(six) == dict.fromkeys(six._peer_addrs, 1)
    six._gossip_tick(time.monotonic() + RESPONSE_RESEND_AFTER_S)
    assert _response_frames(six) == dict.fromkeys(six._peer_addrs, 2)


async def test_only_a_claim_above_our_height_starts_a_sync(
    node: ValidatorNode, kit: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    asks: list[None] = []
    monkeypatch.setattr(node, "_maybe_sync", lambda: asks.append(None))
    peer = kit.keys[1].address
    node._note_peer_height(peer, node.state.height)  # what every message of a peer says
    assert asks == [] and node.peer_heights.claim(peer) == node.state.height
    node._note_peer_height(peer, node.state.height + 3)
    assert len(asks) == 1
