"""Who may hold a slot for an unauthenticated inbound connection, and who gives one up.

A connection is *waiting* from accept until its hello frame arrives (the dialer speaks
first, at once), then *handshaking* until it is authenticated. Both stages are bounded in
number, in total and per source address; sources the node knows as its peers' addresses
(the endpoints it dials, which are also where its peers' links come from) have no
per-source bound. When a pool is full its oldest connection goes, from an unknown source
first, and an unknown source at its bound displaces its own oldest: a flood, idle or
stalling after its hello, only ever evicts itself, while a real peer passes each stage
within one round trip. Time is bounded by the caller (one handshake deadline from
accept). Pure bookkeeping, no I/O, so the policy is tested on its own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

Conn = TypeVar("Conn", bound=Hashable)

# Reasons, as counted in alphaos_p2p_handshakes_rejected and net.handshake_failures.
TOO_MANY_PENDING = "too_many_pending"
SOURCE_LIMIT = "source_limit"


@dataclass(frozen=True)
class AdmissionLimits:
    max_waiting: int = 256
    max_waiting_per_source: int = 16
    max_handshakes: int = 64
    max_handshakes_per_source: int = 8

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if value < 1:
                raise ValueError(f"{name} must be positive")


@dataclass(frozen=True)
class Arrival(Generic[Conn]):
    """The outcome of entering a stage: ``evict`` must be closed, for ``reason``."""

    evict: tuple[Conn, ...] = ()
    reason: str = ""
    refused: bool = False  # the entering connection itself has no slot (it was evicted)


class Admission(Generic[Conn]):
    def __init__(self, limits: AdmissionLimits, is_preferred: Callable[[str], bool]) -> None:
        self._limits = limits
        self._is_preferred = is_preferred
        # Insertion order is arrival order, so the first entry is the oldest.
        self._waiting: dict[Conn, str] = {}
        self._handshaking: dict[Conn, str] = {}
        self._waiting_by: Counter[str] = Counter()
        self._handshaking_by: Counter[str] = Counter()

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def handshaking(self) -> int:
        return len(self._handshaking)

    def arrive(self, conn: Conn, source: str) -> Arrival[Conn]:
        """Admit ``conn`` to the waiting pool, naming the connections it displaces."""
        lim = self._limits
        arrival = self._make_room(
            self._waiting, self._waiting_by, source, lim.max_waiting, lim.max_waiting_per_source
        )
        self._waiting[conn] = source
        self._waiting_by[source] += 1
        return arrival

    def hello(self, conn: Conn) -> Arrival[Conn]:
        """``conn`` sent its hello: move it to the handshake stage, displacing as needed."""
        source = self._waiting.get(conn)
        if source is None:
            return Arrival(reason=TOO_MANY_PENDING, refused=True)  # evicted meanwhile
        self.leave(conn)
        lim = self._limits
        arrival = self._make_room(
            self._handshaking,
            self._handshaking_by,
            source,
            lim.max_handshakes,
            lim.max_handshakes_per_source,
        )
        self._handshaking[conn] = source
        self._handshaking_by[source] += 1
        return arrival

    def _make_room(
        self,
        pool: dict[Conn, str],
        by: Counter[str],
        source: str,
        total: int,
        per_source: int,
    ) -> Arrival[Conn]:
        victim: Conn | None = None
        reason = ""
        if not self._is_preferred(source) and by[source] >= per_source:
            victim, reason = _oldest(pool, lambda s: s == source), SOURCE_LIMIT
        elif len(pool) >= total:
            victim = _oldest(pool, lambda s: not self._is_preferred(s))
            victim = victim if victim is not None else next(iter(pool))
            reason = TOO_MANY_PENDING
        if victim is None:
            return Arrival()
        self.leave(victim)
        return Arrival((victim,), reason)

    def leave(self, conn: Conn) -> None:
        """``conn`` is authenticated, refused or closed: its slot is free (idempotent)."""
        for pool, by in (
            (self._waiting, self._waiting_by),
            (self._handshaking, self._handshaking_by),
        ):
            source = pool.pop(conn, None)
            if source is not None:
                by[source] -= 1
                if by[source] <= 0:
                    del by[source]


def _oldest(pool: dict[Conn, str], match: Callable[[str], bool]) -> Conn | None:
    """Insertion order is arrival order, so the first match is the oldest."""
    return next((c for c, s in pool.items() if match(s)), None)
