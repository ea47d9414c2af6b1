"""What a peer is known to hold (gossip.py) and how a frame is decoded, once (wire.py).

The relay and the response pool that use them: test_node_relay.py, test_node_responses.py.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from clp_node.consensus.types import Vote, VoteType
from clp_node.gossip import PeerKnowledge, SeenFrames
from clp_node.net.framing import FrameNotJson, FrameNotObject, encode_payload
from clp_node.wire import (
    CONSENSUS_PREFIX,
    Consensus,
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


def test_facts_a_peer_showed_are_held_until_their_height_is_pruned() -> None:
    k = PeerKnowledge(resend_after=2.0)
    k.learned("p", 5, [("polka", 0, D1), ("proposal", 0, D1)])
    assert k.holds("p", 5, ("polka", 0, D1))
    assert not k.holds("p", 5, ("polka", 1, D1))  # another round
    assert not k.holds("q", 5, ("polka", 0, D1))  # another peer
    assert not k.holds("p", 6, ("polka", 0, D1))  # another height
    k.prune(6)
    assert not k.holds("p", 5, ("polka", 0, D1))
