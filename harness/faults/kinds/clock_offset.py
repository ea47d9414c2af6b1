"""``clock_offset``: shift the node's clock by ms (test hook; 0 undoes it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.faults.kinds.base import Context, FaultKind, Field, Request
from harness.faults.state import FaultState

MAX_CLOCK_OFFSET_MS = 3_600_000  # the node's test hook refuses more (one hour)


class ClockOffset(FaultKind):
    name = "clock_offset"
    group = "hooks"
    summary = "shift the node's clock by ms (0 puts it back)"
    fields = (
        Field("node", "node", "the node", required=True, positional=True),
        Field(
            "ms",
            "int",
            "offset in ms",
            required=True,
            lo=-MAX_CLOCK_OFFSET_MS,
            hi=MAX_CLOCK_OFFSET_MS,
        ),
    )
    undone_by = "clock_offset"
    changes = "hooks[node].clock_offset_ms = ms"
    example = "v1 --ms -250"

    def undo_args(self, args: Mapping[str, Any], undo: FaultKind) -> dict[str, Any]:
        return {"node": args["node"], "ms": 0}

    def effect(self, state: FaultState, req: Request) -> FaultState:
        return state.with_hook(req.args["node"], clock_offset_ms=req.args["ms"])

    async def inject(self, ctx: Context, req: Request) -> None:
        await ctx.cluster.client(req.args["node"]).set_faults(clock_offset_ms=req.args["ms"])


KIND = ClockOffset()
