"""The node put together: each inbound frame reaches its part, each part reaches the wire.

Every part is tested alone beside this file (test_node_driver, _relay, _responses, _sync,
_votelog); here a real ValidatorNode (built, not started: its links queue what it sends).
"""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from clp_node.chain.block import Block
from clp_node.consensus.types import Proposal, Vote, VoteType
from clp_node.net.framing import encode_payload
from clp_node.node import ValidatorNode
from clp_node.wire import Consensus, Duplicate, decode_inbound, encode_consensus, frame_digest


@pytest.fixture
def fresh(tmp_path: Path, kit: SimpleNamespace) -> ValidatorNode:
    """KEYS[0] of a 4-validator genesis with KEYS[1..3] as peers; nothing is started."""
    config = kit.node_config(tmp_path, kit.genesis([100_000] * 4), peers=3)
    n = ValidatorNode(config)
    n.replay()
    return n


@pytest.fixture
def node(fresh: ValidatorNode, kit: SimpleNamespace) -> ValidatorNode:
    """``fresh``, and every peer's first status has come (height 0): a height may start."""
    for k in kit.keys[1:4]:
        fresh._on_message(k.address, {"type": "status", "height": 0})
    return fresh


def _queued(node: ValidatorNode) -> dict[str, int]:
    return {p: node.net.queued(p) for p in node.relay.peers}


def _rejected(node: ValidatorNode, reason: str) -> float:
    value = node.metrics.registry.get_sample_value(
        "alphaos_p2p_frames_rejected_total", {"reason": reason}
    )
    return value or 0.0


async def test_a_copy_is_dropped_undecoded_and_its_sender_counts_as_holding_it(
    node: ValidatorNode, kit: SimpleNamespace
) -> None:
    node.driver.start_height()
    v = Vote.create(
        "t", VoteType.PREVOTE, 1, 0, b"\x07" * 32, kit.keys[1].address, kit.keys[1].sign
    )
    payload = encode_payload(encode_consensus(v))
    first = node._decode_frame(payload)
    assert isinstance(first, Consensus)
    node._on_message(kit.keys[1].address, first)
    again = node._decode_frame(payload)
    assert again == Duplicate(frame_digest(payload), 1)
    node._on_message(kit.keys[2].address, again)
    assert node.consensus_status()["gossip"]["duplicates_dropped"] == 1
    digest = frame_digest(payload)
    for sender in (kit.keys[1].address, kit.keys[2].address):
        assert not node.relay.knowledge.needs(sender, 1, digest, 0, time.monotonic())
    assert node.relay.knowledge.needs(kit.keys[3].address, 1, digest, 0, time.monotonic())


async def test_a_proposal_brings_our_prevote_to_every_peer_once(
    node: ValidatorNode, kit: SimpleNamespace
) -> None:
    node.driver.start_height()
    proposer = kit.keys[1]
    chain = node.genesis.chain_id
    block = Block(chain, 1, node.state.head_hash, proposer.address, (), int(time.time() * 1000))
    p = Proposal.create(chain, 1, 0, block.hash, block, -1, proposer.address, proposer.sign)
    before = _queued(node)
    node._on_message(proposer.address, decode_inbound(encode_payload(encode_consensus(p))))
    after = _queued(node)
    assert {a: after[a] - before[a] for a in after} == dict.fromkeys(after, 1)
    assert node.peer_heights.claim(proposer.address) == 0  # its proposal claims height 0
    assert node.store.signed_messages(1)  # our prevote was logged before it left
    node._gossip_tick(time.monotonic())  # our prevote is not due again yet; a status is
    assert _queued(node) == {a: n + 1 for a, n in after.items()}


async def test_a_claim_above_ours_asks_that_peer_for_blocks(
    node: ValidatorNode, kit: SimpleNamespace
) -> None:
    peer = kit.keys[2].address
    before = _queued(node)
    node._on_message(peer, {"type": "status", "height": 5})
    assert node.peer_heights.claim(peer) == 5
    assert {a: n - before[a] for a, n in _queued(node).items() if n != before[a]} == {peer: 1}


async def test_each_other_frame_reaches_its_part(node: ValidatorNode, kit: SimpleNamespace) -> None:
    peer = kit.keys[1].address
    node._on_message(peer, {"type": "sync_request", "from": 1, "to": 3})
    assert _queued(node)[peer] == 0  # we hold no block yet: nothing to serve
    node._on_message(peer, {"type": "sync_request", "from": 0, "to": 3})
    assert _rejected(node, "bad_message") == 1
    node._on_message(peer, {"type": "sync_response", "blocks": []})
    node._on_message(peer, {"type": "clp_response", "validator": "nope"})
    assert node.consensus_status()["pool"] == 0
    assert _rejected(node, "bad_message") == 1  # a response is judged by the pool, not here
    node._on_message(peer, {"type": "gossip_of_the_day"})
    assert _rejected(node, "unknown_type") == 1


async def test_a_node_signs_nothing_before_its_peers_claim_then_syncs_first(
    fresh: ValidatorNode, kit: SimpleNamespace
) -> None:
    """§16.5: on an empty store, height 1 waits for the peers' claims; they show it (and
    more) finalized, so the node asks for blocks instead of signing at 1."""
    node = fresh
    node.driver.start_height()
    assert node.core.height == 0 and node.consensus_status()["held"] == 1
    before = _queued(node)
    for i, k in enumerate(kit.keys[1:4]):
        node._on_message(k.address, {"type": "status", "height": 5 + i})
    node._gossip_tick(time.monotonic())
    assert node.core.height == 0 and node.consensus_status()["held"] == 1
    assert node.store.signed_messages(1) == []  # nothing signed, nothing logged
    sent = sorted(n - before[p] for p, n in _queued(node).items())
    assert sent == [1, 1, 2]  # a status to each peer and one sync request: no vote


async def test_the_consensus_status_shows_every_part(node: ValidatorNode) -> None:
    node.driver.start_height()
    status = node.consensus_status()
    assert status["height"] == 0 and status["core_height"] == 1
    assert set(status["gossip"]) == {"duplicates_dropped", "frames_sent", "relays_held"}
    assert {"peer_heights", "pool", "net", "consensus_counters", "faults"} <= set(status)


async def test_double_sign_sends_and_serves_two_prevotes_then_turns_itself_off(
    node: ValidatorNode, kit: SimpleNamespace
) -> None:
    from clp_node.api.server import TestFaults

    node.faults = TestFaults(double_sign=True)
    node.driver.start_height()
    proposer = kit.keys[1]
    chain = node.genesis.chain_id
    block = Block(chain, 1, node.state.head_hash, proposer.address, (), int(time.time() * 1000))
    p = Proposal.create(chain, 1, 0, block.hash, block, -1, proposer.address, proposer.sign)
    before = _queued(node)
    node._on_message(proposer.address, decode_inbound(encode_payload(encode_consensus(p))))
    after = _queued(node)
    assert {a: after[a] - before[a] for a in after} == dict.fromkeys(after, 2)  # both left
    assert node.faults.double_sign is False
    theirs = Vote.create(chain, VoteType.PREVOTE, 1, 0, block.hash, proposer.address, proposer.sign)
    node._on_message(proposer.address, decode_inbound(encode_payload(encode_consensus(theirs))))
    served = node.held_votes(1, 1)
    mine = [v["block_hash"] for v in served if v["validator"] == node.address]
    assert mine == [None, block.hash.hex()]  # nil first, then the block
    assert [v["validator"] for v in served].count(proposer.address) == 1
    assert node.vote_window() == (1, 1)
    node.height_started(2)  # height 1 is archived: still served, the other one no more live
    assert node.held_votes(1, 1) == served
