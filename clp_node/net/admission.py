"""Who may hold a slot for an unauthenticated inbound connection, and who gives one up.

A connection is *waiting* from accept until its hello frame arrives (the dialer speaks
first, at once), then *handshaking* until it is authenticated. Both stages are bounded in
number, in total and per source address; sources the node knows as its peers' addresses
(the endpoints it dials, which are also where its peers' links come from) have no
per-source bound. When the waiting pool is full the oldest waiting connection goes, from
an unknown source first: an idle flood only ever evicts itself, while a real peer leaves
the pool within one round trip. Time is bounded by the caller (one handshake deadline
from accept). Pure bookkeeping, no I/O, so the policy is tested on its own.
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
    """What to do with a new connection: it is always admitted; ``evict`` must be closed."""

    evict: tuple[Conn, ...]
    reason: str = ""


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
        evict: list[Conn] = []
        reason = ""
        if (
            not self._is_preferred(source)
            and self._waiting_by[source] >= lim.max_waiting_per_source
        ):
            own = self._oldest(lambda s: s == source)
            evict.extend([] if own is None else [own])
            reason = SOURCE_LIMIT
        elif len(self._waiting) >= lim.max_waiting:
            victim = self._oldest(lambda s: not self._is_preferred(s))
            evict.append(victim if victim is not None else next(iter(self._waiting)))
            reason = TOO_MANY_PENDING
        for victim in evict:
            self.leave(victim)
        self._waiting[conn] = source
        self._waiting_by[source] += 1
        return Arrival(tuple(evict), reason)

    def hello(self, conn: Conn) -> str:
        """``conn`` sent its hello: move it to the handshake stage; a reason if refused."""
        source = self._waiting.get(conn)
        if source is None:
            return TOO_MANY_PENDING  # evicted meanwhile
        self.leave(conn)
        lim = self._limits
        if (
            not self._is_preferred(source)
            and self._handshaking_by[source] >= lim.max_handshakes_per_source
        ):
            return SOURCE_LIMIT
        if len(self._handshaking) >= lim.max_handshakes:
            return TOO_MANY_PENDING
        self._handshaking[conn] = source
        self._handshaking_by[source] += 1
        return ""

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

    def _oldest(self, match: Callable[[str], bool]) -> Conn | None:
        return next((c for c, s in self._waiting.items() if match(s)), None)
