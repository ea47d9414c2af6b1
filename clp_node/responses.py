"""The CLP response pool and its gossip: what the next block may include, and who gets it.

A response is pooled when it is valid for the next block (``ChainState.check_response``);
one for a challenge we do not know yet waits in ``future`` until its block is here. Our own
responses go to every peer at once and again after ``RESPONSE_RESEND_AFTER_S`` while they
are pooled, a client's (REST) to every peer at once: only we may have them. A peer's
response is relayed only when blocks went by without it (``RESPONSE_RELAY_AFTER_BLOCKS``,
at most W - 1, and ``RELAY_AFTER_S``), only to the proposers of the next W rounds (only a
proposer puts it in a block), never back to a peer that sent it; docs/scale.md says why.

Our own answers are remembered (``answers``: challenge height -> wall-clock ms when the
response first went to the peers) for ``/alpha/clp/answers``: with the fault log, the
harness tells a response the network lost from one a node dropped (§15 Inclusion).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NamedTuple

from clp_node.api.metrics import NodeMetrics
from clp_node.chain.keys import ValidatorKey
from clp_node.chain.state import AppliedBlock, ChainState
from clp_node.clp.types import ClpResponse, MalformedResponse, ResponseRejectReason
from clp_node.gossip import PeerKnowledge
from clp_node.net.framing import encode_frame
from clp_node.relay import RELAY_AFTER_S, FrameLinks
from clp_node.wire import frame_digest

FUTURE_RESPONSES_MAX = 4096
RESPONSE_RESEND_AFTER_S = 1.0
# Blocks committed without a peer's response before we relay it (at most W - 1, so that a
# proposer of its window is left to reach; the test profile's W is 4).
RESPONSE_RELAY_AFTER_BLOCKS = 2
# Our own answers kept for /alpha/clp/answers: at least the current and previous epoch's,
# and up to this many (a few bytes each), so the harness reads a whole run at its end.
ANSWERS_KEPT = 4096

PoolKey = tuple[int, str]  # (challenge height, validator): ClpResponse.key()


class Pooled(NamedTuple):
    """A response in the pool: our height and monotonic time when it came, its frame."""

    height: int
    at: float
    frame: bytes
    digest: bytes


class ResponsePool:
    def __init__(
        self,
        key: ValidatorKey,
        state: ChainState,
        peers: list[str],
        links: FrameLinks,
        metrics: NodeMetrics,
        upcoming_proposers: Callable[[], set[str]],
        lazy: Callable[[], bool],
    ) -> None:
        """``upcoming_proposers()``: who proposes the next W rounds (a relay's targets);
        ``lazy()``: the test hook that makes this validator skip its own answers."""
        self.key = key
        self.address = key.address
        self.state = state
        self.peers = peers
        self.links = links
        self.metrics = metrics
        self.upcoming_proposers = upcoming_proposers
        self.lazy = lazy
        self.pool: dict[PoolKey, ClpResponse] = {}
        self.future: dict[PoolKey, ClpResponse] = {}
        # pool key -> when it was pooled here (someone else's is relayed only once blocks
        # went by without it, see tick) and its frame as we send it
        self._pooled: dict[PoolKey, Pooled] = {}
        # Our own CLP responses, by challenge height: re-sent sooner, a window is short.
        self.knowledge = PeerKnowledge(RESPONSE_RESEND_AFTER_S)
        # challenge height -> wall-clock ms when our response to it first went to the peers
        # (pruned in after_block: ANSWERS_KEPT)
        self.answers: dict[int, int] = {}

    def for_block(self, height: int) -> list[ClpResponse]:
        """The pooled responses a block at ``height`` may carry, in key order."""
        included: list[ClpResponse] = []
        seen: set[PoolKey] = set()
        for key in sorted(self.pool):
            r = self.pool[key]
            if self.state.clp.check_response(r, height, seen) is None:
                included.append(r)
                seen.add(key)
        return included

    def answer_open_challenges(self) -> None:
        """After a restart, answer challenges whose window is still open: a SIGKILL may
        have eaten the response we had queued."""
        for challenge in self.state.clp.open_challenges():
            answered = self.state.clp.aggregator.has_response(challenge.height, self.address)
            if self.address in challenge.expected and not answered and not self.lazy():
                response = self.state.clp.handler.create_response(self.key, challenge)
                self._pool(response)

    def after_block(self, applied: AppliedBlock) -> None:
        """Answer a new challenge, prune the pool, re-check responses that came early."""
        challenge = applied.challenge
        if challenge is not None and self.address in challenge.expected and not self.lazy():
            response = self.state.clp.handler.create_response(self.key, challenge)
            self._pool(response)
            self.send(response, time.monotonic())
        nxt = self.state.next_height
        oldest_epoch = self.state.config.epoch_of(nxt) - 1
        while len(self.answers) > ANSWERS_KEPT:
            first = min(self.answers)
            if self.state.config.epoch_of(first) >= oldest_epoch:
                break
            del self.answers[first]
        for key in list(self.pool):
            if self.state.clp.check_response(self.pool[key], nxt) is not None:
                del self.pool[key]
                self._pooled.pop(key, None)
        for key in sorted(self.future):
            if key[0] <= self.state.height:
                self._admit(self.future.pop(key))

    def submit(self, data: object) -> ResponseRejectReason | None:
        """A response posted to the REST API: judged against the next block, then gossiped."""
        response = self._parse(data)
        if response is None:
            return ResponseRejectReason.MALFORMED
        reason = self._admit(response, relay_now=True)
        if reason is not None:
            self.metrics.responses_rejected.labels(reason=reason.value).inc()
        return reason

    def on_gossip(self, sender: str, msg: dict[str, Any]) -> None:
        """A ``clp_response`` frame from a peer."""
        response = self._parse({k: v for k, v in msg.items() if k != "type"})
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

    def tick(self, now: float) -> None:
        """One turn of the gossip loop: our own responses when a resend is due, a peer's
        once it is overdue (to the upcoming proposers)."""
        proposers: set[str] | None = None
        for key, r in self.pool.items():
            if r.validator == self.address:
                self.send(r, now)
            elif self._overdue(key, now):
                if proposers is None:
                    proposers = self.upcoming_proposers()
                self.send(r, now, only=proposers)
        self.knowledge.prune(min((k[0] for k in self.pool), default=0))

    def send(self, response: ClpResponse, now: float, only: set[str] | None = None) -> None:
        """A pooled response to the peers that may lack it or whose link may have lost it;
        ``only``: to those of these peers (a relay goes to the upcoming proposers)."""
        pooled = self._pooled[response.key()]
        frame, digest = pooled.frame, pooled.digest
        height = response.challenge_height
        targets = []
        peers = self.peers if only is None else [p for p in self.peers if p in only]
        for peer in peers:
            gen = self.links.link_generation(peer)
            if self.knowledge.needs(peer, height, digest, gen, now):
                self.knowledge.sent(peer, height, digest, gen, now)
                targets.append(peer)
        if targets:
            self.links.send_frame(targets, frame)
            if response.validator == self.address and height not in self.answers:
                self.answers[height] = int(time.time() * 1000)

    def _parse(self, data: object) -> ClpResponse | None:
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
                self._received(sender, key)
            return ResponseRejectReason.DUPLICATE
        reason = self.state.check_response(response)
        if reason is None:
            self._pool(response)
            self.metrics.responses_received.inc()
            if sender is not None:
                self._received(sender, key)
            if relay_now:
                self.send(response, time.monotonic())
        return reason

    def _pool(self, response: ClpResponse) -> None:
        key = response.key()
        self.pool[key] = response
        frame = encode_frame({"type": "clp_response", **response.to_json()})
        self._pooled[key] = Pooled(
            self.state.height, time.monotonic(), frame, frame_digest(frame[4:])
        )

    def _received(self, sender: str, key: PoolKey) -> None:
        """The sender holds this pooled response: never send it back."""
        self.knowledge.received(sender, key[0], self._pooled[key].digest)

    def _overdue(self, key: PoolKey, now: float) -> bool:
        """Someone else's pooled response is relayed only once ``RESPONSE_RELAY_AFTER_BLOCKS``
        blocks were committed here without it (their proposers lacked it, most likely) and
        it is ``RELAY_AFTER_S`` old: its signer sent it to every peer, and a proposer that
        has it includes it in the next block or the one after."""
        height, at = self._pooled[key].height, self._pooled[key].at
        blocks = min(RESPONSE_RELAY_AFTER_BLOCKS, self.state.genesis.clp.response_window - 1)
        return self.state.height - height >= blocks and now - at >= RELAY_AFTER_S
