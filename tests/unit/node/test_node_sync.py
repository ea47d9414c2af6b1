"""Block sync alone: whom it asks for which blocks, what it serves, what it applies."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from node_fakes import FakeLinks

from clp_node.api.metrics import NodeMetrics
from clp_node.chain.block import Block
from clp_node.chain.genesis import Genesis
from clp_node.chain.state import ChainState, InvalidBlock
from clp_node.consensus.types import (
    CommitCertificate,
    InvalidCertificate,
    ValidatorSet,
    Vote,
    VoteType,
)
from clp_node.store.sqlite import StoredBlock
from clp_node.sync import (
    MAX_HEIGHT,
    STARTUP_GRACE_S,
    STATUS_EVERY_S,
    SYNC_BATCH,
    SYNC_RETRY_S,
    BlockSync,
    PeerHeights,
    StartGate,
)

CHAIN = "t"


def test_a_claim_must_be_a_height_and_each_replaces_the_last() -> None:
    h = PeerHeights()
    for bad in (True, -1, MAX_HEIGHT + 1, "7", 2.0, None):
        assert not h.note("p", bad)
    assert h.claim("p") is None
    assert h.note("p", 9) and h.note("p", 4)  # a peer that fell back says so
    assert h.claim("p") == 4 and h.ahead_of(3) == {"p": 4} and h.ahead_of(4) == {}
    h.unanswered("p", 2)
    assert h.claim("p") == 2  # lost until it claims again
    h.unanswered("p", 5)
    assert h.claim("p") == 2  # never raised
    assert h.to_json() == {"p": 2}


def test_reach_is_the_highest_claim_of_a_peer_that_left_nothing_unserved() -> None:
    h = PeerHeights()
    assert h.reach() == 0
    h.note("a", 40)
    h.note("b", 7)
    assert h.reach() == 40
    h.unanswered("a", 3)  # it did not serve what it claimed
    h.note("a", 90)  # and claims again: whom to ask, but it no longer counts
    assert h.ahead_of(3) == {"a": 90, "b": 7} and h.reach() == 7
    h.served("a")  # it served a block we applied
    assert h.reach() == 90


def test_the_first_height_starts_only_above_every_counted_claim() -> None:
    h = PeerHeights()
    gate = StartGate([], h)  # no peers: nothing to wait for at start
    h.note("a", 5)
    assert not gate.allows(5, 0.0)  # a restarted node syncs before it signs
    h.unanswered("a", 0)  # a claim its peer could not serve counts no more
    assert gate.allows(5, 0.0)


def test_once_a_height_started_no_claim_holds_the_next() -> None:
    h = PeerHeights()
    gate = StartGate([], h)
    h.note("a", 5)
    assert gate.allows(6, 0.0)
    h.note("a", 9)  # the peers decided 7 before our block interval was over
    assert gate.allows(7, 0.0)  # our vote log covers what we sign: start, do not stall


def test_the_first_height_waits_for_every_peers_claim() -> None:
    h = PeerHeights()
    gate = StartGate(["a", "b"], h)
    assert not gate.allows(1, 100.0)  # the grace starts with the first ask
    h.note("a", 0)
    assert not gate.allows(1, 100.0 + STARTUP_GRACE_S / 2)
    h.note("b", 3)  # every peer has claimed: b finalized up to 3
    assert not gate.allows(1, 100.0 + STARTUP_GRACE_S / 2)
    assert gate.allows(4, 100.0 + STARTUP_GRACE_S / 2)


def test_a_silent_peer_holds_the_first_height_only_for_the_grace() -> None:
    h = PeerHeights()
    gate = StartGate(["a", "b"], h)
    h.note("a", 0)
    assert not gate.allows(1, 10.0)
    assert not gate.allows(1, 10.0 + STARTUP_GRACE_S - 0.01)
    assert gate.allows(1, 10.0 + STARTUP_GRACE_S)
    assert gate.allows(1, 10.0 + STARTUP_GRACE_S + 1)  # start-up is over for good


class Chain:
    """Blocks 1.. of a 4-validator genesis with certificates by KEYS[0..2]."""

    def __init__(self, kit: SimpleNamespace, length: int) -> None:
        self.genesis: Genesis = kit.genesis([100_000] * 4, chain_id=CHAIN)
        self.keys = kit.keys[:4]
        source = ChainState(self.genesis)
        self.blocks: list[Block] = []
        for h in range(1, length + 1):
            members = sorted(source.committee_for_height(h) or {})
            block = Block(CHAIN, h, source.head_hash, members[h % 4], (), 1000 * h)
            source.apply_block(block)
            self.blocks.append(block)

    def validator_set(self, height: int) -> ValidatorSet:
        return ValidatorSet({k.address: (k.public_key, 100_000) for k in self.keys})

    def certificate(self, block: Block, signers: int = 3) -> CommitCertificate:
        votes = tuple(
            Vote.create(CHAIN, VoteType.PRECOMMIT, block.height, 0, block.hash, k.address, k.sign)
            for k in self.keys[:signers]
        )
        return CommitCertificate(block.height, 0, block.hash, votes)

    def entry(self, height: int, **change: Any) -> dict[str, Any]:
        block = self.blocks[height - 1]
        entry = {"block": block.to_json(), "certificate": self.certificate(block).to_json()}
        return {**entry, **change}


class FakeStore:
    """Blocks by height; remembers each range asked for."""

    def __init__(self, chain: Chain, head: int) -> None:
        self.chain, self.head = chain, head
        self.asked: list[tuple[int, int]] = []

    def range(self, start: int, end: int) -> list[StoredBlock]:
        self.asked.append((start, end))
        return [
            StoredBlock(h, self.chain.entry(h)["block"], self.chain.entry(h)["certificate"])
            for h in range(start, min(end, self.head) + 1)
        ]


class Sync(SimpleNamespace):
    sync: BlockSync
    state: ChainState
    links: FakeLinks
    store: FakeStore
    metrics: NodeMetrics
    chain: Chain
    committed: list[int]
    restarts: list[int]
    refuse: set[int]


@pytest.fixture
def s(kit: SimpleNamespace) -> Sync:
    chain = Chain(kit, 40)
    state = ChainState(chain.genesis)
    peers = [k.address for k in kit.keys[1:4]]
    links = FakeLinks(peers)
    store = FakeStore(chain, head=0)
    metrics = NodeMetrics()
    committed: list[int] = []
    restarts: list[int] = []
    refuse: set[int] = set()

    def commit(block: Block, cert: CommitCertificate) -> None:
        if block.height in refuse:
            raise InvalidBlock("TIME_NOT_MONOTONIC", "refused here")
        state.apply_block(block)
        committed.append(block.height)

    sync = BlockSync(
        state,
        store,
        links,
        PeerHeights(),
        metrics,
        chain.validator_set,
        commit,
        lambda: restarts.append(state.height),
    )
    return Sync(
        sync=sync,
        state=state,
        links=links,
        store=store,
        metrics=metrics,
        chain=chain,
        committed=committed,
        restarts=restarts,
        refuse=refuse,
    )


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [100.0]
    monkeypatch.setattr("clp_node.sync.time.monotonic", lambda: now[0])
    return now


def _asks(s: Sync) -> list[tuple[str, int, int]]:
    got = [(p, m["from"], m["to"]) for p, m in s.links.messages if m["type"] == "sync_request"]
    s.links.messages.clear()
    return got


def test_only_a_claim_above_our_height_starts_a_sync(s: Sync, clock: list[float]) -> None:
    peer = s.links.peers[0]
    s.sync.note_peer_height(peer, 0)  # what every message of a peer at our height says
    s.sync.note_peer_height(peer, "high")  # not a height: ignored
    assert _asks(s) == [] and s.sync.peer_heights.claim(peer) == 0
    s.sync.note_peer_height(peer, 3)
    assert _asks(s) == [(peer, 1, 3)]


def test_one_ask_at_a_time_of_at_most_a_batch(s: Sync, clock: list[float]) -> None:
    a, b = s.links.peers[:2]
    s.sync.note_peer_height(a, 100)
    assert _asks(s) == [(a, 1, SYNC_BATCH)]
    s.sync.note_peer_height(b, 100)
    s.sync.maybe_sync()
    assert _asks(s) == []  # in flight for SYNC_RETRY_S


def test_a_peer_that_left_an_ask_unanswered_loses_its_claim(s: Sync, clock: list[float]) -> None:
    peer = s.links.peers[0]
    s.sync.note_peer_height(peer, 5)
    assert _asks(s) == [(peer, 1, 5)]
    clock[0] += SYNC_RETRY_S
    s.sync.maybe_sync()
    assert _asks(s) == [] and s.sync.peer_heights.claim(peer) == 0
    s.sync.note_peer_height(peer, 5)  # a new claim counts again
    assert _asks(s) == [(peer, 1, 5)]


def test_verified_blocks_are_committed_in_order_then_consensus_restarts(
    s: Sync, clock: list[float]
) -> None:
    peer = s.links.peers[0]
    s.sync.note_peer_height(peer, 3)
    _asks(s)
    s.sync.on_response(peer, {"blocks": [s.chain.entry(h) for h in (1, 2, 3)]})
    assert s.committed == [1, 2, 3] and s.restarts == [3]
    assert s.metrics.registry.get_sample_value("alphaos_chain_blocks_synced_total") == 3
    assert _asks(s) == []  # nobody claims more: the sync is done
    s.sync.on_response(peer, {"blocks": [s.chain.entry(2), s.chain.entry(5)]})
    assert s.committed == [1, 2, 3] and s.restarts == [3]  # old, then a gap: nothing


def test_a_peer_that_serves_a_block_counts_again(s: Sync, clock: list[float]) -> None:
    peer = s.links.peers[0]
    s.sync.note_peer_height(peer, 3)
    _asks(s)
    clock[0] += SYNC_RETRY_S
    s.sync.maybe_sync()  # unanswered: its claims stop counting
    s.sync.note_peer_height(peer, 3)
    assert s.sync.peer_heights.reach() == 0
    s.sync.on_response(peer, {"blocks": [s.chain.entry(1)]})
    assert s.committed == [1] and s.sync.peer_heights.reach() == 3


def test_after_a_batch_the_next_is_asked_at_once(s: Sync, clock: list[float]) -> None:
    peer = s.links.peers[0]
    s.sync.note_peer_height(peer, 40)
    assert _asks(s) == [(peer, 1, SYNC_BATCH)]
    s.sync.on_response(peer, {"blocks": [s.chain.entry(h) for h in range(1, 33)]})
    assert _asks(s) == [(peer, 33, 40)]


@pytest.mark.parametrize(
    "change",
    [
        "another_block",
        "too_few_signers",
        "forged",
    ],
)
def test_a_block_without_its_certificate_is_the_senders_bad_message(s: Sync, change: str) -> None:
    block = s.chain.blocks[0]
    if change == "another_block":
        cert = s.chain.certificate(s.chain.blocks[1]).to_json()
    elif change == "too_few_signers":
        cert = s.chain.certificate(block, signers=2).to_json()
    else:
        cert = s.chain.certificate(block).to_json()
        cert["votes"][0]["signature"] = "00" * 64
    with pytest.raises(InvalidCertificate):
        s.sync.on_response(s.links.peers[0], {"blocks": [s.chain.entry(1, certificate=cert)]})
    assert s.committed == [] and s.restarts == []


def test_a_block_the_chain_refuses_ends_the_batch_and_keeps_what_came_before(
    s: Sync, caplog: pytest.LogCaptureFixture
) -> None:
    s.refuse.add(2)
    s.sync.on_response(s.links.peers[0], {"blocks": [s.chain.entry(h) for h in (1, 2, 3)]})
    assert s.committed == [1] and s.restarts == [1]
    assert "sync.invalid_block" in caplog.text


@pytest.mark.parametrize("msg", [{}, {"blocks": {}}, {"blocks": [7]}])
def test_a_malformed_sync_response_is_refused(s: Sync, msg: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        s.sync.on_response(s.links.peers[0], msg)


def test_we_serve_at_most_a_batch_and_never_past_our_head(s: Sync) -> None:
    s.store.head = 40
    for h in range(1, 41):
        s.state.apply_block(s.chain.blocks[h - 1])
    peer = s.links.peers[1]
    s.sync.serve(peer, {"from": 39, "to": 2**70})
    s.sync.serve(peer, {"from": 1, "to": 100})
    s.sync.serve(peer, {"from": 41, "to": 50})  # beyond our head: nothing, not even a query
    assert s.store.asked == [(39, 40), (1, SYNC_BATCH)]
    sent = [m for p, m in s.links.messages if p == peer]
    assert [len(m["blocks"]) for m in sent] == [2, SYNC_BATCH]
    assert sent[0]["blocks"][0] == s.chain.entry(39)


@pytest.mark.parametrize(
    "msg", [{}, {"from": 0, "to": 3}, {"from": 3, "to": 2}, {"from": "1", "to": 2}]
)
def test_a_malformed_sync_request_is_refused(s: Sync, msg: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        s.sync.serve(s.links.peers[0], msg)
    assert s.store.asked == []


def test_our_height_is_announced_once_a_second(s: Sync) -> None:
    s.sync.announce(1000.0)
    s.sync.announce(1000.0 + STATUS_EVERY_S / 2)
    s.state.apply_block(s.chain.blocks[0])
    s.sync.announce(1000.0 + STATUS_EVERY_S)
    assert s.links.broadcasts == [
        {"type": "status", "height": 0},
        {"type": "status", "height": 1},
    ]
