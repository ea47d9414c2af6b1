"""Free loopback ports for a cluster's listeners.

Ports are picked below the kernel's ephemeral range: a port the kernel hands out for
``bind(0)`` is also the kind it hands to every outgoing connection, so between picking it
and the node binding it, another testnet or any client on the machine could take it.
Below the range only other listeners compete, and a random pick makes two testnets
starting at once unlikely to meet.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST = 10_000


def ephemeral_low(default: int = 32768) -> int:
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return default


def free_ports(count: int, host: str = "127.0.0.1", rng: random.Random | None = None) -> list[int]:
    """``count`` distinct ports that were free just now; all held open together while chosen."""
    rng = rng or random.Random()
    high = ephemeral_low()
    candidates = list(range(LOWEST, high)) if high - LOWEST >= 4 * count else []
    rng.shuffle(candidates)
    socks: list[socket.socket] = []
    try:
        for port in candidates:
            if len(socks) == count:
                break
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind((host, port))
            except OSError:
                s.close()
                continue
            socks.append(s)
        while len(socks) < count:  # no room below the ephemeral range: let the kernel choose
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def port_is_bound(port: int, host: str = "127.0.0.1") -> bool:
    """True while something still listens on (host, port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0
