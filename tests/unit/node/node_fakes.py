"""A stand-in for the P2P network, for driving one part of the node alone."""

from __future__ import annotations

from typing import Any


class FakeLinks:
    """Records what a part sends; ``generations`` is each peer's link generation."""

    def __init__(self, peers: list[str]) -> None:
        self.peers = peers
        self.generations = dict.fromkeys(peers, 0)
        self.frames: list[tuple[list[str], bytes]] = []  # send_frame calls
        self.messages: list[tuple[str, dict[str, Any]]] = []  # send calls
        self.broadcasts: list[dict[str, Any]] = []

    def link_generation(self, peer_address: str) -> int:
        return self.generations[peer_address]

    def send_frame(self, peer_addresses: list[str], frame: bytes) -> None:
        self.frames.append((list(peer_addresses), frame))

    def send(self, peer_address: str, message: dict[str, Any]) -> bool:
        self.messages.append((peer_address, message))
        return True

    def broadcast(self, message: dict[str, Any]) -> int:
        self.broadcasts.append(message)
        return len(self.peers)

    def frames_to(self, peer: str) -> list[bytes]:
        """The frames sent to ``peer``, in order."""
        return [frame for targets, frame in self.frames if peer in targets]
