"""Free loopback ports for a cluster's listeners.

Ports are picked below the kernel's ephemeral range: a port the kernel hands out for
``bind(0)`` is also the kind it hands to every outgoing connection, so between picking it
and the node binding it, another testnet or any client on the machine could take it.
Below the range only other listeners compete, and a random pick makes two testnets
starting at once unlikely to meet.
"""

from __future__ import annotations

import collections
import os
import random
import socket
from pathlib import Path

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST = 10_000
# ``LO-HI``: pick only from this range. Testnets started at once from one place (pytest-xdist
# workers, see harness.pytest_plugin) each get a range of their own: a port a killed node
# frees is then still its own when it restarts, not taken by another testnet meanwhile.
PORT_RANGE_ENV = "CLP_TESTNET_PORTS"


class PortsExhausted(ValueError):
    """More ports asked for than can be picked safely on this machine."""


def port_range() -> tuple[int, int]:
    """Where ports are picked: ``CLP_TESTNET_PORTS`` (LO-HI), else below the ephemeral range."""
    raw = os.environ.get(PORT_RANGE_ENV, "").strip()
    if not raw:
        return LOWEST, ephemeral_low()
    try:
        lo, hi = (int(x) for x in raw.split("-"))
    except ValueError:
        raise PortsExhausted(f"{PORT_RANGE_ENV}={raw!r}: want LO-HI, e.g. 20000-29999") from None
    if not 1024 <= lo < hi <= 65535:
        raise PortsExhausted(f"{PORT_RANGE_ENV}={raw!r}: want 1024 <= LO < HI <= 65535")
    return lo, hi + 1


def worker_range(index: int, count: int) -> str:
    """The ``CLP_TESTNET_PORTS`` value of worker ``index`` of ``count``: disjoint slices of
    the range ports are picked from (``port_range``: the one the workers inherited, else
    below the ephemeral ports), so suites run side by side can each have a range too."""
    lo, hi = port_range()
    span = (hi - lo) // max(1, count)
    return f"{lo + index * span}-{lo + (index + 1) * span - 1}"


def ephemeral_low(default: int = 32768) -> int:
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return default


# The kernel fallback holds every socket until all are chosen: bounded well below the
# usual 1024 open files.
MAX_HELD = 512
# Ports this process handed out lately, never handed out again while remembered: testnets
# run together in one process (`explore --jobs`) must not get a port another one's killed
# node will bind again on restart.
_RECENT: collections.deque[int] = collections.deque(maxlen=8192)


def free_ports(count: int, host: str = "127.0.0.1", rng: random.Random | None = None) -> list[int]:
    """``count`` distinct ports that were free just now.

    Below the ephemeral range each candidate is bound and released at once: distinct
    candidates give distinct ports, so a testnet of any size uses one socket at a time
    (holding them all made ``init -n 200`` die of "Too many open files" at 40,201).
    """
    rng = rng or random.Random()
    low, high = port_range()
    # Random picks from a range with room to spare make two testnets starting at once
    # unlikely to meet; a testnet that needs most of the range (128 proxied validators:
    # 16,513 of 22,768) still gets its ports while they are free, rather than a refusal.
    if high - low >= count:
        candidates = list(range(low, high))
        rng.shuffle(candidates)
        ports: list[int] = []
        recent = set(_RECENT)
        for port in candidates:
            if len(ports) == count:
                break
            if port in recent:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                try:
                    s.bind((host, port))
                except OSError:
                    continue
            ports.append(port)
        if len(ports) == count:
            _RECENT.extend(ports)
            return ports
        raise PortsExhausted(
            f"only {len(ports)} of the {count} ports needed are free now in {low}..{high - 1}"
        )
    if count > MAX_HELD:
        raise PortsExhausted(
            f"this testnet needs {count} ports; {high - low} lie in the range it may use "
            f"({low}..{high - 1}) (a proxied "
            "testnet of n validators needs n*(n+1) ports and one per proxy server: use fewer, "
            "or --no-proxy)"
        )
    return _kernel_ports(count, host)


def _kernel_ports(count: int, host: str) -> list[int]:
    """No room below the ephemeral range: let the kernel choose, all held until chosen."""
    socks: list[socket.socket] = []
    try:
        while len(socks) < count:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            s.bind((host, 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def port_is_bound(port: int, host: str = "127.0.0.1") -> bool:
    """True while something still listens on (host, port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0
