"""The validator process: its parts, put together, and the loop and router between them.

Everything that decides lives in pure code (``chain``, ``clp``, ``consensus``); the parts
are the shell around it, each with one job (CometBFT's reactors are split so too):

* ``consensus_driver.ConsensusDriver``: runs TendermintCore, commits what it decides;
* ``votelog.VoteLog``: what we sign is on disk before it leaves;
* ``relay.ConsensusRelay``: which proposals and votes go to which peer;
* ``responses.ResponsePool``: the CLP responses for the next blocks, and their gossip;
* ``sync.BlockSync``: fetching blocks we missed, serving ours, announcing our height;
  ``sync.StartGate``: no height started (so none signed at) that a peer shows finalized.

This module builds them, routes each inbound frame to its part, runs the gossip loop and
answers the REST API (``api.server.NodeApi``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from clp_node.api.metrics import NodeMetrics
from clp_node.api.server import ApiServer, TestFaults
from clp_node.chain.block import MalformedBlock
from clp_node.chain.genesis import Genesis
from clp_node.chain.keys import ValidatorKey
from clp_node.chain.state import AppliedBlock, ChainState
from clp_node.clp.types import ClpResponse, ResponseRejectReason
from clp_node.config import NodeConfig
from clp_node.consensus.types import InvalidCertificate, MalformedMessage, Proposal, Vote
from clp_node.consensus_driver import ConsensusDriver
from clp_node.logs import log_event
from clp_node.net.framing import FrameError, encode_payload
from clp_node.net.node import P2PNetwork
from clp_node.net.peer import PeerInfo
from clp_node.preflight import NodeError
from clp_node.relay import STATUS_INTERVAL_S, ConsensusRelay
from clp_node.responses import ResponsePool
from clp_node.store.sqlite import BlockStore
from clp_node.sync import BlockSync, PeerHeights, StartGate
from clp_node.vote_history import VoteHistory
from clp_node.votelog import VoteLog
from clp_node.wire import (
    Consensus,
    Duplicate,
    MalformedConsensus,
    decode_consensus,
    decode_inbound,
    frame_digest,
    is_consensus_payload,
)

log = logging.getLogger(__name__)


class ValidatorNode:
    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.key = ValidatorKey.load(config.key_file)
        self.genesis = Genesis.load(config.genesis_file)
        self.address = self.key.address
        if self.genesis.validator(self.address) is None:
            raise NodeError(
                f"{config.key_file}: key {self.address} is not a validator of genesis "
                f"{config.genesis_file}"
            )
        self.names = {v.address: v.name for v in self.genesis.validators}
        self.metrics = NodeMetrics()
        self.faults: TestFaults | None = TestFaults() if config.test_hooks else None
        for i, p in enumerate(config.peers):
            if p.address == self.address:
                raise NodeError(
                    f"{config.key_file}: key {self.address} is that of peers[{i}] ({p.name}) "
                    "in the config: a node cannot be its own peer"
                )
        self.store = BlockStore(config.data_dir / "chain.sqlite")
        self.store.check_genesis(self.genesis.hash().hex())
        self.state = ChainState(self.genesis)
        self._tasks: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()
        # The node is the driver's host (sending, the pool, per-height pruning: below).
        self.driver = ConsensusDriver(
            self.key, self.genesis, self.state, self.store, self.metrics, self, self._stop
        )
        self.core = self.driver.core
        self.votelog = VoteLog(self.address, self.store, self.core.proposal_for)
        # the votes served at /alpha/consensus/votes: the heights of two epochs (§11)
        self.votes = VoteHistory(2 * self.genesis.clp.epoch_length)
        peers = {}
        for p in config.peers:
            gv = self.genesis.validator(p.address)
            if gv is None:
                raise NodeError(
                    f"peers.{p.name}.address: {p.address} is not a validator of genesis "
                    f"{config.genesis_file}"
                )
            peers[p.address] = PeerInfo(p.address, gv.public_key, p.endpoint.host, p.endpoint.port)
        peer_addrs = list(peers)
        self.net = P2PNetwork(
            self.key,
            self.genesis.chain_id,
            config.p2p_listen.host,
            config.p2p_listen.port,
            peers,
            self._on_message,
            max_frame_bytes=config.max_frame_bytes,
            logger=logging.getLogger("clp_node.net"),
            on_rejected=self.metrics.count_transport_rejection,
            decode=self._decode_frame,  # reads the relay's seen frames, made next
        )
        self.peer_heights = PeerHeights()
        self.relay = ConsensusRelay(
            self.address,
            peer_addrs,
            self.net,
            self.peer_heights,
            self.votelog.admit,
            config.max_frame_bytes,
        )
        self.responses = ResponsePool(
            self.key,
            self.state,
            peer_addrs,
            self.net,
            self.metrics,
            self.driver.upcoming_proposers,
            lambda: self.faults.lazy if self.faults else False,
        )
        self.gate = StartGate(peer_addrs, self.peer_heights)
        self.sync = BlockSync(
            self.state,
            self.store,
            self.net,
            self.peer_heights,
            self.metrics,
            self.driver.validator_set,
            self.driver.commit,
            self.driver.restart_height,
        )
        self.metrics.watch(self)  # per-validator and per-peer series, read at scrape time
        self.api = ApiServer(self, config.hooks_token)

    # ---- lifecycle ---------------------------------------------------------------------

    def replay(self) -> int:
        """Rebuild state from the store; every stored block is re-validated as it is applied."""
        return self.driver.replay()

    async def run(self) -> None:
        replayed = self.replay()
        self.responses.answer_open_challenges()
        log_event(log, logging.INFO, "node.replayed", height=replayed, address=self.address)
        await self.net.start()
        await self.api.start(self.config.api_listen.host, self.config.api_listen.port)
        log_event(
            log,
            logging.INFO,
            "node.started",
            address=self.address,
            name=self.config.name,
            p2p=f"{self.config.p2p_listen.host}:{self.net.listen_port}",
            api=f"{self.config.api_listen.host}:{self.api.port}",
            height=self.state.height,
        )
        self.driver.start_height()
        self._tasks.append(asyncio.create_task(self._gossip_loop(), name="gossip"))
        await self._stop.wait()

    def request_stop(self) -> None:
        self._stop.set()

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self.driver.close()
        await self.api.stop()
        await self.net.stop()
        self.store.close()
        log_event(log, logging.INFO, "node.stopped", height=self.state.height)

    # ---- what the consensus driver needs (consensus_driver.DriverHost) -----------------

    def now_ms(self) -> int:
        offset = self.faults.clock_offset_ms if self.faults else 0
        return int(time.time() * 1000) + offset

    def may_start(self, height: int) -> bool:
        return self.gate.allows(height, time.monotonic())

    def broadcast(self, message: Proposal | Vote) -> None:
        self.relay.broadcast(message)

    def block_responses(self, height: int) -> list[ClpResponse]:
        return self.responses.for_block(height)

    def height_started(self, height: int) -> list[Proposal | Vote]:
        # the core still holds the height that ends: archive its votes and the evidence
        self.votes.add(self.core.held_votes())
        self.votes.add(
            m for e in self.core.take_evidence() for m in (e.first, e.second) if isinstance(m, Vote)
        )
        self.votelog.prune(height)
        self.relay.start_height(height)
        restored = self.votelog.restored(height)
        self.votes.height_started(height, fresh=self.state.height == 0 and not restored)
        return restored

    def take_double_sign(self) -> bool:
        if self.faults is None or not self.faults.double_sign:
            return False
        self.faults.double_sign = False
        return True

    def double_signed(self, second: Vote) -> None:
        self.votelog.record_conflict(second)
        self.votes.add([second])
        self.relay.broadcast(second)

    def block_applied(self, applied: AppliedBlock) -> None:
        self.responses.after_block(applied)

    # ---- P2P ---------------------------------------------------------------------------

    def _decode_frame(self, payload: bytes) -> Any:
        """P2PNetwork's decoder: a consensus frame already handled is dropped undecoded."""
        if is_consensus_payload(payload):
            digest = frame_digest(payload)
            seen = self.relay.seen.get(digest)
            if seen is not None:
                return Duplicate(digest, seen[0])
            return decode_inbound(payload, digest)
        return decode_inbound(payload)

    def _on_message(self, sender: str, msg: Any) -> None:
        """Each inbound frame to its part."""
        if isinstance(msg, Duplicate):
            self.relay.duplicate(sender, msg)
            return
        if isinstance(msg, MalformedConsensus):
            self._bad_message(sender, "consensus", msg.detail)
            return
        kind = "consensus" if isinstance(msg, Consensus) else msg.get("type")
        try:
            if isinstance(msg, Consensus):
                self._on_consensus(sender, msg)
            elif kind == "consensus":  # a dict (a caller with its own decoding)
                digest = frame_digest(encode_payload(msg))
                self._on_consensus(sender, Consensus(decode_consensus(msg), digest))
            elif kind == "clp_response":
                self.responses.on_gossip(sender, msg)
            elif kind == "status":
                self.sync.note_peer_height(sender, msg.get("height"))
            elif kind == "sync_request":
                self.sync.serve(sender, msg)
            elif kind == "sync_response":
                self.sync.on_response(sender, msg)
            else:
                self.metrics.p2p_rejected.labels(reason="unknown_type").inc()
        except (
            MalformedMessage,
            MalformedBlock,
            InvalidCertificate,
            FrameError,
            ValueError,
            TypeError,
        ) as exc:
            self._bad_message(sender, str(kind), str(exc))

    def _on_consensus(self, sender: str, frame: Consensus) -> None:
        message = frame.message
        self.driver.handle(message)
        self.relay.received(sender, frame, self.core.height)
        self.sync.note_peer_height(sender, message.height - 1)

    def _bad_message(self, sender: str, kind: str, detail: str) -> None:
        self.metrics.p2p_rejected.labels(reason="bad_message").inc()
        log_event(
            log,
            logging.WARNING,
            "p2p.bad_message",
            peer=sender[:8],
            kind=kind,
            detail=detail[:200],
        )

    async def _gossip_loop(self) -> None:
        """Re-send what an unreliable network may have lost: our votes, height, responses."""
        while True:
            await asyncio.sleep(STATUS_INTERVAL_S)
            self._gossip_tick(time.monotonic())

    def _gossip_tick(self, now: float) -> None:
        """One round of the gossip loop at monotonic time ``now``."""
        self.sync.announce(now)
        self.relay.tick(now, self.core.gossip_messages())
        self.responses.tick(now)
        self.metrics.peers_connected.set(len(self.net.connected_peers()))
        self.metrics.consensus_round.set(self.core.status().round)
        self.sync.maybe_sync()
        self.driver.resume()  # a height held for sync or the peers' first claims (§16.5)

    # ---- REST API (api.server.NodeApi) -------------------------------------------------

    def submit_response(self, data: object) -> ResponseRejectReason | None:
        """A response posted to the REST API: judged against the next block, then gossiped."""
        return self.responses.submit(data)

    def vote_window(self) -> tuple[int, int]:
        """The heights whose votes we hold: the oldest complete one, the one being decided."""
        return self.votes.oldest, max(self.core.height, self.state.height + 1)

    def held_votes(self, first: int, last: int) -> list[dict[str, Any]]:
        """The §11 votes of heights ``first..=last``, in the served order."""
        live = self.core.held_votes() + [
            m for e in self.core.evidence for m in (e.first, e.second) if isinstance(m, Vote)
        ]  # a conflicting vote the core did not count is kept as evidence only
        return [v.to_json() for v in self.votes.between(first, last, live)]

    def clp_answers(self) -> tuple[str, dict[int, int]]:
        return self.address, dict(self.responses.answers)

    def consensus_status(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "name": self.config.name,
            "height": self.state.height,
            **{f"core_{k}": v for k, v in self.core.status().to_json().items()},
            "peers_connected": sorted(self.net.connected_peers()),
            "peers_inbound": sorted(self.net.inbound_peers()),
            "peer_heights": self.peer_heights.to_json(),
            "held": self.driver.held,  # the next height, while it waits for sync (§16.5)
            "pool": len(self.responses.pool),
            "net": self.net.stats(),
            "gossip": dict(self.relay.stats),
            "consensus_counters": self.core.counters(),  # why messages were not used
            "faults": self.faults.to_json() if self.faults else None,
        }
