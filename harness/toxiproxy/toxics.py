"""The eight toxics: their attributes, and what each does to one direction of a connection.

Each toxic runs as one stage of a link (see link.py). A stage can be cancelled
at any await so that its toxic can be updated or removed; before awaiting, a
toxic parks the data it has taken but not yet passed on in ``io.held``, and the
stage flushes that on cancellation, so no byte is lost or reordered.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from .pipe import Chunk, Item, Pipe


class StageIO(Protocol):
    """What a toxic sees of the stage running it."""

    input: Pipe
    state: dict[str, float]

    def emit(self, item: Item) -> None:
        """Pass ``item`` to the next stage."""

    def hold(self, item: Item) -> None:
        """Park ``item`` as taken but not yet passed on; flushed if interrupted."""

    def release(self) -> None:
        """Forget what was parked (it is about to be emitted or dropped)."""

    def close(self) -> None:
        """End this direction: pass EOF on and discard all later input."""

    def reset(self) -> None:
        """Arrange for the connection's sockets to close with RST (SO_LINGER 0)."""


async def _sleep_until(deadline: float) -> None:
    delay = deadline - asyncio.get_running_loop().time()
    if delay > 0:
        await asyncio.sleep(delay)


class ToxicKind:
    """A toxic type: its integer attributes (default 0) and its behaviour."""

    type_name: str = ""
    attributes: tuple[str, ...] = ()
    close_on_remove = False
    """Removing it closes the links it was active on (only ``timeout``)."""

    async def run(self, io: StageIO, attrs: Mapping[str, int]) -> None:
        raise NotImplementedError


class Noop(ToxicKind):
    """Passes data through unchanged; also what an inactive (toxicity-rolled-out) toxic runs."""

    type_name = "noop"

    async def run(self, io: StageIO, attrs: Mapping[str, int]) -> None:
        while True:
            item = await io.input.get()
            if item is None:
                io.close()
                return
            io.emit(item)


class Latency(ToxicKind):
    """Delays each chunk by latency ± jitter ms from when it was read.

    Deadlines are absolute (arrival + delay), so the stage is pipelined: a
    stream keeps its throughput and only gains the delay.
    """

    type_name = "latency"
    attributes = ("latency", "jitter")

    async def run(self, io: StageIO, attrs: Mapping[str, int]) -> None:
        latency, jitter = attrs["latency"], attrs["jitter"]
        loop = asyncio.get_running_loop()
        while True:
            item = await io.input.get()
            if item is None:
                io.close()
                return
            delay = latency + (random.randrange(-jitter, jitter) if jitter > 0 else 0)
            deadline = item.stamp + delay / 1000
            if deadline > loop.time():
                io.hold(item)
                await _sleep_until(deadline)
                io.release()
            io.emit(item)


class Bandwidth(ToxicKind):
    """Limits throughput to ``rate`` KB/s (1 KB = 1000 bytes); rate <= 0 stalls the data.

    Chunks bigger than 100 ms worth of data go out in 100 ms pieces. Time
    overslept is credited to the next piece, as in Toxiproxy, so the long-run
    rate stays exact despite timer granularity.
    """

    type_name = "bandwidth"
    attributes = ("rate",)

    async def run(self, io: StageIO, attrs: Mapping[str, int]) -> None:
        rate = attrs["rate"]
        loop = asyncio.get_running_loop()
        io.state.setdefault("debt", 0.0)
        while True:
            item = await io.input.get()
            if item is None:
                io.close()
                return
            if rate <= 0:
                io.hold(item)
                await asyncio.Future()  # stalled until the toxic changes
            remaining, piece_max = item.data, rate * 100
            while remaining:
                piece = remaining[:piece_max]
                io.state["debt"] += len(piece) / (rate * 1000)
                io.hold(Chunk(remaining, item.stamp))
                started = loop.time()
                if io.state["debt"] > 0:
                    await asyncio.sleep(io.state["debt"])
                io.state["debt"] -= loop.time() - started
                io.release()
                remaining = remaining[len(piece) :]
                io.emit(Chunk(piece, item.stamp))


class SlowClose(ToxicKind):
    """Delays the close by ``delay`` ms after EOF; data passes unchanged."""

    type_name = "slow_close"
    attributes = ("delay",)

    async def run(self, io: StageIO, attrs: Mapping[str, int]) -> None:
        while True:
            item = await io.input.get()
            if item is None:
                io.hold(None)
                await asyncio.sleep(max(0, attrs["delay"]) / 1000)
                io.release()
                io.close()
                return
            io.emit(item)


class Timeout(ToxicKind):
    """Drops all data; closes after ``timeout`` ms without data (0: never).

    Removing it closes the connections it was active on, as Toxiproxy does.
    """

    type_name = "timeout"
    attributes = ("timeout",)
    close_on_remove = True

    async def run(self, io: StageIO, attrs: Mapping[str, int]) -> None:
        timeout = attrs["timeout"] / 1000
        while True:
            if timeout > 0:
                if not await io.input.wait(timeout):
                    io.close()
                    return
                item = io.input.take()
            else:
                item = await io.input.get()
            if item is None:
                io.close()
                return


class ResetPeer(ToxicKind):
    """After the first data or EOF, waits ``timeout`` ms then resets the connection (RST)."""

    type_name = "reset_peer"
    attributes = ("timeout",)

    async def run(self, io: StageIO, attrs: Mapping[str, int]) -> None:
        await io.input.get()
        await asyncio.sleep(max(0, attrs["timeout"]) / 1000)
        io.reset()
        io.close()


class Slicer(ToxicKind):
    """Splits data into pieces of average_size ± size_variation bytes, ``delay`` µs apart."""

    type_name = "slicer"
    attributes = ("average_size", "size_variation", "delay")

    async def run(self, io: StageIO, attrs: Mapping[str, int]) -> None:
        average = max(1, attrs["average_size"])
        variation = max(0, min(attrs["size_variation"], average - 1))
        delay = max(0, attrs["delay"]) / 1_000_000
        while True:
            item = await io.input.get()
            if item is None:
                io.close()
                return
            remaining = item.data
            while remaining:
                size = average + (random.randint(-variation, variation) if variation else 0)
                piece, remaining = remaining[:size], remaining[size:]
                io.emit(Chunk(piece, item.stamp))
                if delay:
                    if remaining:
                        io.hold(Chunk(remaining, item.stamp))
                    await asyncio.sleep(delay)
                    io.release()


class LimitData(ToxicKind):
    """Passes the first ``bytes`` bytes of this direction, then closes the connection."""

    type_name = "limit_data"
    attributes = ("bytes",)

    async def run(self, io: StageIO, attrs: Mapping[str, int]) -> None:
        limit = attrs["bytes"]
        io.state.setdefault("sent", 0.0)
        while True:
            item = await io.input.get()
            if item is None:
                io.close()
                return
            allowed = max(0, limit - int(io.state["sent"]))
            data = item.data[:allowed]
            if data:
                io.emit(Chunk(data, item.stamp))
                io.state["sent"] += len(data)
            if io.state["sent"] >= limit:
                io.close()
                return


KINDS: dict[str, ToxicKind] = {
    kind.type_name: kind
    for kind in (
        Noop(),
        Latency(),
        Bandwidth(),
        SlowClose(),
        Timeout(),
        ResetPeer(),
        Slicer(),
        LimitData(),
    )
}
NOOP = KINDS["noop"]
STREAMS = ("upstream", "downstream")


@dataclass
class Toxic:
    """A configured toxic on a proxy; links snapshot its attributes when a stage starts."""

    name: str
    kind: ToxicKind
    stream: str
    toxicity: float = 1.0
    attributes: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for attribute in self.kind.attributes:
            self.attributes.setdefault(attribute, 0)

    def to_json(self) -> dict[str, object]:
        return {
            "attributes": {key: self.attributes[key] for key in self.kind.attributes},
            "name": self.name,
            "type": self.kind.type_name,
            "stream": self.stream,
            "toxicity": self.toxicity,
        }
