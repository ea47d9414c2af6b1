"""Structured logs: one JSON object per line on stdout, so harnesses can parse them.

Modules log through the standard ``logging`` package with ``extra={"event", "fields"}``;
the formatter here turns each record into {"time", "level", "node", "event", ...fields}.
"""

from __future__ import annotations

import json
import logging
import sys
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


def setup_json_logging(node: str, level: str = "info", stream: TextIO | None = None) -> None:
    """Route every ``clp_node`` logger to one JSON line per record."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter(node))
    root = logging.getLogger("clp_node")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


def log_event(logger: logging.Logger, level: int, event: str, **fields: Any) -> None:
    """Event name plus fields, readable as text and available to the JSON formatter."""
    text = " ".join([event, *(f"{k}={v}" for k, v in fields.items())])
    logger.log(level, text, extra={"event": event, "fields": fields})
