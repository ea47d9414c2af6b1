"""Block sync: a node that fell behind fetches finalized blocks with their certificates.

Its input is what each peer says its finalized height is (``PeerHeights``), never trusted.
A claim only says where to ask for blocks; the blocks themselves are verified (their commit
certificate against the validator set of their height, then every rule of the chain). So a
claim must not stick: each new claim replaces the last (a peer that fell back says so), a
claim is capped at what a sync request could ever reach, and a peer that left a sync request
unanswered loses its claim until it makes a new one. Our own height goes to every peer in a
status frame once a second; each consensus message claims its height - 1 as well.

The claims also say where not to sign (docs/protocol.md §16.5, "Sync before signing"):
``StartGate`` starts no height that a counted claim shows finalized, and no first height
before every peer has claimed (or ``STARTUP_GRACE_S`` passed).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Collection
from typing import Any, Protocol

from clp_node.api.metrics import NodeMetrics
from clp_node.chain.block import Block
from clp_node.chain.state import ChainState, InvalidBlock
from clp_node.consensus.types import CommitCertificate, InvalidCertificate, ValidatorSet
from clp_node.logs import log_event
from clp_node.store.sqlite import StoredBlock
from clp_node.wire import decode_certificate

log = logging.getLogger(__name__)

SYNC_BATCH = 32
SYNC_RETRY_S = 1.0
STATUS_EVERY_S = 1.0  # a status frame to every peer at most this often
# Heights are SQLite integers; nothing above this is a height any chain reaches.
MAX_HEIGHT = 2**62
# At start, the first height waits this long at most for a claim from every peer: more than
# a peer's redial backoff (2 s) plus its status period.
STARTUP_GRACE_S = 5.0


class PeerHeights:
    def __init__(self) -> None:
        self._claims: dict[str, int] = {}
        # Peers that left a sync request unserved and have served nothing since: their
        # claims still say whom to ask, but no longer keep us from signing (``reach``).
        self._unserved: set[str] = set()

    def note(self, peer: str, claim: object) -> bool:
        """Record a claim; False (and nothing recorded) for one that is not a height."""
        if not isinstance(claim, int) or isinstance(claim, bool) or not 0 <= claim <= MAX_HEIGHT:
            return False
        self._claims[peer] = claim
        return True

    def claim(self, peer: str) -> int | None:
        return self._claims.get(peer)

    def ahead_of(self, height: int) -> dict[str, int]:
        return {p: h for p, h in self._claims.items() if h > height}

    def unanswered(self, peer: str, height: int) -> None:
        """``peer`` did not serve the blocks above ``height`` it claimed: drop the claim,
        and its claims stop counting for ``reach`` until it serves a block."""
        if self._claims.get(peer, 0) > height:
            self._claims[peer] = height
        self._unserved.add(peer)

    def served(self, peer: str) -> None:
        """``peer`` served a block we applied: its claims count for ``reach`` again."""
        self._unserved.discard(peer)

    def reach(self) -> int:
        """The highest claim that counts: heights up to it are finalized, we sign none."""
        return max(
            (h for p, h in self._claims.items() if p not in self._unserved),
            default=0,
        )

    def heard_from(self, peers: Collection[str]) -> bool:
        """Every one of ``peers`` has made a claim."""
        return all(p in self._claims for p in peers)

    def to_json(self) -> dict[str, int]:
        return dict(self._claims)


class StartGate:
    """§16.5, sync before signing: may we start (and so sign at) ``height`` now?

    The node's first height after start-up: not while a counted claim
    (``PeerHeights.reach``) is ``>= height``: a node restarted on an empty or older store
    would sign again where its old self signed (amnesia). Nor before every peer has claimed
    or ``grace_s`` has passed since the first ask (once its links listen): until the
    statuses come we cannot know what the chain finalized. Once a height started, the vote
    log holds what we sign, so claims hold nothing more: a node a block behind whose
    outbound links are cut could not sync and would stall for good.
    """

    def __init__(
        self, peers: Collection[str], peer_heights: PeerHeights, grace_s: float = STARTUP_GRACE_S
    ) -> None:
        self.peers = tuple(peers)
        self.peer_heights = peer_heights
        self.grace_s = grace_s
        self._grace_until: float | None = None  # set by the first ask
        self._started = False  # a height has started since start-up

    def allows(self, height: int, now: float) -> bool:
        """``now``: monotonic seconds."""
        if self._started:
            return True
        if self._grace_until is None:
            self._grace_until = now + self.grace_s
        if now < self._grace_until and not self.peer_heights.heard_from(self.peers):
            return False
        self._started = height > self.peer_heights.reach()
        return self._started


class MessageLinks(Protocol):
    """What block sync needs of the P2P network (``P2PNetwork``)."""

    def send(self, peer_address: str, message: dict[str, Any]) -> bool: ...

    def broadcast(self, message: dict[str, Any]) -> int: ...


class BlockRange(Protocol):
    """What block sync serves from (``BlockStore``)."""

    def range(self, start: int, end: int) -> list[StoredBlock]: ...


class BlockSync:
    def __init__(
        self,
        state: ChainState,
        store: BlockRange,
        links: MessageLinks,
        peer_heights: PeerHeights,
        metrics: NodeMetrics,
        validator_set: Callable[[int], ValidatorSet],
        commit: Callable[[Block, CommitCertificate], None],
        restart: Callable[[], None],
    ) -> None:
        """``commit(block, certificate)`` persists and applies a verified block (raises
        InvalidBlock for one the chain refuses); ``restart()`` starts consensus at the
        height after the new head."""
        self.state = state
        self.store = store
        self.links = links
        self.peer_heights = peer_heights
        self.metrics = metrics
        self.validator_set = validator_set
        self.commit = commit
        self.restart = restart
        self._inflight_until = 0.0
        self._asked: tuple[str, int] | None = None  # (peer, our height) of the last ask
        self._status_sent_at = 0.0  # monotonic time of our last status broadcast

    def announce(self, now: float) -> None:
        """Our height to every peer, once a second whatever the height: every consensus
        message claims its height - 1 already, so a status per commit (N - 1 frames in
        and out per block and node) told a peer nothing its votes did not."""
        if now - self._status_sent_at >= STATUS_EVERY_S:
            self.links.broadcast({"type": "status", "height": self.state.height})
            self._status_sent_at = now

    def note_peer_height(self, peer: str, height: object) -> None:
        """A peer's claim (a status frame, or a consensus message's height - 1)."""
        # Only a claim above our height can start a sync: the common case (a peer at our
        # height, on each of its messages) must not scan every peer's claim.
        if self.peer_heights.note(peer, height):
            claim = self.peer_heights.claim(peer)
            if claim is not None and claim > self.state.height:
                self.maybe_sync()

    def maybe_sync(self) -> None:
        """Ask a random peer ahead of us for the next blocks, unless an ask is in flight."""
        now = time.monotonic()
        if now < self._inflight_until:
            return
        if self._asked is not None and self._asked[1] == self.state.height:
            # The last ask brought nothing within SYNC_RETRY_S: that claim was not served.
            self.peer_heights.unanswered(*self._asked)
        self._asked = None
        ahead = self.peer_heights.ahead_of(self.state.height)
        if not ahead:
            return
        peer = random.choice(sorted(ahead))
        start = self.state.height + 1
        end = min(ahead[peer], start + SYNC_BATCH - 1)
        self._inflight_until = now + SYNC_RETRY_S
        self._asked = (peer, self.state.height)
        self.links.send(peer, {"type": "sync_request", "from": start, "to": end})

    def serve(self, sender: str, msg: dict[str, Any]) -> None:
        """A ``sync_request``: up to SYNC_BATCH of our blocks with their certificates."""
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
            self.links.send(sender, {"type": "sync_response", "blocks": blocks})

    def on_response(self, sender: str, msg: dict[str, Any]) -> None:
        """A ``sync_response``: each next block, once its certificate is verified."""
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
            cert.verify(self.state.chain_id, self.validator_set(block.height))
            try:
                self.commit(block, cert)
            except InvalidBlock as exc:
                log_event(
                    log, logging.WARNING, "sync.invalid_block", peer=sender[:8], reason=exc.reason
                )
                break
            self.metrics.blocks_synced.inc()
            advanced = True
        self._inflight_until = 0.0
        if advanced:
            self.peer_heights.served(sender)
            self.restart()
            self.maybe_sync()
