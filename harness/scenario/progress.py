"""How a run shows what it is doing: a line per event, and the nodes' heights while waiting.

The runner talks only to ``Reporter``; the CLI shows a live rich status line, the pytest
plugin stays silent (its result carries everything), tests record the events.
"""

from __future__ import annotations

import time
from collections.abc import Callable
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


# Without a terminal (CI logs, a pipe) there is no spinner: a wait prints a line when it
# begins and again this often, so a long wait is never silent.
WAIT_LINE_S = 10.0


class RichReporter:
    """Events as timestamped lines; while waiting, what for and every node's height.

    On a terminal that is one spinner line; elsewhere a "waiting:" line at the start of
    each wait and every WAIT_LINE_S seconds (so a CI log shows what a run waits for).
    """

    def __init__(
        self, console: Console, prefix: str = "", clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.console = console
        self.prefix = escape(prefix)
        self.clock = clock
        self.t0 = clock()
        self._status: Status | None = None
        self._printed: tuple[str, float] | None = None  # (what, when) of the last wait line

    def event(self, text: str) -> None:
        elapsed = self.clock() - self.t0
        self.console.print(f"[dim]{elapsed:6.1f}s[/] {self.prefix}{escape(text)}")

    def waiting(self, what: str, heights: dict[str, int | None]) -> None:
        if not self.console.is_terminal:
            now = self.clock()
            last = self._printed
            if last is None or last[0] != what or now - last[1] >= WAIT_LINE_S:
                self._printed = (what, now)
                self.event(f"waiting: {what}  ({show_heights(heights)})")
            return
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
