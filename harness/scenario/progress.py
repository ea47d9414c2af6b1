"""How a run shows what it is doing: a line per event, and the nodes' heights while waiting.

The runner talks only to ``Reporter``; the CLI shows a live rich status line, the pytest
plugin stays silent (its result carries everything), tests record the events.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Protocol

from rich.console import Console
from rich.markup import escape
from rich.status import Status


class Reporter(Protocol):
    def event(self, text: str) -> None:
        """Something happened (a step fired, a phase began); plain text, no markup."""

    def waiting(self, what: str, heights: dict[str, int | None]) -> None:
        """Still waiting for ``what``; the nodes are at these heights."""

    def done(self) -> None:
        """The run is over; release the display."""


class NullReporter:
    def __init__(self) -> None:
        self.events: list[str] = []

    def event(self, text: str) -> None:
        self.events.append(text)

    def waiting(self, what: str, heights: dict[str, int | None]) -> None:
        pass

    def done(self) -> None:
        pass


def show_heights(heights: dict[str, int | None]) -> str:
    return "  ".join(f"{n}:{h if h is not None else '-'}" for n, h in heights.items())


class RichReporter:
    """Events as timestamped lines; a spinner line with every node's height while waiting."""

    def __init__(self, console: Console, prefix: str = "") -> None:
        self.console = console
        self.prefix = escape(prefix)
        self.t0 = time.monotonic()
        self._status: Status | None = None

    def event(self, text: str) -> None:
        elapsed = time.monotonic() - self.t0
        self.console.print(f"[dim]{elapsed:6.1f}s[/] {self.prefix}{escape(text)}")

    def waiting(self, what: str, heights: dict[str, int | None]) -> None:
        text = f"{self.prefix}{escape(what)}   [dim]{escape(show_heights(heights))}[/]"
        if self._status is None:
            self._status = self.console.status(text)
            self._status.start()
        else:
            self._status.update(text)

    def done(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def __enter__(self) -> RichReporter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.done()
