"""One direction of a proxied connection: socket reader -> toxic stages -> socket writer.

Each toxic is a stage (an asyncio task) between two pipes, in the order the
toxics were added. Changing the chain of a live link never loses or reorders
data: a new toxic is spliced in front of the writer; an updated one is
cancelled (flushing what it held) and restarted on the same pipes; a removed
one is cancelled, its held data and backlog are moved to its output, and its
predecessor is rewired to that output, all without an await in between.
With no toxics and nothing queued, data is written straight from the reader
callback, skipping the writer task (the common case, and the fast one).

A toxic's toxicity is rolled per link when its stage starts: when the link
opens, and again when that toxic is added or updated.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Mapping
from typing import Protocol

from .metrics import LinkCounter
from .pipe import Budget, Chunk, Item, Pipe
from .toxics import NOOP, Toxic, ToxicKind

HIGH_WATER = 8 * 1024 * 1024
"""Bytes queued in a link before its reader is paused."""
LOW_WATER = HIGH_WATER // 2


class Sink(Protocol):
    """The socket a link writes to (and the one it reads from, for flow control)."""

    @property
    def writable(self) -> bool:
        """Open and below its write high-water mark."""

    def write(self, data: bytes) -> bool:
        """Write; True if the socket still accepts data, False if it is gone."""

    async def drained(self) -> None:
        """Return once the socket's write buffer is below its high-water mark."""

    def close(self) -> None:
        """Flush what is buffered, then close the socket."""

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


class Resettable(Protocol):
    def set_reset(self) -> None:
        """Make every socket of the connection close with RST."""


class Stage:
    """A toxic running on one link, between its ``input`` and ``output`` pipes."""

    def __init__(self, toxic: Toxic, input_pipe: Pipe, output: Pipe, conn: Resettable) -> None:
        self.toxic = toxic
        self.input = input_pipe
        self.output = output
        self.state: dict[str, float] = {}
        self.held: deque[Item] = deque()
        self.active = False
        self.ended = False
        self._conn = conn
        self._task: asyncio.Task[None] | None = None

    # StageIO, as seen by the toxic
    def emit(self, item: Item) -> None:
        self.output.put(item)

    def hold(self, item: Item) -> None:
        self.held.append(item)

    def release(self) -> None:
        self.held.clear()

    def close(self) -> None:
        self.held.clear()
        self.ended = True
        self.output.put(None)
        self.input.close()

    def reset(self) -> None:
        self._conn.set_reset()

    # lifecycle, as driven by the link
    def start(self) -> None:
        """(Re)start the toxic, rolling its toxicity afresh for this link."""
        self.active = random.random() < self.toxic.toxicity
        kind = self.toxic.kind if self.active else NOOP
        self._task = asyncio.create_task(self._run(kind, dict(self.toxic.attributes)))

    async def _run(self, kind: ToxicKind, attrs: Mapping[str, int]) -> None:
        try:
            await kind.run(self, attrs)
        except asyncio.CancelledError:
            for item in self.held:
                self.output.put(item)
            self.held.clear()
            raise

    async def stop(self) -> None:
        """Interrupt the toxic; whatever it held is flushed to ``output`` first."""
        task = self._task
        if task is None or task.done():
            return
        task.cancel()
        await asyncio.wait((task,))

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()


class Link:
    """Bytes from ``source`` to ``sink`` through a chain of toxic stages."""

    def __init__(
        self,
        direction: str,
        source: Sink,
        sink: Sink,
        toxics: list[Toxic],
        conn: Resettable,
        counter: LinkCounter | None = None,
    ) -> None:
        self.direction = direction
        self._counter = counter if counter is not None else LinkCounter()
        self._sink = sink
        self._conn = conn
        self._loop = asyncio.get_running_loop()
        self._budget = Budget(HIGH_WATER, LOW_WATER, source.pause_reading, source.resume_reading)
        self._tail = Pipe(self._budget)
        self._head = self._tail
        self._stages: list[Stage] = []
        self._eof = False
        self._writer_idle = False
        for toxic in toxics:
            self.add(toxic)
        self._writer = asyncio.create_task(self._write())

    @property
    def done(self) -> bool:
        return self._writer.done()

    def feed(self, data: bytes) -> None:
        """Data read from the source socket."""
        if self._eof:
            return
        self._counter.received += len(data)
        if self._passthrough() and self._sink.write(data):
            self._counter.sent += len(data)
            return
        self._head.put(Chunk(data, self._loop.time()))

    def _passthrough(self) -> bool:
        """No toxics, nothing queued, writer idle, socket writable: writing now keeps order.

        This skips a task switch per chunk on the common no-toxic path.
        """
        return (
            self._writer_idle
            and self._head is self._tail
            and not len(self._tail)
            and self._sink.writable
        )

    def feed_eof(self) -> None:
        """The source reached EOF or was closed; idempotent."""
        if not self._eof:
            self._eof = True
            self._head.put(None)

    def add(self, toxic: Toxic) -> None:
        """Append a stage for ``toxic`` in front of the writer."""
        stage = Stage(toxic, Pipe(self._budget), self._tail, self._conn)
        if self._stages:
            self._stages[-1].output = stage.input
        else:
            self._head = stage.input
        self._stages.append(stage)
        stage.start()

    async def update(self, toxic: Toxic) -> None:
        """Restart ``toxic``'s stage so it picks up new attributes and toxicity."""
        stage = self._find(toxic)
        if stage is None or stage.ended:
            return
        await stage.stop()
        if not stage.ended and stage in self._stages:
            stage.start()

    async def remove(self, toxic: Toxic) -> None:
        """Cut ``toxic``'s stage out of the chain, passing on everything it had."""
        stage = self._find(toxic)
        if stage is None:
            return
        await stage.stop()
        if stage not in self._stages:
            return
        if toxic.kind.close_on_remove and stage.active and not stage.ended:
            stage.close()
        else:
            for item in stage.input.drain():
                stage.output.put(item)
        index = self._stages.index(stage)
        if index == 0:
            self._head = stage.output
        else:
            self._stages[index - 1].output = stage.output
        del self._stages[index]

    def cancel(self) -> None:
        """Stop every task of this link (its connection is gone)."""
        for stage in self._stages:
            stage.cancel()
        self._writer.cancel()

    def _find(self, toxic: Toxic) -> Stage | None:
        for stage in self._stages:
            if stage.toxic is toxic:
                return stage
        return None

    async def _write(self) -> None:
        tail, sink = self._tail, self._sink
        try:
            while True:
                if not len(tail):
                    self._writer_idle = True
                    try:
                        await tail.wait()
                    finally:
                        self._writer_idle = False
                item = tail.take()
                if item is None or not sink.write(item.data):
                    break
                self._counter.sent += len(item.data)
                await sink.drained()
        finally:
            tail.close()
            sink.close()
