"""The validator process: the imperative shell around ChainState, TendermintCore and P2P.

Everything that decides lives in pure code (``chain``, ``clp``, ``consensus``); this module
only moves messages, runs timers, writes the store and serves the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sqlite3
import time
from typing import Any, NamedTuple

from clp_node.api.metrics import NodeMetrics
from clp_node.api.server import ApiServer, TestFaults
from clp_node.chain.block import Block, MalformedBlock
from clp_node.chain.genesis import Genesis
from clp_node.chain.keys import ValidatorKey
from clp_node.chain.state import AppliedBlock, ChainState, InvalidBlock
from clp_node.clp.types import ClpResponse, MalformedResponse, ResponseRejectReason
from clp_node.config import NodeConfig
from clp_node.consensus.core import (
    DEFAULT_MAX_HEIGHTS_AHEAD,
    Broadcast,
    Decide,
    ScheduleTimeout,
    TendermintCore,
    TimeoutConfig,
)
from clp_node.consensus.types import (
    CommitCertificate,
    InvalidCertificate,
    MalformedMessage,
    Proposal,
    ValidatorSet,
    Vote,
    VoteType,
)
from clp_node.gossip import PeerKnowledge, SeenFrames
from clp_node.logs import log_event
from clp_node.net.framing import FrameError, encode_frame, encode_payload
from clp_node.net.node import P2PNetwork
from clp_node.net.peer import PeerInfo
from clp_node.preflight import NodeError
from clp_node.store.sqlite import BlockStore, StoreError
from clp_node.sync import PeerHeights
from clp_node.wire import (
    Consensus,
    Duplicate,
    MalformedConsensus,
    decode_certificate,
    decode_consensus,
    decode_inbound,
    encode_certificate,
    encode_consensus,
    frame_digest,
    is_consensus_payload,
)

log = logging.getLogger("clp_node.node")

SYNC_BATCH = 32
STATUS_INTERVAL_S = 0.25
STATUS_EVERY_S = 1.0  # a status frame to every peer at most this often
SYNC_RETRY_S = 1.0
FUTURE_RESPONSES_MAX = 4096
# A proposal whose time is further than this from our clock is not timely (CometBFT PBTS).
MAX_CLOCK_DRIFT_MS = 2_000
# Someone else's message is relayed only once it is this old here: by then a peer that got
# it from its signer has said so (it sent it to us) or has had time to; see gossip.py.
RELAY_AFTER_S = 2 * STATUS_INTERVAL_S
# A message sent on a link that stayed up is sent again after this (a black-holing link).
RESEND_AFTER_S = 2.0
SEEN_FRAMES_MAX = 65_536
RESPONSE_RESEND_AFTER_S = 1.0
# Blocks committed without a peer's response before we relay it (at most W - 1, so that a
# proposer of its window is left to reach; the test profile's W is 4).
RESPONSE_RELAY_AFTER_BLOCKS = 2


class Pooled(NamedTuple):
    """A response in the pool: our height and monotonic time when it came, its frame."""

    height: int
    at: float
    frame: bytes
    digest: bytes


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
        self._last_block_ms: int | None = None  # for the block interval gauge
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
        self.pool: dict[tuple[int, str], ClpResponse] = {}
        self.future: dict[tuple[int, str], ClpResponse] = {}
        # pool key -> when it was pooled here (someone else's is relayed only once blocks
        # went by without it, see _gossip_tick) and its frame as we send it
        self._pooled: dict[tuple[int, str], Pooled] = {}
        self.peer_heights = PeerHeights()
        self._sync_inflight_until = 0.0
        self._sync_asked: tuple[str, int] | None = None  # (peer, our height) of the last ask
        self._next_height_handle: asyncio.TimerHandle | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()
        # (height, round, slot) -> block hash on record in the WAL; heights not yet final
        self._signed: dict[tuple[int, int, str], str] = {}
        params = self.genesis.consensus
        self.timeouts = TimeoutConfig(
            propose_ms=params.timeout_propose_ms,
            prevote_ms=params.timeout_prevote_ms,
            precommit_ms=params.timeout_precommit_ms,
            delta_ms=params.timeout_delta_ms,
        )
        self.core = TendermintCore(
            self.genesis.chain_id,
            self.address,
            self.key.sign,
            self.timeouts,
            hash_of=lambda block: block.hash if isinstance(block, Block) else b"",
        )
        peers = {}
        for p in config.peers:
            gv = self.genesis.validator(p.address)
            if gv is None:
                raise NodeError(
                    f"peers.{p.name}.address: {p.address} is not a validator of genesis "
                    f"{config.genesis_file}"
                )
            peers[p.address] = PeerInfo(p.address, gv.public_key, p.endpoint.host, p.endpoint.port)
        self._peer_addrs = list(peers)
        self.knowledge = PeerKnowledge(RESEND_AFTER_S)
        self.seen = SeenFrames(SEEN_FRAMES_MAX)
        # Our own CLP responses, by challenge height: re-sent sooner, a window is short.
        self.response_knowledge = PeerKnowledge(RESPONSE_RESEND_AFTER_S)
        self._status_sent_at = 0.0  # monotonic time of our last status broadcast
        # id(message) -> (message, frame, digest) of consensus messages we hold
        self._frames: dict[int, tuple[Proposal | Vote, bytes, bytes]] = {}
        self.gossip_stats = {"duplicates_dropped": 0, "frames_sent": 0, "relays_held": 0}
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
            decode=self._decode_frame,
        )
        self.metrics.watch(self)  # per-validator and per-peer series, read at scrape time
        self.api = ApiServer(self, config.hooks_token)

    # ---- lifecycle ---------------------------------------------------------------------

    def replay(self) -> int:
        """Rebuild state from the store; every stored block is re-validated as it is applied."""
        head = self.store.head_height()
        try:
            for start in range(1, head + 1, 256):
                for stored in self.store.range(start, min(start + 255, head)):
                    self._apply(Block.from_json(stored.block), replay=True)
        except (
            MalformedBlock,
            InvalidBlock,
            sqlite3.Error,
            ValueError,
            KeyError,
            TypeError,
        ) as exc:
            raise StoreError(
                f"{self.store.path}: the stored chain does not replay ({exc})"
            ) from exc
        return head

    async def run(self) -> None:
        replayed = self.replay()
        self._answer_open_challenges()
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
        self._start_height()
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
        if self._next_height_handle is not None:
            self._next_height_handle.cancel()
        await self.api.stop()
        await self.net.stop()
        self.store.close()
        log_event(log, logging.INFO, "node.stopped", height=self.state.height)

    # ---- consensus ---------------------------------------------------------------------

    def validator_set(self, height: int) -> ValidatorSet:
        committee = self.state.committee_for_height(height) or {}
        keys = self.genesis.public_keys()
        # Voting power is stake (§3): a member slashed to 0 whose ejection was deferred stays
        # in the CLP committee but has no vote, so it neither votes nor proposes.
        return ValidatorSet({a: (keys[a], stake) for a, stake in committee.items() if stake > 0})

    def _start_height(self) -> None:
        self._next_height_handle = None
        height = self.state.height + 1
        self._signed = {s: h for s, h in self._signed.items() if s[0] >= height}
        self.knowledge.prune(height)
        self.seen.prune(height - 1)  # late copies of the last height stay cheap
        self._frames = {k: v for k, v in self._frames.items() if v[0].height >= height}
        actions = self.core.start_height(
            height,
            self.validator_set(height),
            self._get_value,
            self._is_valid,
            restore=self._restored_messages(height),
        )
        self._run_actions(actions)

    def _restored_messages(self, height: int) -> list[Proposal | Vote]:
        """What we signed at ``height`` before a restart (empty unless we crashed mid-height)."""
        return [decode_consensus(m) for m in self.store.signed_messages(height)]

    def _now_ms(self) -> int:
        offset = self.faults.clock_offset_ms if self.faults else 0
        return int(time.time() * 1000) + offset

    def _get_value(self, height: int, round_: int) -> tuple[bytes, object]:
        included: list[ClpResponse] = []
        seen: set[tuple[int, str]] = set()
        for key in sorted(self.pool):
            r = self.pool[key]
            if self.state.clp.check_response(r, height, seen) is None:
                included.append(r)
                seen.add(key)
        block = Block(
            self.genesis.chain_id,
            height,
            self.state.head_hash,
            self.address,
            tuple(included),
            max(self._now_ms(), self.state.head_time_ms),
        )
        return block.hash, block

    def _is_valid(self, block: object) -> bool:
        if not isinstance(block, Block):
            return False
        try:
            self.state.validate_block(block)
        except InvalidBlock as exc:
            log_event(log, logging.WARNING, "consensus.invalid_proposal", reason=exc.reason)
            return False
        drift_ms = block.time_ms - self._now_ms()
        if abs(drift_ms) > MAX_CLOCK_DRIFT_MS:
            log_event(
                log,
                logging.WARNING,
                "consensus.untimely_proposal",
                height=block.height,
                drift_ms=drift_ms,
            )
            return False
        return True

    def _run_actions(self, actions: list[Any]) -> None:
        loop = asyncio.get_running_loop()
        for action in actions:
            if isinstance(action, Broadcast):
                self._broadcast_consensus(action.message)
            elif isinstance(action, ScheduleTimeout):
                loop.call_later(
                    action.delay_ms / 1000,
                    self._on_timeout,
                    action.kind,
                    action.height,
                    action.round,
                )
            elif isinstance(action, Decide):
                self._on_decide(action)

    def _broadcast_consensus(self, message: Proposal | Vote) -> None:
        """Send to every peer that may lack it (gossip.py), after the WAL has it."""
        if not self._log_signed(message):
            return
        frame, digest = self._frame_of(message)
        now = time.monotonic()
        height = message.height
        cover = _covered_by(message)
        targets = []
        for peer in self._peer_addrs:
            claim = self.peer_heights.claim(peer)
            if claim is not None and claim >= height:
                continue  # final there: it needs nothing of this height
            if cover is not None and self.knowledge.holds(peer, height, cover):
                continue  # its own votes say it has this (or no longer needs it)
            gen = self.net.link_generation(peer)
            if self.knowledge.needs(peer, height, digest, gen, now):
                self.knowledge.sent(peer, height, digest, gen, now)
                targets.append(peer)
        if targets:
            self.net.send_frame(targets, frame)
            self.gossip_stats["frames_sent"] += len(targets)

    def _frame_of(self, message: Proposal | Vote) -> tuple[bytes, bytes]:
        """The frame and digest of a message we send, encoded once per height."""
        cached = self._frames.get(id(message))
        if cached is not None and cached[0] is message:
            return cached[1], cached[2]
        frame = encode_frame(encode_consensus(message), self.config.max_frame_bytes)
        digest = frame_digest(frame[4:])
        self._frames[id(message)] = (message, frame, digest)
        return frame, digest

    def _log_signed(self, message: Proposal | Vote) -> bool:
        """Write our own messages to the WAL before they leave; False: must not be sent.

        Never let two different votes for one (height, round, type) leave this node, not
        even across a restart: the first one is on disk before it is sent. A precommit
        for a block takes the round's proposal with it, so a restart restores the locked
        block and the valid round as well (``TendermintCore.start_height(restore=...)``).
        """
        if isinstance(message, Proposal):
            if message.proposer == self.address:
                self._record(message.height, message.round, "proposal", message)
            return True
        if message.validator != self.address:
            return True  # a relay of someone else's vote
        if message.type is VoteType.PRECOMMIT and message.block_hash is not None:
            behind = self.core.proposal_for(message.round, message.block_hash)
            if behind is not None and behind.height == message.height:
                self._record(message.height, message.round, "proposal", behind)
        digest = self._record(message.height, message.round, str(message.type), message)
        if digest != _digest(message):
            log_event(
                log,
                logging.ERROR,
                "consensus.double_sign_prevented",
                slot=f"{message.height}/{message.round}/{message.type}",
            )
            return False
        return True

    def _record(self, height: int, round_: int, slot: str, message: Proposal | Vote) -> str:
        key = (height, round_, slot)
        recorded = self._signed.get(key)
        if recorded is None:
            recorded = self.store.record_signed(
                height, round_, slot, _digest(message), encode_consensus(message)
            )
            self._signed[key] = recorded
        return recorded

    def _on_timeout(self, kind: Any, height: int, round_: int) -> None:
        if self._stop.is_set():
            return
        self._run_actions(self.core.on_timeout(kind, height, round_))

    def _on_decide(self, decide: Decide) -> None:
        block = decide.block
        assert isinstance(block, Block)
        if block.height != self.state.height + 1:
            return
        self._commit(block, decide.certificate)
        delay = self.genesis.consensus.block_interval_ms / 1000
        loop = asyncio.get_running_loop()
        self._next_height_handle = loop.call_later(delay, self._start_height)

    def _commit(self, block: Block, cert: CommitCertificate) -> None:
        self.state.validate_block(block)  # never persist a block that replay would refuse
        self._observe_commit(block, cert)
        self.store.append(block.height, block.hash.hex(), block.to_json(), encode_certificate(cert))
        self._apply(block, replay=False)

    def _observe_commit(self, block: Block, cert: CommitCertificate) -> None:
        """Dashboard timing of a height decided here: its rounds and its finality latency."""
        m = self.metrics
        m.consensus_rounds.inc(cert.round + 1)
        m.finality_latency.observe(max(time.time() - block.time_ms / 1000, 0.0))

    def _apply(self, block: Block, replay: bool) -> AppliedBlock:
        applied = self.state.apply_block(block)
        m = self.metrics
        if self._last_block_ms is not None:
            m.block_interval.set(max(block.time_ms - self._last_block_ms, 0) / 1000)
        self._last_block_ms = block.time_ms
        m.chain_height.set(self.state.height)
        m.responses_included.inc(len(block.responses))
        if applied.challenge is not None:
            m.challenges_issued.inc()
        if applied.epoch_result is not None:
            r = applied.epoch_result
            m.validators_slashed.inc(len(r.slashes()))
            m.validators_ejected.inc(len(r.ejected))
            log_event(
                log,
                logging.INFO,
                "clp.epoch_evaluated",
                epoch=r.epoch,
                systemic=r.systemic,
                slashed=r.slashes(),
                ejected=list(r.ejected),
                replay=replay,
            )
        if not replay:
            log_event(
                log,
                logging.INFO,
                "chain.block_committed",
                height=block.height,
                hash=block.hash.hex()[:16],
                proposer=block.proposer[:8],
                responses=len(block.responses),
            )
            self._after_block(applied)
        return applied

    def _after_block(self, applied: AppliedBlock) -> None:
        """Answer a new challenge, prune the pool, re-check responses that came early."""
        challenge = applied.challenge
        if challenge is not None and self.address in challenge.expected and not self._lazy:
            response = self.state.clp.handler.create_response(self.key, challenge)
            self._pool(response)
            self._gossip_response(response, time.monotonic())
        nxt = self.state.next_height
        for key in list(self.pool):
            if self.state.clp.check_response(self.pool[key], nxt) is not None:
                del self.pool[key]
                self._pooled.pop(key, None)
        for key in sorted(self.future):
            if key[0] <= self.state.height:
                self._admit(self.future.pop(key))

    # ---- responses ---------------------------------------------------------------------

    @property
    def _lazy(self) -> bool:
        """The test hook that makes this validator skip its CLP answers."""
        return self.faults.lazy if self.faults else False

    def _answer_open_challenges(self) -> None:
        """After a restart, answer challenges whose window is still open: a SIGKILL may
        have eaten the response we had queued."""
        for challenge in self.state.clp.open_challenges():
            answered = self.state.clp.aggregator.has_response(challenge.height, self.address)
            if self.address in challenge.expected and not answered and not self._lazy:
                response = self.state.clp.handler.create_response(self.key, challenge)
                self._pool(response)

    def submit_response(self, data: object) -> ResponseRejectReason | None:
        """A response posted to the REST API: judged against the next block, then gossiped."""
        response = self._parse_response(data)
        if response is None:
            return ResponseRejectReason.MALFORMED
        reason = self._admit(response, relay_now=True)
        if reason is not None:
            self.metrics.responses_rejected.labels(reason=reason.value).inc()
        return reason

    def _parse_response(self, data: object) -> ClpResponse | None:
        """None (counted as MALFORMED) for a body that is not a response."""
        try:
            return ClpResponse.from_json(data)
        except MalformedResponse:
            self.metrics.responses_rejected.labels(
                reason=ResponseRejectReason.MALFORMED.value
            ).inc()
            return None

    def _admit(
        self, response: ClpResponse, relay_now: bool = False, sender: str | None = None
    ) -> ResponseRejectReason | None:
        """Pool a response valid for the next block; else say why not.

        A client's response (``relay_now``) goes to every peer at once: only we may have
        it. One from a peer is relayed by the gossip loop once it is ``RELAY_AFTER_S`` old
        and still not in a block, and never to a peer that sent it: its signer sent it to
        every peer itself, so relaying each at once made N copies of every response reach
        every node.
        """
        key = response.key()
        if key in self.pool:
            if sender is not None:
                self._response_received(sender, key)
            return ResponseRejectReason.DUPLICATE
        reason = self.state.check_response(response)
        if reason is None:
            self._pool(response)
            self.metrics.responses_received.inc()
            if sender is not None:
                self._response_received(sender, key)
            if relay_now:
                self._gossip_response(response, time.monotonic())
        return reason

    def _pool(self, response: ClpResponse) -> None:
        key = response.key()
        self.pool[key] = response
        frame = encode_frame({"type": "clp_response", **response.to_json()})
        self._pooled[key] = Pooled(
            self.state.height, time.monotonic(), frame, frame_digest(frame[4:])
        )

    def _response_received(self, sender: str, key: tuple[int, str]) -> None:
        """The sender holds this pooled response: never send it back."""
        self.response_knowledge.received(sender, key[0], self._pooled[key].digest)

    def _on_gossip_response(self, sender: str, msg: dict[str, Any]) -> None:
        response = self._parse_response({k: v for k, v in msg.items() if k != "type"})
        if response is None:
            return
        reason = self._admit(response, sender=sender)
        if reason is None:
            return
        if (
            reason is ResponseRejectReason.UNKNOWN_CHALLENGE
            and response.challenge_height > self.state.height
            and len(self.future) < FUTURE_RESPONSES_MAX
        ):
            self.future[response.key()] = response
        elif reason not in (ResponseRejectReason.DUPLICATE, ResponseRejectReason.EXPIRED):
            self.metrics.responses_rejected.labels(reason=reason.value).inc()

    # ---- P2P ---------------------------------------------------------------------------

    def _decode_frame(self, payload: bytes) -> Any:
        """P2PNetwork's decoder: a consensus frame already handled is dropped undecoded."""
        if is_consensus_payload(payload):
            digest = frame_digest(payload)
            seen = self.seen.get(digest)
            if seen is not None:
                return Duplicate(digest, seen[0])
            return decode_inbound(payload, digest)
        return decode_inbound(payload)

    def _on_consensus(self, sender: str, frame: Consensus) -> None:
        message = frame.message
        if isinstance(message, Vote):
            self._run_actions(self.core.on_vote(message))
        else:
            self._run_actions(self.core.on_proposal(message))
        if message.height <= self.core.height + DEFAULT_MAX_HEIGHTS_AHEAD:
            # Used, buffered or refused for good: a copy would change nothing. (Heights
            # further ahead are not remembered at all: a hostile peer cannot fill memory.)
            self.seen.add(frame.digest, message.height, time.monotonic())
            if message.height >= self.core.height:
                self.knowledge.received(sender, message.height, frame.digest)
                if isinstance(message, Vote) and message.validator == sender:
                    self.knowledge.learned(sender, message.height, _implied_by(message))
        self._note_peer_height(sender, message.height - 1)

    def _on_message(self, sender: str, msg: Any) -> None:
        if isinstance(msg, Duplicate):
            self.gossip_stats["duplicates_dropped"] += 1
            self.knowledge.received(sender, msg.height, msg.digest)
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
                self._on_gossip_response(sender, msg)
            elif kind == "status":
                self._note_peer_height(sender, msg.get("height"))
            elif kind == "sync_request":
                self._serve_sync(sender, msg)
            elif kind == "sync_response":
                self._on_sync_response(sender, msg)
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

    def _note_peer_height(self, peer: str, height: object) -> None:
        # Only a claim above our height can start a sync: the common case (a peer at our
        # height, on each of its messages) must not scan every peer's claim.
        if self.peer_heights.note(peer, height):
            claim = self.peer_heights.claim(peer)
            if claim is not None and claim > self.state.height:
                self._maybe_sync()

    def _maybe_sync(self) -> None:
        now = time.monotonic()
        if now < self._sync_inflight_until:
            return
        if self._sync_asked is not None and self._sync_asked[1] == self.state.height:
            # The last ask brought nothing within SYNC_RETRY_S: that claim was not served.
            self.peer_heights.unanswered(*self._sync_asked)
        self._sync_asked = None
        ahead = self.peer_heights.ahead_of(self.state.height)
        if not ahead:
            return
        peer = random.choice(sorted(ahead))
        start = self.state.height + 1
        end = min(ahead[peer], start + SYNC_BATCH - 1)
        self._sync_inflight_until = now + SYNC_RETRY_S
        self._sync_asked = (peer, self.state.height)
        self.net.send(peer, {"type": "sync_request", "from": start, "to": end})

    def _serve_sync(self, sender: str, msg: dict[str, Any]) -> None:
        start, end = msg.get("from"), msg.get("to")
        if not (isinstance(start, int) and isinstance(end, int)) or not 1 <= start <= end:
            raise ValueError("sync_request needs 1 <= from <= to")
        # Never past our head: also keeps a hostile 2**70 from reaching SQLite.
        end = min(end, start + SYNC_BATCH - 1, self.state.height)
        if start > end:
            return
        blocks = [
            {"block": b.block, "certificate": b.certificate} for b in self.store.range(start, end)
        ]
        if blocks:
            self.net.send(sender, {"type": "sync_response", "blocks": blocks})

    def _on_sync_response(self, sender: str, msg: dict[str, Any]) -> None:
        entries = msg.get("blocks")
        if not isinstance(entries, list):
            raise ValueError("sync_response needs a list of blocks")
        advanced = False
        for entry in entries:
            if not isinstance(entry, dict):
                raise ValueError("sync entry must be an object")
            block = Block.from_json(entry.get("block"))
            if block.height <= self.state.height:
                continue
            if block.height != self.state.height + 1:
                break
            cert = decode_certificate(entry.get("certificate"))
            if cert.height != block.height or cert.block_hash != block.hash:
                raise InvalidCertificate("certificate is for another block")
            cert.verify(self.genesis.chain_id, self.validator_set(block.height))
            try:
                self._commit(block, cert)
            except InvalidBlock as exc:
                log_event(
                    log, logging.WARNING, "sync.invalid_block", peer=sender[:8], reason=exc.reason
                )
                break
            self.metrics.blocks_synced.inc()
            advanced = True
        self._sync_inflight_until = 0.0
        if advanced:
            if self._next_height_handle is not None:
                self._next_height_handle.cancel()
            self._start_height()
            self._maybe_sync()

    async def _gossip_loop(self) -> None:
        """Re-send what an unreliable network may have lost: our votes, height, responses."""
        while True:
            await asyncio.sleep(STATUS_INTERVAL_S)
            self._gossip_tick(time.monotonic())

    def _gossip_tick(self, now: float) -> None:
        """One round of the gossip loop at monotonic time ``now``."""
        if now - self._status_sent_at >= STATUS_EVERY_S:
            # Once a second, whatever the height: every consensus message claims its
            # height - 1 already (_on_consensus), so a status per commit (N - 1 frames in
            # and out per block and node) told a peer nothing its votes did not.
            self.net.broadcast({"type": "status", "height": self.state.height})
            self._status_sent_at = now
        for message in self.core.gossip_messages():
            sender = message.validator if isinstance(message, Vote) else message.proposer
            if sender != self.address:
                _, digest = self._frame_of(message)
                seen = self.seen.get(digest)
                if seen is not None and now - seen[1] < RELAY_AFTER_S:
                    self.gossip_stats["relays_held"] += 1
                    continue
            self._broadcast_consensus(message)
        proposers: set[str] | None = None
        for key, r in self.pool.items():
            if r.validator == self.address:
                self._gossip_response(r, now)
            elif self._response_overdue(key, now):
                if proposers is None:
                    proposers = self._upcoming_proposers()
                self._gossip_response(r, now, only=proposers)
        self.response_knowledge.prune(min((k[0] for k in self.pool), default=0))
        self.metrics.peers_connected.set(len(self.net.connected_peers()))
        self.metrics.consensus_round.set(self.core.status().round)
        self._maybe_sync()

    def _response_overdue(self, key: tuple[int, str], now: float) -> bool:
        """Someone else's pooled response is relayed only once ``RESPONSE_RELAY_AFTER_BLOCKS``
        blocks were committed here without it (their proposers lacked it, most likely) and
        it is ``RELAY_AFTER_S`` old: its signer sent it to every peer, and a proposer that
        has it includes it in the next block or the one after."""
        height, at = self._pooled[key].height, self._pooled[key].at
        blocks = min(RESPONSE_RELAY_AFTER_BLOCKS, self.genesis.clp.response_window - 1)
        return self.state.height - height >= blocks and now - at >= RELAY_AFTER_S

    def _upcoming_proposers(self) -> set[str]:
        """Who proposes the next blocks (this round, the next rounds, the next heights):
        only a proposer puts a response in a block, and the rotation reaches each peer."""
        height = self.state.next_height
        vs = self.validator_set(height)
        if len(vs) == 0:
            return set()
        round_ = self.core.round if self.core.height == height else 0
        ahead = self.genesis.clp.response_window
        return {vs.proposer(height, round_ + i) for i in range(ahead)}

    def _gossip_response(
        self, response: ClpResponse, now: float, only: set[str] | None = None
    ) -> None:
        """A response to the peers that may lack it or whose link may have lost it;
        ``only``: to those of these peers (a relay goes to the upcoming proposers)."""
        pooled = self._pooled[response.key()]
        frame, digest = pooled.frame, pooled.digest
        height = response.challenge_height
        targets = []
        peers = self._peer_addrs if only is None else [p for p in self._peer_addrs if p in only]
        for peer in peers:
            gen = self.net.link_generation(peer)
            if self.response_knowledge.needs(peer, height, digest, gen, now):
                self.response_knowledge.sent(peer, height, digest, gen, now)
                targets.append(peer)
        if targets:
            self.net.send_frame(targets, frame)

    def consensus_status(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "name": self.config.name,
            "height": self.state.height,
            **{f"core_{k}": v for k, v in self.core.status().to_json().items()},
            "peers_connected": sorted(self.net.connected_peers()),
            "peers_inbound": sorted(self.net.inbound_peers()),
            "peer_heights": self.peer_heights.to_json(),
            "pool": len(self.pool),
            "net": self.net.stats(),
            "gossip": dict(self.gossip_stats),
            "consensus_counters": self.core.counters(),  # why messages were not used
            "faults": self.faults.to_json() if self.faults else None,
        }


def _digest(message: Proposal | Vote) -> str:
    return message.block_hash.hex() if message.block_hash else "nil"


def _implied_by(vote: Vote) -> tuple[tuple[str, int, bytes], ...]:
    """What a validator's own vote shows it holds (Algorithm 1, lines 22/28 and 36): a
    prevote for B in round r needs r's proposal of B; a precommit for B also a polka."""
    if vote.block_hash is None:
        return ()
    proposal = ("proposal", vote.round, vote.block_hash)
    if vote.type is VoteType.PRECOMMIT:
        return (proposal, ("polka", vote.round, vote.block_hash))
    return (proposal,)


def _covered_by(message: Proposal | Vote) -> tuple[str, int, bytes] | None:
    """The fact (``_implied_by``) that makes sending ``message`` to a peer pointless."""
    if isinstance(message, Proposal):
        return ("proposal", message.round, message.block_hash)
    if message.type is VoteType.PREVOTE and message.block_hash is not None:
        return ("polka", message.round, message.block_hash)
    return None
