"""The consensus driver: TendermintCore's shell, and the chain it decides.

It starts each height, builds our proposals and judges others' (the chain's rules and
CometBFT's proposer-based timeliness), carries out what the core asks (sends, round timers,
decisions) and commits decided or synced blocks: the store first, then chain state, then
metrics and the ``chain.block_committed`` log event. What it needs of the node around it
(sending, the response pool, per-height pruning, the clock, whether a height may start) is
``DriverHost``. A height the host does not let start yet (docs/protocol.md §16.5, sync
before signing) is held: nothing is signed at it, and ``resume`` tries again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sqlite3
import time
from typing import Any, Protocol

from clp_node.api.metrics import NodeMetrics
from clp_node.chain.block import Block, MalformedBlock
from clp_node.chain.genesis import Genesis
from clp_node.chain.keys import ValidatorKey
from clp_node.chain.state import AppliedBlock, ChainState, InvalidBlock
from clp_node.clp.types import ClpResponse
from clp_node.consensus.core import (
    Broadcast,
    Decide,
    ScheduleTimeout,
    TendermintCore,
    TimeoutConfig,
)
from clp_node.consensus.types import CommitCertificate, Proposal, ValidatorSet, Vote, VoteType
from clp_node.logs import log_event
from clp_node.store.sqlite import BlockStore, StoreError
from clp_node.wire import encode_certificate

log = logging.getLogger(__name__)

# A proposal whose time is further than this from our clock is not timely (CometBFT PBTS).
MAX_CLOCK_DRIFT_MS = 2_000


class DriverHost(Protocol):
    """What the driver needs of the node around it."""

    def now_ms(self) -> int:
        """Our wall clock in ms (a test hook may skew it)."""
        ...

    def may_start(self, height: int) -> bool:
        """Whether consensus may start at ``height`` (and so sign there) now: not while
        a peer's claim shows it finalized, nor before the peers' first claims (§16.5)."""
        ...

    def broadcast(self, message: Proposal | Vote) -> None:
        """Send one of the core's messages to the peers that may lack it."""
        ...

    def block_responses(self, height: int) -> list[ClpResponse]:
        """The CLP responses our block at ``height`` carries."""
        ...

    def height_started(self, height: int) -> list[Proposal | Vote]:
        """``height`` is decided now: prune what belongs below it; return what we signed
        at it before a restart (empty unless we crashed mid-height)."""
        ...

    def block_applied(self, applied: AppliedBlock) -> None:
        """A block committed here (not replayed) is applied."""
        ...

    def take_double_sign(self) -> bool:
        """The ``double_sign`` test hook (§14) is on: True once, and it is off again."""
        ...

    def double_signed(self, second: Vote) -> None:
        """Let out ``second``, a prevote conflicting with the one just sent (§14)."""
        ...


class ConsensusDriver:
    def __init__(
        self,
        key: ValidatorKey,
        genesis: Genesis,
        state: ChainState,
        store: BlockStore,
        metrics: NodeMetrics,
        host: DriverHost,
        stop: asyncio.Event,
    ) -> None:
        """``stop``: once set, round timers that fire do nothing."""
        self.address = key.address
        self._sign = key.sign
        self.genesis = genesis
        self.state = state
        self.store = store
        self.metrics = metrics
        self.host = host
        self._stop = stop
        self._last_block_ms: int | None = None  # for the block interval gauge
        self._next_height_handle: asyncio.TimerHandle | None = None
        self._held: int | None = None  # the next height, while the host keeps it waiting
        params = genesis.consensus
        self.timeouts = TimeoutConfig(
            propose_ms=params.timeout_propose_ms,
            prevote_ms=params.timeout_prevote_ms,
            precommit_ms=params.timeout_precommit_ms,
            delta_ms=params.timeout_delta_ms,
        )
        self.core = TendermintCore(
            genesis.chain_id,
            self.address,
            key.sign,
            self.timeouts,
            hash_of=lambda block: block.hash if isinstance(block, Block) else b"",
        )

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

    def close(self) -> None:
        """No next height will start (the node stops)."""
        if self._next_height_handle is not None:
            self._next_height_handle.cancel()

    def validator_set(self, height: int) -> ValidatorSet:
        committee = self.state.committee_for_height(height) or {}
        keys = self.genesis.public_keys()
        # Voting power is stake (§3): a member slashed to 0 whose ejection was deferred stays
        # in the CLP committee but has no vote, so it neither votes nor proposes.
        return ValidatorSet({a: (keys[a], stake) for a, stake in committee.items() if stake > 0})

    def upcoming_proposers(self) -> set[str]:
        """Who proposes the next blocks (this round, the next rounds, the next heights):
        only a proposer puts a response in a block, and the rotation reaches each peer."""
        height = self.state.next_height
        vs = self.validator_set(height)
        if len(vs) == 0:
            return set()
        round_ = self.core.round if self.core.height == height else 0
        ahead = self.genesis.clp.response_window
        return {vs.proposer(height, round_ + i) for i in range(ahead)}

    def start_height(self) -> None:
        """Decide the height after our head, unless the host holds it (then ``resume``
        starts it later, or sync moves the head past it)."""
        self._next_height_handle = None
        height = self.state.height + 1
        if self.core.height >= height:
            return  # started already
        if not self.host.may_start(height):
            if self._held != height:
                log_event(log, logging.INFO, "consensus.held", height=height)
            self._held = height
            return
        self._held = None
        restore = self.host.height_started(height)
        actions = self.core.start_height(
            height,
            self.validator_set(height),
            self._get_value,
            self._is_valid,
            restore=restore,
        )
        self._run_actions(actions)

    def resume(self) -> None:
        """The node's tick: start the next height if only the host held it."""
        if self._held is not None and not self._stop.is_set():
            self.start_height()

    @property
    def held(self) -> int | None:
        """The next height while it waits to start (§16.5), else None."""
        return self._held

    def restart_height(self) -> None:
        """Blocks came by sync: the height after the new head now, not after a pause."""
        if self._next_height_handle is not None:
            self._next_height_handle.cancel()
        self.start_height()

    def handle(self, message: Proposal | Vote) -> None:
        """A proposal or vote from a peer."""
        if isinstance(message, Vote):
            self._run_actions(self.core.on_vote(message))
        else:
            self._run_actions(self.core.on_proposal(message))

    def commit(self, block: Block, cert: CommitCertificate) -> None:
        """Persist and apply a decided (or synced and verified) block."""
        self.state.validate_block(block)  # never persist a block that replay would refuse
        self._observe_commit(block, cert)
        self.store.append(block.height, block.hash.hex(), block.to_json(), encode_certificate(cert))
        self._apply(block, replay=False)

    def _get_value(self, height: int, round_: int) -> tuple[bytes, object]:
        block = Block(
            self.genesis.chain_id,
            height,
            self.state.head_hash,
            self.address,
            tuple(self.host.block_responses(height)),
            max(self.host.now_ms(), self.state.head_time_ms),
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
        drift_ms = block.time_ms - self.host.now_ms()
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
                self.host.broadcast(action.message)
                message = action.message
                if (
                    isinstance(message, Vote)
                    and message.type is VoteType.PREVOTE
                    and message.validator == self.address
                    and self.host.take_double_sign()
                ):
                    self.host.double_signed(self._conflicting(message))
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

    def _conflicting(self, first: Vote) -> Vote:
        """A prevote for another value than ``first``'s (§14): nil if ``first`` names a
        block, else the round's proposal, else a hash no block has."""
        other: bytes | None = None
        if first.block_hash is None:
            proposal = self.core.round_proposal(first.round)
            other = (
                proposal.block_hash
                if proposal is not None
                else hashlib.blake2b(b"clp.double_sign" + first.signature, digest_size=32).digest()
            )
        return Vote.create(
            self.genesis.chain_id,
            VoteType.PREVOTE,
            first.height,
            first.round,
            other,
            self.address,
            self._sign,
        )

    def _on_timeout(self, kind: Any, height: int, round_: int) -> None:
        if self._stop.is_set():
            return
        self._run_actions(self.core.on_timeout(kind, height, round_))

    def _on_decide(self, decide: Decide) -> None:
        block = decide.block
        assert isinstance(block, Block)
        if block.height != self.state.height + 1:
            return
        self.commit(block, decide.certificate)
        delay = self.genesis.consensus.block_interval_ms / 1000
        loop = asyncio.get_running_loop()
        self._next_height_handle = loop.call_later(delay, self.start_height)

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
            self.host.block_applied(applied)
        return applied
