"""Chunks and the queues that join a link's stages.

The queues are unbounded so that cutting a toxic out of a live chain can move
its backlog on synchronously, with no await in which data could be reordered.
Memory is bounded instead by a per-link byte budget that pauses the socket
reader while too much is queued, the way TCP flow control would.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class Chunk:
    """Bytes read from a socket, stamped with the loop time they arrived."""

    data: bytes
    stamp: float


Item = Chunk | None
"""What flows through a link: a chunk, or ``None`` for end of stream."""


class Budget:
    """Bytes queued in one link; calls ``pause`` above ``high`` and ``resume`` below ``low``."""

    def __init__(
        self, high: int, low: int, pause: Callable[[], None], resume: Callable[[], None]
    ) -> None:
        self.queued = 0
        self._high = high
        self._low = low
        self._pause = pause
        self._resume = resume
        self._paused = False

    def add(self, size: int) -> None:
        self.queued += size
        if not self._paused and self.queued > self._high:
            self._paused = True
            self._pause()

    def sub(self, size: int) -> None:
        self.queued -= size
        if self._paused and self.queued <= self._low:
            self._paused = False
            self._resume()


class Pipe:
    """A single-consumer FIFO whose waits never lose an item when cancelled."""

    def __init__(self, budget: Budget) -> None:
        self._items: deque[Item] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._budget = budget
        self.closed = False

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: Item) -> None:
        """Append ``item``; a closed pipe (its reader has seen EOF) drops it."""
        if self.closed:
            return
        self._items.append(item)
        if item is not None:
            self._budget.add(len(item.data))
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def take(self) -> Item:
        """Pop the oldest item; only call when ``len(self)`` is non-zero."""
        item = self._items.popleft()
        if item is not None:
            self._budget.sub(len(item.data))
        return item

    def drain(self) -> list[Item]:
        """Remove and return everything queued, oldest first."""
        items = [self.take() for _ in range(len(self._items))]
        return items

    def close(self) -> None:
        """Drop what is queued and everything put from now on."""
        self.drain()
        self.closed = True

    async def wait(self, timeout: float | None = None) -> bool:
        """Wait until an item is queued; False if ``timeout`` seconds pass first."""
        if self._items:
            return True
        waiter = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        try:
            if timeout is None:
                await waiter
            else:
                await asyncio.wait((waiter,), timeout=timeout)
        finally:
            self._waiter = None
            if not waiter.done():
                waiter.cancel()
        return bool(self._items)

    async def get(self) -> Item:
        while not self._items:
            await self.wait()
        return self.take()
