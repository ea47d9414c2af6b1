"""The registry of fault kinds: every module of this package that defines ``KIND``.

Adding a fault kind is adding one module here (plus its docs line, checked by a test).
"""

from __future__ import annotations

import importlib
import pkgutil

from harness.faults.errors import FaultError
from harness.faults.kinds.base import FaultKind

GROUPS = ("links", "toxics", "processes", "hooks", "network", "all")

# Spellings of earlier versions -> the kind that replaced them.
RENAMED = {
    "clear_toxics": "clear",
    "heal_all": "reset",
    "clear_all": "reset",
    "reset-peer": "reset_peer",
    "clock-offset": "clock_offset",
}


def _discover() -> dict[str, FaultKind]:
    found: list[FaultKind] = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") or info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        kind = getattr(module, "KIND", None)
        if isinstance(kind, FaultKind):
            found.append(kind)
    found.sort(key=lambda k: (GROUPS.index(k.group), k.name))
    return {k.name: k for k in found}


KINDS: dict[str, FaultKind] = _discover()


def get(name: str) -> FaultKind:
    """The kind called ``name``; an old spelling or unknown name gets a FaultError."""
    kind = KINDS.get(name) or KINDS.get(name.replace("-", "_"))
    if kind is not None:
        return kind
    if name in RENAMED:
        raise FaultError(f'"{name}" is now called "{RENAMED[name]}"')
    raise FaultError(f"unknown fault kind {name!r} (known: {', '.join(KINDS)})")


__all__ = ["GROUPS", "KINDS", "RENAMED", "FaultKind", "get"]
