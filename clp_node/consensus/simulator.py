"""A deterministic discrete-event simulator of TendermintCore nodes.

It plays the role of every node's shell: it delivers messages over links with per-link
delay, random drops and time-varying partitions, fires timeouts, crashes and restarts
nodes (with a write-ahead log of their own messages), re-gossips each node's own messages
and lets lagging nodes catch up from commit certificates. Simulated time only; all
randomness comes from one seeded ``random.Random``, so a seed reproduces a run exactly.
"""

from __future__ import annotations

import hashlib
import heapq
import random
import struct
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial

from clp_node.chain.keys import ValidatorKey
from clp_node.consensus.core import (
    Action,
    Broadcast,
    Decide,
    ScheduleTimeout,
    TendermintCore,
    TimeoutConfig,
)
from clp_node.consensus.types import CommitCertificate, Proposal, ValidatorSet, Vote

GENESIS_HASH = b"\x00" * 32
SYNC_BATCH = 8  # commits sent in answer to one status message


@dataclass(frozen=True)
class SimBlock:
    """A block that names its parent, so a node that diverged would reject later blocks."""

    height: int
    round: int
    proposer: str
    parent: bytes
    variant: int = 0  # lets a Byzantine proposer make conflicting, equally valid blocks

    def hash(self) -> bytes:
        data = (
            b"clp.simblock.v1"
            + struct.pack(">QQQ", self.height, self.round, self.variant)
            + self.proposer.encode()
            + self.parent
        )
        return hashlib.blake2b(data, digest_size=32).digest()


def sim_block_hash(block: object) -> bytes:
    if not isinstance(block, SimBlock):
        raise TypeError("not a SimBlock")
    return block.hash()


@dataclass(frozen=True)
class Partition:
    """While ``start_ms <= t < end_ms`` only nodes in one group can talk; a node in no group
    is isolated."""

    start_ms: int
    end_ms: int
    groups: tuple[frozenset[int], ...]

    def separates(self, a: int, b: int, t: int) -> bool:
        if not self.start_ms <= t < self.end_ms:
            return False
        return not any(a in g and b in g for g in self.groups)


@dataclass(frozen=True)
class Crash:
    """Node ``node`` stops at ``at_ms``; with ``recover_ms`` it restarts from its store + WAL."""

    node: int
    at_ms: int
    recover_ms: int | None = None

    def __post_init__(self) -> None:
        if self.recover_ms is not None and self.recover_ms <= self.at_ms:
            raise ValueError("a node recovers after it crashes")


@dataclass(frozen=True)
class SimConfig:
    powers: tuple[int, ...] = (1, 1, 1, 1)
    followers: int = 0
    seed: int = 0
    timeouts: TimeoutConfig = field(default_factory=TimeoutConfig.test_profile)
    min_delay_ms: int = 1
    max_delay_ms: int = 20
    link_delays: Mapping[tuple[int, int], tuple[int, int]] = field(default_factory=dict)
    drop_permille: int = 0
    drop_until_ms: int | None = None  # None: drops never stop
    partitions: tuple[Partition, ...] = ()
    crashes: tuple[Crash, ...] = ()
    byzantine: frozenset[int] = frozenset()  # validators that equivocate to each peer
    gossip_interval_ms: int = 250
    target_height: int = 10
    time_limit_ms: int = 60_000
    chain_id: str = "clp-sim"

    def __post_init__(self) -> None:
        if not self.powers or self.min_delay_ms < 0 or self.max_delay_ms < self.min_delay_ms:
            raise ValueError("need validators and 0 <= min_delay_ms <= max_delay_ms")
        if any(not 0 <= b < len(self.powers) for b in self.byzantine):
            raise ValueError("Byzantine nodes must be validators")
        if any(not 0 <= c.node < self.nodes for c in self.crashes):
            raise ValueError("crash of an unknown node")

    @property
    def nodes(self) -> int:
        return len(self.powers) + self.followers


@dataclass(frozen=True)
class _Status:
    sender: int
    next_height: int


@dataclass(frozen=True)
class _Commit:
    height: int
    certificate: CommitCertificate
    block: SimBlock


_Wire = Proposal | Vote | _Status | _Commit


@dataclass(frozen=True)
class SimResult:
    decisions: tuple[Mapping[int, bytes], ...]
    decision_times_ms: tuple[Mapping[int, int], ...]
    end_time_ms: int
    messages_sent: int
    messages_delivered: int
    messages_dropped: int
    evidence: int

    def heights(self) -> tuple[int, ...]:
        """Highest height each node decided (0: none). Decisions are contiguous per node."""
        return tuple(max(d, default=0) for d in self.decisions)

    def conflicts(self, among: Iterable[int] | None = None) -> dict[int, set[bytes]]:
        """Heights at which two of the nodes ``among`` (default all) decided different
        blocks: must always be empty for honest nodes."""
        by_height: dict[int, set[bytes]] = {}
        indices = range(len(self.decisions)) if among is None else among
        for d in (self.decisions[i] for i in indices):
            for h, block_hash in d.items():
                by_height.setdefault(h, set()).add(block_hash)
        return {h: s for h, s in by_height.items() if len(s) > 1}


class _Node:
    def __init__(self, index: int, key: ValidatorKey | None) -> None:
        self.index = index
        self.key = key
        self.address = None if key is None else key.address
        self.core: TendermintCore | None = None
        self.generation = 0
        self.up = True
        self.height = 0  # height being worked on
        self.decided: dict[int, tuple[SimBlock, CommitCertificate]] = {}
        self.decision_times: dict[int, int] = {}
        self.synced: dict[int, tuple[CommitCertificate, SimBlock]] = {}
        self.wal: list[Proposal | Vote] = []
        self.seen_hashes: dict[int, list[bytes]] = {}  # Byzantine nodes: blocks to vote for

    def parent_hash(self, height: int) -> bytes:
        return GENESIS_HASH if height <= 1 else self.decided[height - 1][0].hash()


class Simulator:
    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.now = 0
        self._seq = 0
        self._queue: list[tuple[int, int, Callable[[], None]]] = []
        keys = [
            ValidatorKey.from_seed_text(f"{config.chain_id}/validator/{i}")
            for i in range(len(config.powers))
        ]
        self.validators = ValidatorSet(
            {k.address: (k.public_key, p) for k, p in zip(keys, config.powers, strict=True)}
        )
        self.nodes = [_Node(i, keys[i] if i < len(keys) else None) for i in range(config.nodes)]
        self.sent = self.delivered = self.dropped = 0
        never_back = {c.node for c in config.crashes if c.recover_ms is None}
        self._must_finish = [n for n in self.nodes if n.index not in never_back]

    # --- event queue -----------------------------------------------------------------

    def _at(self, time_ms: int, event: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (time_ms, self._seq, event))

    def run(self) -> SimResult:
        cfg = self.config
        for node in self.nodes:
            self._new_core(node)
            self._at(0, partial(self._start, node, 1))
            first_gossip = cfg.gossip_interval_ms * (node.index + 1) // cfg.nodes
            self._at(first_gossip, partial(self._gossip, node))
        for crash in cfg.crashes:
            self._at(crash.at_ms, partial(self._crash, self.nodes[crash.node]))
            if crash.recover_ms is not None:
                self._at(crash.recover_ms, partial(self._recover, self.nodes[crash.node]))
        while self._queue and not self._done():
            time_ms, _, event = heapq.heappop(self._queue)
            if time_ms > cfg.time_limit_ms:
                break
            self.now = time_ms
            event()
        evidence = sum(len(n.core.evidence) for n in self.nodes if n.core is not None)
        return SimResult(
            decisions=tuple({h: b.hash() for h, (b, _) in n.decided.items()} for n in self.nodes),
            decision_times_ms=tuple(dict(n.decision_times) for n in self.nodes),
            end_time_ms=self.now,
            messages_sent=self.sent,
            messages_delivered=self.delivered,
            messages_dropped=self.dropped,
            evidence=evidence,
        )

    def _done(self) -> bool:
        """Every node that is not down for good has decided the target height."""
        return all(self.config.target_height in n.decided for n in self._must_finish)

    # --- node life -------------------------------------------------------------------

    def _new_core(self, node: _Node) -> None:
        node.generation += 1
        node.core = TendermintCore(
            self.config.chain_id,
            node.address,
            None if node.key is None else node.key.sign,
            self.config.timeouts,
            hash_of=sim_block_hash,
        )

    def _start(
        self, node: _Node, height: int, restore: list[Proposal | Vote] | None = None
    ) -> None:
        if not node.up or height <= node.height:
            return
        assert node.core is not None
        node.height = height
        if restore is None:
            node.wal = []

        def get_value(h: int, r: int) -> tuple[bytes, object]:
            assert node.address is not None
            block = SimBlock(h, r, node.address, node.parent_hash(h))
            return block.hash(), block

        def is_valid(block: object) -> bool:
            return (
                isinstance(block, SimBlock)
                and block.height == height
                and block.parent == node.parent_hash(height)
            )

        actions = node.core.start_height(
            height, self.validators, get_value, is_valid, restore=restore or ()
        )
        self._execute(node, actions)
        synced = node.synced.pop(height, None)
        if synced is not None and node.core.decision is None:
            self._execute(node, node.core.on_certificate(*synced), from_sync=True)

    def _crash(self, node: _Node) -> None:
        node.up = False

    def _recover(self, node: _Node) -> None:
        """Restart with a fresh core: decided blocks and the WAL survive, memory does not."""
        node.up = True
        next_height = max(node.decided, default=0) + 1
        wal = [m for m in node.wal if m.height == next_height]
        self._new_core(node)
        node.height = next_height - 1
        self._start(node, next_height, restore=wal)

    # --- actions and messages --------------------------------------------------------

    def _execute(self, node: _Node, actions: list[Action], from_sync: bool = False) -> None:
        for action in actions:
            if isinstance(action, Broadcast):
                node.wal.append(action.message)  # persisted before it is sent
                if node.index in self.config.byzantine:
                    self._equivocate(node, action.message)
                else:
                    self._broadcast(node, action.message)
            elif isinstance(action, ScheduleTimeout):
                timeout = partial(self._timeout, node, node.generation, action)
                self._at(self.now + action.delay_ms, timeout)
            elif isinstance(action, Decide):
                self._decided(node, action, from_sync)

    def _decided(self, node: _Node, d: Decide, from_sync: bool) -> None:
        assert isinstance(d.block, SimBlock)
        node.decided[d.height] = (d.block, d.certificate)
        node.decision_times[d.height] = self.now
        delay = 0 if from_sync else self.config.timeouts.commit_ms
        self._at(self.now + delay, lambda: self._start(node, d.height + 1))

    def _timeout(self, node: _Node, generation: int, a: ScheduleTimeout) -> None:
        if node.up and generation == node.generation and node.core is not None:
            self._execute(node, node.core.on_timeout(a.kind, a.height, a.round))

    def _gossip(self, node: _Node) -> None:
        if node.up and node.core is not None:
            for m in node.core.gossip_messages():
                if node.index in self.config.byzantine:  # selective re-gossip
                    for peer in self.nodes:
                        if peer is not node and self.rng.randrange(2):
                            self._send(node.index, peer.index, m)
                else:
                    self._broadcast(node, m)
            nxt = node.height + 1 if node.core.decision is not None else node.height
            self._broadcast(node, _Status(node.index, nxt))
        self._at(self.now + self.config.gossip_interval_ms, lambda: self._gossip(node))

    def _broadcast(self, node: _Node, message: _Wire) -> None:
        for peer in self.nodes:
            if peer is not node:
                self._send(node.index, peer.index, message)

    def _equivocate(self, node: _Node, message: Proposal | Vote) -> None:
        """Send each peer the real message, its own validly signed variant, or nothing."""
        assert node.key is not None
        sign, cid = node.key.sign, self.config.chain_id
        for peer in self.nodes:
            if peer is node:
                continue
            choice = self.rng.randrange(4)
            if choice == 3:
                continue  # withheld: honest nodes must not depend on hearing from us
            out: Proposal | Vote = message
            if isinstance(message, Proposal) and choice:
                blk = message.block
                assert isinstance(blk, SimBlock)
                alt = SimBlock(blk.height, blk.round, blk.proposer, blk.parent, 1 + peer.index % 2)
                out = Proposal.create(
                    cid,
                    message.height,
                    message.round,
                    alt.hash(),
                    alt,
                    message.pol_round,
                    message.proposer,
                    sign,
                )
                node.seen_hashes.setdefault(message.height, []).append(alt.hash())
            elif isinstance(message, Vote) and choice:
                options: list[bytes | None] = [None, *node.seen_hashes.get(message.height, [])]
                target = options[self.rng.randrange(len(options))]
                out = Vote.create(
                    cid,
                    message.type,
                    message.height,
                    message.round,
                    target,
                    message.validator,
                    sign,
                )
            self._send(node.index, peer.index, out)

    def _connected(self, a: int, b: int) -> bool:
        return not any(p.separates(a, b, self.now) for p in self.config.partitions)

    def _send(self, src: int, dst: int, message: _Wire) -> None:
        cfg = self.config
        self.sent += 1
        if not self._connected(src, dst):
            self.dropped += 1
            return
        dropping = cfg.drop_until_ms is None or self.now < cfg.drop_until_ms
        if cfg.drop_permille and dropping and self.rng.randrange(1000) < cfg.drop_permille:
            self.dropped += 1
            return
        lo, hi = cfg.link_delays.get((src, dst), (cfg.min_delay_ms, cfg.max_delay_ms))
        delay = self.rng.randint(lo, hi)
        self._at(self.now + delay, lambda: self._deliver(self.nodes[dst], message))

    def _deliver(self, node: _Node, message: _Wire) -> None:
        if not node.up or node.core is None:
            self.dropped += 1
            return
        self.delivered += 1
        core = node.core
        if isinstance(message, Proposal):
            if node.index in self.config.byzantine:
                node.seen_hashes.setdefault(message.height, []).append(message.block_hash)
            self._execute(node, core.on_proposal(message))
        elif isinstance(message, Vote):
            self._execute(node, core.on_vote(message))
        elif isinstance(message, _Status):
            # A lagging peer: send it the certificates it is missing (block sync).
            for h in range(message.next_height, message.next_height + SYNC_BATCH):
                if h not in node.decided:
                    break
                block, cert = node.decided[h]
                self._send(node.index, message.sender, _Commit(h, cert, block))
        elif message.height == node.height and core.decision is None:
            self._execute(node, core.on_certificate(message.certificate, message.block), True)
        elif node.height < message.height <= node.height + 64:
            node.synced.setdefault(message.height, (message.certificate, message.block))


def simulate(config: SimConfig) -> SimResult:
    return Simulator(config).run()
