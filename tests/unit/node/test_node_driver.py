"""The consensus driver alone: heights started, proposals built and judged, blocks committed."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from clp_node.api.metrics import NodeMetrics
from clp_node.chain.block import Block
from clp_node.chain.genesis import ConsensusParams, Genesis
from clp_node.chain.keys import ValidatorKey
from clp_node.chain.state import AppliedBlock, ChainState
from clp_node.clp.types import ClpConfig, ClpResponse
from clp_node.consensus.types import CommitCertificate, Proposal, Vote, VoteType
from clp_node.consensus_driver import MAX_CLOCK_DRIFT_MS, ConsensusDriver
from clp_node.store.sqlite import BlockStore, StoreError

CHAIN = "t"
# Short rounds, so a test waits for a timer in tens of milliseconds.
FAST = ConsensusParams(
    block_interval_ms=20,
    timeout_propose_ms=60,
    timeout_prevote_ms=60,
    timeout_precommit_ms=60,
    timeout_delta_ms=20,
)


class FakeHost:
    """The node around the driver (consensus_driver.DriverHost), as records."""

    def __init__(self) -> None:
        self.clock_ms = int(time.time() * 1000)
        self.sent: list[Proposal | Vote] = []
        self.started: list[int] = []
        self.applied: list[AppliedBlock] = []
        self.responses: list[ClpResponse] = []
        self.restore: dict[int, list[Proposal | Vote]] = {}
        self.double_sign = False  # the §14 hook
        self.conflicting: list[Vote] = []  # what double_signed let out
        self.finalized_elsewhere = 0  # the peers' claims: no height up to it may start

    def now_ms(self) -> int:
        return self.clock_ms

    def may_start(self, height: int) -> bool:
        return height > self.finalized_elsewhere

    def broadcast(self, message: Proposal | Vote) -> None:
        self.sent.append(message)

    def block_responses(self, height: int) -> list[ClpResponse]:
        return self.responses

    def height_started(self, height: int) -> list[Proposal | Vote]:
        self.started.append(height)
        return self.restore.get(height, [])

    def block_applied(self, applied: AppliedBlock) -> None:
        self.applied.append(applied)

    def take_double_sign(self) -> bool:
        armed, self.double_sign = self.double_sign, False
        return armed

    def double_signed(self, second: Vote) -> None:
        self.conflicting.append(second)

    def votes(self, kind: VoteType) -> list[Vote]:
        return [m for m in self.sent if isinstance(m, Vote) and m.type is kind]


class Node(SimpleNamespace):
    driver: ConsensusDriver
    host: FakeHost
    state: ChainState
    store: BlockStore
    metrics: NodeMetrics
    stop: asyncio.Event
    key: ValidatorKey


@pytest.fixture
def genesis(kit: SimpleNamespace) -> Genesis:
    g: Genesis = kit.genesis([100_000] * 4, chain_id=CHAIN)
    return dataclasses.replace(g, consensus=FAST)


@pytest.fixture
def make(tmp_path: Path, genesis: Genesis) -> Iterator[Callable[..., Node]]:
    """A driver for ``key`` on its own store (``name``: its folder)."""
    stores: list[BlockStore] = []

    def build(key: ValidatorKey, name: str = "a") -> Node:
        (tmp_path / name).mkdir(exist_ok=True)
        store = BlockStore(tmp_path / name / "chain.sqlite")
        stores.append(store)
        state, host, metrics, stop = ChainState(genesis), FakeHost(), NodeMetrics(), asyncio.Event()
        driver = ConsensusDriver(key, genesis, state, store, metrics, host, stop)
        return Node(
            driver=driver, host=host, state=state, store=store, metrics=metrics, stop=stop, key=key
        )

    yield build
    for store in stores:
        store.close()


def _keys(kit: SimpleNamespace) -> list[ValidatorKey]:
    keys: list[ValidatorKey] = kit.keys[:4]
    return keys


def _proposer(kit: SimpleNamespace, n: Node, height: int, round_: int = 0) -> ValidatorKey:
    addr = n.driver.validator_set(height).proposer(height, round_)
    return next(k for k in _keys(kit) if k.address == addr)


def _not_proposer(kit: SimpleNamespace, make: Callable[..., Node]) -> Node:
    probe = make(kit.keys[0], "probe")
    proposer = _proposer(kit, probe, 1)
    return make(next(k for k in _keys(kit) if k != proposer))


def _block(n: Node, proposer: ValidatorKey, time_ms: int | None = None, **change: object) -> Block:
    s = n.state
    block = Block(
        CHAIN, s.next_height, s.head_hash, proposer.address, (), time_ms or n.host.clock_ms
    )
    return dataclasses.replace(block, **change) if change else block


def _propose(n: Node, proposer: ValidatorKey, block: Block) -> Proposal:
    p = Proposal.create(
        CHAIN, block.height, 0, block.hash, block, -1, proposer.address, proposer.sign
    )
    n.driver.handle(p)
    return p


def _votes(n: Node, kit: SimpleNamespace, kind: VoteType, block: Block) -> None:
    for k in _keys(kit):
        if k != n.key:
            n.driver.handle(
                Vote.create(CHAIN, kind, block.height, 0, block.hash, k.address, k.sign)
            )


async def _until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


async def test_our_proposal_carries_the_pool_and_our_clock(
    kit: SimpleNamespace, make: Callable[..., Node]
) -> None:
    probe = make(kit.keys[0], "probe")
    n = make(_proposer(kit, probe, 1))
    n.host.clock_ms = 5_000_000
    n.driver.start_height()
    assert n.host.started == [1]
    proposal = n.host.sent[0]
    assert isinstance(proposal, Proposal) and isinstance(proposal.block, Block)
    assert (proposal.block.proposer, proposal.block.time_ms) == (n.key.address, 5_000_000)
    assert proposal.block.responses == ()
    # ... and we prevote it: our own proposal is judged like any other
    assert [v.block_hash for v in n.host.votes(VoteType.PREVOTE)] == [proposal.block_hash]


async def test_a_decided_height_is_stored_applied_and_the_next_starts_after_the_interval(
    kit: SimpleNamespace, make: Callable[..., Node], caplog: pytest.LogCaptureFixture
) -> None:
    n = _not_proposer(kit, make)
    n.driver.start_height()
    block = _block(n, _proposer(kit, n, 1))
    _propose(n, _proposer(kit, n, 1), block)
    assert [v.block_hash for v in n.host.votes(VoteType.PREVOTE)] == [block.hash]
    with caplog.at_level(logging.INFO, logger="clp_node"):
        _votes(n, kit, VoteType.PREVOTE, block)
        _votes(n, kit, VoteType.PRECOMMIT, block)
    assert n.state.height == 1 and n.store.head_height() == 1
    stored = n.store.get(1)
    assert stored is not None and stored.block == json.loads(json.dumps(block.to_json()))
    CommitCertificate.from_json(stored.certificate).verify(CHAIN, n.driver.validator_set(1))
    assert [a.height for a in n.host.applied] == [1]
    assert "chain.block_committed" in [getattr(r, "event", None) for r in caplog.records]
    assert n.metrics.registry.get_sample_value("alphaos_chain_height") == 1
    assert n.host.started == [1]  # the block interval first
    await _until(lambda: n.host.started == [1, 2])


async def test_an_untimely_or_invalid_proposal_gets_a_nil_prevote(
    kit: SimpleNamespace, make: Callable[..., Node], caplog: pytest.LogCaptureFixture
) -> None:
    n = _not_proposer(kit, make)
    n.driver.start_height()
    proposer = _proposer(kit, n, 1)
    late = n.host.clock_ms - MAX_CLOCK_DRIFT_MS - 1
    with caplog.at_level(logging.WARNING, logger="clp_node"):
        _propose(n, proposer, _block(n, proposer, time_ms=late))
    assert [v.block_hash for v in n.host.votes(VoteType.PREVOTE)] == [None]
    assert [getattr(r, "event", None) for r in caplog.records] == ["consensus.untimely_proposal"]

    m = _not_proposer(kit, make)  # another node of the same height
    m.driver.start_height()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="clp_node"):
        _propose(m, proposer, _block(m, proposer, parent_hash=b"\x01" * 32))
    assert [v.block_hash for v in m.host.votes(VoteType.PREVOTE)] == [None]
    assert [getattr(r, "event", None) for r in caplog.records] == ["consensus.invalid_proposal"]


async def test_a_proposal_within_the_drift_is_timely(
    kit: SimpleNamespace, make: Callable[..., Node]
) -> None:
    n = _not_proposer(kit, make)
    n.driver.start_height()
    proposer = _proposer(kit, n, 1)
    block = _block(n, proposer, time_ms=n.host.clock_ms + MAX_CLOCK_DRIFT_MS)
    _propose(n, proposer, block)
    assert [v.block_hash for v in n.host.votes(VoteType.PREVOTE)] == [block.hash]


async def test_round_timers_do_nothing_once_the_node_stops(
    kit: SimpleNamespace, make: Callable[..., Node]
) -> None:
    stopped = _not_proposer(kit, make)
    running = make(stopped.key, "b")
    stopped.driver.start_height()  # its propose timeout is armed first, so fires first
    running.driver.start_height()
    stopped.stop.set()
    await _until(lambda: bool(running.host.votes(VoteType.PREVOTE)))  # nil on the timeout
    assert stopped.host.sent == []


async def test_synced_blocks_restart_the_height_at_once(
    kit: SimpleNamespace, make: Callable[..., Node]
) -> None:
    n = _not_proposer(kit, make)
    n.driver.start_height()
    for _ in range(2):  # two blocks decided elsewhere, with their certificates
        _decided_elsewhere(n, kit)
    n.driver.restart_height()
    assert n.host.started == [1, 3] and n.driver.core.height == 3
    assert [a.height for a in n.host.applied] == [1, 2]


def _decided_elsewhere(n: Node, kit: SimpleNamespace) -> Block:
    """The next block, committed here as if it came by sync with its certificate."""
    proposer = _proposer(kit, n, n.state.next_height)
    block = _block(n, proposer)
    votes = tuple(
        Vote.create(CHAIN, VoteType.PRECOMMIT, block.height, 0, block.hash, k.address, k.sign)
        for k in _keys(kit)[:3]
    )
    n.driver.commit(block, CommitCertificate(block.height, 0, block.hash, votes))
    return block


async def test_a_height_a_peer_shows_finalized_is_held_and_nothing_is_signed_at_it(
    kit: SimpleNamespace, make: Callable[..., Node]
) -> None:
    probe = make(kit.keys[0], "probe")
    n = make(_proposer(kit, probe, 1))  # it would propose at once
    n.host.finalized_elsewhere = 2  # a peer claims height 2: our store is behind (§16.5)
    n.driver.start_height()
    assert (n.host.started, n.host.sent, n.driver.core.height, n.driver.held) == ([], [], 0, 1)
    n.driver.resume()  # the tick: still held
    assert n.host.sent == [] and n.driver.held == 1
    _decided_elsewhere(n, kit)  # sync brings height 1; 2 is still finalized elsewhere
    n.driver.restart_height()
    assert (n.host.started, n.host.sent, n.driver.held) == ([], [], 2)
    _decided_elsewhere(n, kit)
    n.driver.restart_height()  # past every claim: height 3 starts
    assert n.host.started == [3] and n.driver.core.height == 3 and n.driver.held is None
    assert {m.height for m in n.host.sent} <= {3}


async def test_a_held_height_starts_on_the_tick_once_the_claims_allow(
    kit: SimpleNamespace, make: Callable[..., Node]
) -> None:
    n = _not_proposer(kit, make)
    n.host.finalized_elsewhere = 1  # e.g. a claim that went unserved, and no longer counts
    n.driver.start_height()
    assert n.host.started == [] and n.driver.held == 1
    n.host.finalized_elsewhere = 0
    n.driver.resume()
    assert n.host.started == [1] and n.driver.held is None
    n.driver.resume()  # started already: nothing again
    assert n.host.started == [1]
    await _until(lambda: bool(n.host.votes(VoteType.PREVOTE)))  # it signs at 1 now


async def test_resume_does_not_cut_the_block_interval_short(
    kit: SimpleNamespace, make: Callable[..., Node]
) -> None:
    n = _not_proposer(kit, make)
    n.driver.start_height()
    block = _block(n, _proposer(kit, n, 1))
    _propose(n, _proposer(kit, n, 1), block)
    _votes(n, kit, VoteType.PREVOTE, block)
    _votes(n, kit, VoteType.PRECOMMIT, block)
    assert n.state.height == 1
    n.driver.resume()  # nothing was held: height 2 waits for the block interval
    assert n.host.started == [1]
    await _until(lambda: n.host.started == [1, 2])


async def test_a_restart_replays_the_store_without_answering_again(
    kit: SimpleNamespace, make: Callable[..., Node], tmp_path: Path
) -> None:
    n = _not_proposer(kit, make)
    for _ in range(3):
        proposer = _proposer(kit, n, n.state.next_height)
        block = _block(n, proposer)
        votes = tuple(
            Vote.create(CHAIN, VoteType.PRECOMMIT, block.height, 0, block.hash, k.address, k.sign)
            for k in _keys(kit)[:3]
        )
        n.driver.commit(block, CommitCertificate(block.height, 0, block.hash, votes))
    n.store.close()
    again = make(n.key)  # the same folder: the same store
    assert again.driver.replay() == 3
    assert (again.state.height, again.state.head_hash) == (n.state.height, n.state.head_hash)
    assert again.host.applied == []  # the pool is not told: these blocks are old


async def test_a_store_that_does_not_replay_is_a_clear_error(
    kit: SimpleNamespace, make: Callable[..., Node]
) -> None:
    n = make(kit.keys[0])
    other = Block(CHAIN, 1, b"\x09" * 32, kit.keys[1].address, (), 1)  # a wrong parent
    n.store.append(1, other.hash.hex(), other.to_json(), {})
    with pytest.raises(StoreError, match="does not replay"):
        n.driver.replay()


async def test_the_next_proposers_are_those_of_the_response_window(
    kit: SimpleNamespace, tmp_path: Path
) -> None:
    """6 validators, a window of 2: the proposers of this round and the next."""
    clp = dataclasses.replace(ClpConfig.test_profile(), response_window=2)
    genesis = dataclasses.replace(
        kit.genesis([100_000] * 6, clp=clp, chain_id=CHAIN), consensus=FAST
    )
    store = BlockStore(tmp_path / "chain.sqlite")
    state = ChainState(genesis)
    args = (genesis, state, store, NodeMetrics(), FakeHost(), asyncio.Event())
    driver = ConsensusDriver(kit.keys[0], *args)
    driver.start_height()
    vs = driver.validator_set(1)
    assert driver.upcoming_proposers() == {vs.proposer(1, 0), vs.proposer(1, 1)}
    assert len(driver.upcoming_proposers()) == 2
    store.close()


async def test_double_sign_signs_one_conflicting_prevote_and_goes_on_with_the_first(
    kit: SimpleNamespace, make: Callable[..., Node]
) -> None:
    n = _not_proposer(kit, make)
    n.host.double_sign = True
    n.driver.start_height()
    block = _block(n, _proposer(kit, n, 1))
    _propose(n, _proposer(kit, n, 1), block)
    first = n.host.votes(VoteType.PREVOTE)
    assert [v.block_hash for v in first] == [block.hash]
    (second,) = n.host.conflicting
    assert (second.type, second.height, second.round) == (VoteType.PREVOTE, 1, 0)
    assert second.block_hash is None  # the first names a block: the other value is nil
    assert second.verify(CHAIN, n.key.public_key)
    assert not n.host.double_sign  # the hook turned itself off
    _votes(n, kit, VoteType.PREVOTE, block)  # consensus goes on with the first
    assert [v.block_hash for v in n.host.votes(VoteType.PRECOMMIT)] == [block.hash]
    assert len(n.host.conflicting) == 1


async def test_double_sign_after_a_nil_prevote_names_the_proposal(
    kit: SimpleNamespace, make: Callable[..., Node]
) -> None:
    n = _not_proposer(kit, make)
    n.host.double_sign = True
    n.driver.start_height()
    proposer = _proposer(kit, n, 1)
    late = _block(n, proposer, time_ms=n.host.clock_ms - MAX_CLOCK_DRIFT_MS - 1)
    _propose(n, proposer, late)
    assert [v.block_hash for v in n.host.votes(VoteType.PREVOTE)] == [None]
    assert [v.block_hash for v in n.host.conflicting] == [late.hash]
