"""Authenticated, framed P2P transport between validators (directed links, see node.py)."""

from clp_node.net.framing import (
    DEFAULT_MAX_FRAME_BYTES,
    FrameError,
    FrameNotJson,
    FrameNotObject,
    FrameTooLarge,
    FrameTruncated,
    decode_frame,
    encode_frame,
    read_frame,
)
from clp_node.net.handshake import HandshakeError
from clp_node.net.node import OnMessage, P2PNetwork
from clp_node.net.peer import PeerInfo

__all__ = [
    "DEFAULT_MAX_FRAME_BYTES",
    "FrameError",
    "FrameNotJson",
    "FrameNotObject",
    "FrameTooLarge",
    "FrameTruncated",
    "HandshakeError",
    "OnMessage",
    "P2PNetwork",
    "PeerInfo",
    "decode_frame",
    "encode_frame",
    "read_frame",
]
