"""The runner names a hold-up of its own event loop next to a step that came late."""

from __future__ import annotations

import asyncio
import time

from harness.scenario.stalls import STALL_S, LoopStalls


def test_only_hold_ups_longer_than_the_threshold_count() -> None:
    s = LoopStalls()
    s.note(10.0, STALL_S / 2)
    s.note(20.0, 1.5)
    s.note(30.0, 0.8)
    assert s.stalls == [(20.0, 1.5), (30.0, 0.8)]
    assert s.longest_since(0.0) == 1.5
    assert s.longest_since(25.0) == 0.8
    assert s.longest_since(31.0) == 0.0


async def test_a_blocking_call_on_the_loop_is_seen() -> None:
    s = LoopStalls().start()
    try:
        await asyncio.sleep(0)  # the ticker starts and waits for its tick
        since = time.monotonic()
        time.sleep(STALL_S + 0.3)  # the hold-up under test
        async with asyncio.timeout(5):  # the ticker wakes late and says so
            while not s.longest_since(since):
                await asyncio.sleep(0.01)
    finally:
        await s.stop()
    assert s.longest_since(since) >= STALL_S + 0.2
