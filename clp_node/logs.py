"""Structured logs: one JSON object per line on stdout, so harnesses can parse them.

Modules log through the standard ``logging`` package with ``extra={"event", "fields"}``;
the formatter here turns each record into {"time", "level", "node", "event", ...fields}.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO


class JsonFormatter(logging.Formatter):
    def __init__(self, node: str) -> None:
        super().__init__()
        self.node = node

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": round(record.created, 3),
            "level": record.levelname.lower(),
            "node": self.node,
            "event": getattr(record, "event", None) or record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


# Libraries that log on their own (aiohttp's access and error logs, asyncio's "Task
# exception was never retrieved"): their records are JSON lines too, tracebacks included.
LIBRARY_LOGGERS = ("aiohttp", "asyncio", "py.warnings")


def setup_json_logging(node: str, level: str = "info", stream: TextIO | None = None) -> None:
    """Route every ``clp_node`` and library logger to one JSON line per record."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter(node))
    for name in ("clp_node", *LIBRARY_LOGGERS):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.propagate = False
        logger.setLevel(level.upper() if name == "clp_node" else logging.WARNING)
    # warnings.warn would write plain text to stderr. Off first: capturing twice keeps a
    # stale hook when something (a test runner) replaced it in between.
    logging.captureWarnings(False)
    logging.captureWarnings(True)
    crash = logging.getLogger("clp_node.crash")

    def log_uncaught(kind: type[BaseException], exc: BaseException, tb: Any) -> None:
        # A bug that escapes everything still ends the process, but as one JSON line.
        crash.critical("node.crashed", exc_info=(kind, exc, tb))

    sys.excepthook = log_uncaught


def log_event(logger: logging.Logger, level: int, event: str, **fields: Any) -> None:
    """Event name plus fields, readable as text and available to the JSON formatter."""
    text = " ".join([event, *(f"{k}={v}" for k, v in fields.items())])
    logger.log(level, text, extra={"event": event, "fields": fields})


class LogLimiter:
    """At most one line per key and interval: a flood of refusals must not flood the log.

    ``allow`` returns None while a key is held back, else how many lines it held back.
    """

    def __init__(self, interval_s: float = 5.0, clock: Callable[[], float] = time.monotonic):
        self._interval = interval_s
        self._clock = clock
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def allow(self, key: str) -> int | None:
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            self._held[key] = self._held.get(key, 0) + 1
            return None
        if len(self._last) > 1024:  # keys are reasons, but never let them grow without end
            self._last.clear()
        self._last[key] = now
        return self._held.pop(key, 0)
