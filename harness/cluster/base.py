"""The Cluster interface every backend implements, and waiting in protocol time.

Timeouts come from the chain's own parameters (block interval, E, W): a wait for N blocks
allows N block intervals plus consensus rounds, scaled by a slack factor, never a
hand-tuned sleep.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from harness.cluster.client import NodeClient, NodeUnavailable
from harness.cluster.testnet import TestnetError, TestnetManifest
from harness.cluster.toxiproxy_api import ProxyApi

T = TypeVar("T")

# Polling for a height starts this many blocks before the chain can be there (Cluster.pace):
# one poll's round trip and the first node's lead over the others fit in them.
PACE_LEAD_BLOCKS = 2


class WaitTimeout(TimeoutError):
    """A condition did not hold in time; the message says what was awaited and the last state."""


async def wait_until(
    check: Callable[[], Awaitable[T | None] | T | None],
    timeout: float,
    what: str,
    interval: float = 0.1,
    retry_on: tuple[type[Exception], ...] = (),
) -> T:
    """Call ``check`` (plain or async) until it returns neither None nor False.

    Shared by the cluster and the tests so every wait fails the same way. An exception of
    a ``retry_on`` type counts as "not yet". WaitTimeout names ``what`` and the last
    exception or non-None value seen, so a failure says where things stood.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            result = check()
            value = await result if inspect.isawaitable(result) else result
        except retry_on as exc:
            last = exc
        else:
            if value is not None and value is not False:
                return cast(T, value)
            if value is not None:
                last = value
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"timed out after {timeout:.1f}s waiting for {what} ({last})")
        await asyncio.sleep(interval)


@dataclass(frozen=True)
class ProtocolClock:
    """Turns protocol durations (blocks, epochs) into wall-clock budgets."""

    block_interval_ms: int
    timeout_propose_ms: int
    epoch_length: int
    response_window: int
    slack: float = 3.0

    @classmethod
    def from_manifest(cls, manifest: TestnetManifest) -> ProtocolClock:
        c = manifest.consensus
        return cls(
            block_interval_ms=c.get("block_interval_ms", 1000),
            timeout_propose_ms=c.get("timeout_propose_ms", 3000),
            epoch_length=manifest.clp.get("epoch_length", 360),
            response_window=manifest.clp.get("response_window", 5),
        )

    @property
    def block_s(self) -> float:
        """Expected time of one block on a healthy loopback cluster."""
        return self.block_interval_ms / 1000 + 0.05

    def blocks(self, n: int) -> float:
        """Budget for n blocks, plus one round timeout for a slow start."""
        return self.slack * n * self.block_s + self.timeout_propose_ms / 1000 * 2 + 5.0

    def epochs(self, n: float) -> float:
        return self.blocks(int(n * self.epoch_length) + 1)

    def earliest(self, height: int, top: int) -> float:
        """Seconds before a chain now at ``top`` can be at ``height``: a node starts height
        h + 1 a block interval after it decided h (protocol §9) and h + 1 needs a quorum of
        nodes that did, so every height after the next takes one interval at least."""
        return max(0, height - top - 1) * self.block_interval_ms / 1000


class Cluster(ABC):
    """A running testnet: process control plus REST clients. Scenarios see only this."""

    #: False for a backend whose API addresses are known only once a node runs (published
    #: container ports); it calls ``open_client`` after each (re)start instead.
    api_urls_known_before_start = True

    def __init__(self, manifest: TestnetManifest) -> None:
        self.manifest = manifest
        self.clock = ProtocolClock.from_manifest(manifest)
        self.clients: dict[str, NodeClient] = {}
        if self.api_urls_known_before_start:
            self.clients = {
                n.name: NodeClient(n.name, self.api_url(n.name), hooks_token=manifest.hooks_token)
                for n in manifest.nodes
            }

    @property
    def names(self) -> list[str]:
        return [n.name for n in self.manifest.nodes]

    def address(self, name: str) -> str:
        return self.manifest.node(name).address

    def name_of(self, address: str) -> str:
        for n in self.manifest.nodes:
            if n.address == address:
                return n.name
        return address[:8]

    def client(self, name: str) -> NodeClient:
        try:
            return self.clients[name]
        except KeyError:
            self.manifest.node(name)  # an unknown name gets the manifest's clear error
            raise NodeUnavailable(f"{name}: no API address yet (never started)") from None

    async def open_client(self, name: str) -> None:
        """(Re)open the client of ``name`` at its current ``api_url``."""
        old = self.clients.pop(name, None)
        if old is not None:
            await old.close()
        self.clients[name] = NodeClient(
            name, self.api_url(name), hooks_token=self.manifest.hooks_token
        )

    @abstractmethod
    def api_url(self, name: str) -> str: ...

    @abstractmethod
    async def start(self, hold_links: bool = False) -> None:
        """Start every node and wait until each answers. ``hold_links``: create every
        link's proxy disabled, for the caller to connect (``connect_links``) once it
        watches the chain: block 1 then comes with every node up and no early block goes
        unseen (the scenario runner; a step due at height 3 had fired at 12 on a loaded
        machine, the chain running while the last nodes started)."""

    async def connect_links(self) -> None:
        """Enable every link held by ``start`` (the proxy's reset: a starting testnet has
        no toxic yet; the official server takes about 4 ms per listener on a busy machine,
        so a testnet of thousands of links is better started unheld)."""
        api = self.fault_api()
        if api is not None:
            await asyncio.to_thread(api.reset)

    @abstractmethod
    async def stop(self) -> None:
        """Stop every node and helper process; safe to call twice."""

    @abstractmethod
    def stop_sync(self) -> None:
        """Last-resort teardown without an event loop (signal handlers, atexit)."""

    async def shutdown(self) -> None:
        """``stop``, and the last-resort teardown even when ``stop`` fails or is cancelled."""
        try:
            await self.stop()
        finally:
            self.stop_sync()

    @abstractmethod
    async def kill(self, name: str) -> None:
        """SIGKILL: no chance to flush anything."""

    @abstractmethod
    async def pause(self, name: str) -> None: ...

    @abstractmethod
    async def resume(self, name: str) -> None: ...

    @abstractmethod
    async def restart(self, name: str) -> None:
        """Start a killed or stopped node again with its data directory intact."""

    @abstractmethod
    def is_running(self, name: str) -> bool: ...

    def implementations(self) -> dict[str, str]:
        """The node kind each validator was started as: the manifest's for a mixed testnet,
        else the one kind of this process (harness.node_kinds.current_kind)."""
        from harness.node_kinds import current_kind

        default = current_kind()
        return {n: self.manifest.implementations.get(n, default) for n in self.names}

    async def upgrade(
        self,
        name: str,
        kind: str,
        keep_data: bool,
        command: str | None = None,
        image: str | None = None,
    ) -> None:
        """Stop ``name`` and start it as node kind ``kind`` (``command`` or ``image``
        instead of the kind's own), on its data directory or (``keep_data`` False) on an
        empty one."""
        raise TestnetError(f"{type(self).__name__} cannot change the kind of a node")

    @abstractmethod
    def log_path(self, name: str) -> str: ...

    def fault_api(self) -> ProxyApi | None:
        """The Toxiproxy API carrying this cluster's links (None: direct links, no proxy)."""
        return None

    async def close_clients(self) -> None:
        for c in self.clients.values():
            await c.close()

    async def __aenter__(self) -> Cluster:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- observation -------------------------------------------------------------------

    async def height_of(self, name: str) -> int | None:
        """The node's height, None when it does not answer (or answers nonsense)."""
        try:
            return await self.client(name).height()
        except (NodeUnavailable, ValueError, KeyError):
            return None

    async def heights(self, names: Iterable[str] | None = None) -> dict[str, int | None]:
        """Each node's height, None for a node that does not answer."""
        names = list(names or self.names)
        values = await asyncio.gather(*(self.height_of(n) for n in names))
        return dict(zip(names, values, strict=True))

    async def first_at(self, height: int) -> int | None:
        """The height of the first node to answer at or past ``height`` (None: no node is
        there), without waiting for slower answers: on a loaded machine a poll of every
        node can take longer than a block."""
        calls = [asyncio.ensure_future(self.height_of(n)) for n in self.names]
        try:
            for done in asyncio.as_completed(calls):
                h = await done
                if h is not None and h >= height:
                    return h
            return None
        finally:
            for call in calls:
                call.cancel()
            await asyncio.gather(*calls, return_exceptions=True)

    async def wait_for(
        self,
        predicate: Callable[[], Awaitable[T | None]],
        timeout: float,
        what: str,
        interval: float = 0.1,
    ) -> T:
        """Poll ``predicate`` until it returns a value that is not None/False.

        A node that does not answer (NodeUnavailable) counts as "not yet".
        """
        return await wait_until(predicate, timeout, what, interval, retry_on=(NodeUnavailable,))

    async def pace(self, height: int, top: int, budget: float, since: float = 0.0) -> float:
        """Sleep while the chain, whose highest node was at ``top`` when every node was
        asked ``since`` seconds ago, cannot be within PACE_LEAD_BLOCKS of ``height``
        (ProtocolClock.earliest), for ``budget`` seconds at most: a wait for a far height
        then polls only for its last blocks. ``top`` must be of every node: a lower one
        oversleeps. Returns the seconds slept."""
        lead = PACE_LEAD_BLOCKS * self.clock.block_interval_ms / 1000
        seconds = min(budget, max(0.0, self.clock.earliest(height, top) - since - lead))
        await asyncio.sleep(seconds)
        return seconds

    async def wait_for_height(
        self, height: int, names: Iterable[str] | None = None, timeout: float | None = None
    ) -> dict[str, int]:
        """Every named node (default: all) at or past ``height``."""
        names = list(names or self.names)
        current = await self.heights(names)
        lowest = min((h for h in current.values() if h is not None), default=0)
        budget = timeout if timeout is not None else self.clock.blocks(max(height - lowest, 1))

        async def reached() -> dict[str, int] | None:
            hs = await self.heights(names)
            if all(h is not None and h >= height for h in hs.values()):
                return {k: int(v) for k, v in hs.items() if v is not None}
            return None

        if set(names) == set(self.names):  # the chain's top is known: pace (a lagging
            # node may sync past many heights at once, so a subset's highest would not do)
            top = max((h for h in current.values() if h is not None), default=0)
            budget -= await self.pace(height, top, budget)
        return await self.wait_for(reached, budget, f"height {height} on {', '.join(names)}")

    async def wait_for_epoch_result(
        self, epoch: int, names: Iterable[str] | None = None, timeout: float | None = None
    ) -> dict[str, dict[str, Any]]:
        """Every named node has evaluated ``epoch``; returns each node's served result."""
        last_height = (epoch + 1) * self.clock.epoch_length
        await self.wait_for_height(last_height, names, timeout)
        names = list(names or self.names)
        results = {}
        for n in names:
            r = await self.client(n).epoch_result(epoch)
            if r is None:
                raise WaitTimeout(f"{n} is past height {last_height} but serves no epoch {epoch}")
            results[n] = r
        return results
