"""Consensus gossip: which proposals and votes go to which peer, and when.

The rules of docs/scale.md, kept per peer in ``gossip.PeerKnowledge``: a peer that sent us
a message never gets it back; a message goes once per peer and link generation, again only
after ``RESEND_AFTER_S``; nothing of a height goes to a peer whose status says it finalized
that height; nothing a peer's own votes show it holds; and someone else's message is relayed
only once it is ``RELAY_AFTER_S`` old here. Copies of frames already handled are dropped
before they are decoded (``seen``, read by the node's frame decoder).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Protocol

from clp_node.consensus.core import DEFAULT_MAX_HEIGHTS_AHEAD
from clp_node.consensus.types import Proposal, Vote, VoteType
from clp_node.gossip import PeerKnowledge, SeenFrames
from clp_node.net.framing import encode_frame
from clp_node.sync import PeerHeights
from clp_node.wire import Consensus, Duplicate, encode_consensus, frame_digest

# The period of the node's gossip loop (relays, re-sends, status, response gossip).
STATUS_INTERVAL_S = 0.25
# Someone else's message is relayed only once it is this old here: by then a peer that got
# it from its signer has said so (it sent it to us) or has had time to; see gossip.py.
RELAY_AFTER_S = 2 * STATUS_INTERVAL_S
# A message sent on a link that stayed up is sent again after this (a black-holing link).
RESEND_AFTER_S = 2.0
SEEN_FRAMES_MAX = 65_536


class FrameLinks(Protocol):
    """What gossip needs of the P2P network (``P2PNetwork``)."""

    def link_generation(self, peer_address: str) -> int: ...

    def send_frame(self, peer_addresses: list[str], frame: bytes) -> None: ...


class ConsensusRelay:
    def __init__(
        self,
        address: str,
        peers: list[str],
        links: FrameLinks,
        peer_heights: PeerHeights,
        admit: Callable[[Proposal | Vote], bool],
        max_frame_bytes: int,
    ) -> None:
        """``admit(message)``: False for one of ours that must not leave (the vote log)."""
        self.address = address
        self.peers = peers
        self.links = links
        self.peer_heights = peer_heights
        self.admit = admit
        self.max_frame_bytes = max_frame_bytes
        self.knowledge = PeerKnowledge(RESEND_AFTER_S)
        self.seen = SeenFrames(SEEN_FRAMES_MAX)
        # id(message) -> (message, frame, digest) of consensus messages we hold
        self._frames: dict[int, tuple[Proposal | Vote, bytes, bytes]] = {}
        self.stats = {"duplicates_dropped": 0, "frames_sent": 0, "relays_held": 0}

    def start_height(self, height: int) -> None:
        """Forget what only mattered below ``height``, the height now being decided."""
        self.knowledge.prune(height)
        self.seen.prune(height - 1)  # late copies of the last height stay cheap
        self._frames = {k: v for k, v in self._frames.items() if v[0].height >= height}

    def broadcast(self, message: Proposal | Vote) -> None:
        """Send to every peer that may lack it (gossip.py), after the WAL has it."""
        if not self.admit(message):
            return
        frame, digest = self.frame_of(message)
        now = time.monotonic()
        height = message.height
        cover = _covered_by(message)
        targets = []
        for peer in self.peers:
            claim = self.peer_heights.claim(peer)
            if claim is not None and claim >= height:
                continue  # final there: it needs nothing of this height
            if cover is not None and self.knowledge.holds(peer, height, cover):
                continue  # its own votes say it has this (or no longer needs it)
            gen = self.links.link_generation(peer)
            if self.knowledge.needs(peer, height, digest, gen, now):
                self.knowledge.sent(peer, height, digest, gen, now)
                targets.append(peer)
        if targets:
            self.links.send_frame(targets, frame)
            self.stats["frames_sent"] += len(targets)

    def frame_of(self, message: Proposal | Vote) -> tuple[bytes, bytes]:
        """The frame and digest of a message we send, encoded once per height."""
        cached = self._frames.get(id(message))
        if cached is not None and cached[0] is message:
            return cached[1], cached[2]
        frame = encode_frame(encode_consensus(message), self.max_frame_bytes)
        digest = frame_digest(frame[4:])
        self._frames[id(message)] = (message, frame, digest)
        return frame, digest

    def duplicate(self, sender: str, copy: Duplicate) -> None:
        """A copy of a frame already handled: its sender holds it."""
        self.stats["duplicates_dropped"] += 1
        self.knowledge.received(sender, copy.height, copy.digest)

    def received(self, sender: str, frame: Consensus, height: int) -> None:
        """A frame the consensus core has just handled, ``height`` the one it decides now."""
        message = frame.message
        if message.height <= height + DEFAULT_MAX_HEIGHTS_AHEAD:
            # Used, buffered or refused for good: a copy would change nothing. (Heights
            # further ahead are not remembered at all: a hostile peer cannot fill memory.)
            self.seen.add(frame.digest, message.height, time.monotonic())
            if message.height >= height:
                self.knowledge.received(sender, message.height, frame.digest)
                if isinstance(message, Vote) and message.validator == sender:
                    self.knowledge.learned(sender, message.height, _implied_by(message))

    def tick(self, now: float, messages: Iterable[Proposal | Vote]) -> None:
        """Re-send what an unreliable network may have lost (``messages``: what the core
        gossips); someone else's message only once it is ``RELAY_AFTER_S`` old here."""
        for message in messages:
            sender = message.validator if isinstance(message, Vote) else message.proposer
            if sender != self.address:
                _, digest = self.frame_of(message)
                seen = self.seen.get(digest)
                if seen is not None and now - seen[1] < RELAY_AFTER_S:
                    self.stats["relays_held"] += 1
                    continue
            self.broadcast(message)


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
