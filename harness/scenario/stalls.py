"""How long the harness's own event loop was held up: a late step's likely cause.

A step can land late because the chain is fast or because the harness was not running:
its process starved of CPU, or its loop blocked by something synchronous. A ticker that
asks to wake every ``TICK_S`` and measures how late it woke tells the two apart; the
runner puts the longest hold-up into the note of a late step.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

TICK_S = 0.1
STALL_S = 0.5  # a hold-up worth naming: longer than two blocks of the test profile


@dataclass
class LoopStalls:
    """Hold-ups of the running loop longer than ``STALL_S``: (monotonic end, seconds)."""

    stalls: list[tuple[float, float]] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    def start(self) -> LoopStalls:
        self._task = asyncio.get_running_loop().create_task(self._tick(), name="loop-stalls")
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _tick(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(TICK_S)
            now = time.monotonic()
            self.note(now, now - before - TICK_S)

    def note(self, now: float, lag: float) -> None:
        if lag > STALL_S:
            self.stalls.append((now, lag))

    def longest_since(self, since: float) -> float:
        """The longest hold-up that ended after monotonic time ``since`` (0.0: none)."""
        return max((lag for end, lag in self.stalls if end >= since), default=0.0)
