"""``reset``: everything — links, toxics, packet loss and netem, processes, test hooks.

What the runner's quiet period does; ``heal`` (links) and ``clear`` (toxics) are its parts.
"""

from __future__ import annotations

import asyncio

from harness.faults.kinds._network import clear_network
from harness.faults.kinds.base import Context, FaultKind, Request
from harness.faults.state import FaultState


class Reset(FaultKind):
    name = "reset"
    group = "all"
    summary = "undo every fault: links, toxics, packet loss, stopped processes, hooks"
    changes = "the empty state (the node kinds stay as they are)"

    def effect(self, state: FaultState, req: Request) -> FaultState:
        return state.healed()

    async def inject(self, ctx: Context, req: Request) -> None:
        c = ctx.cluster
        if ctx.api is not None:
            await asyncio.to_thread(ctx.api.reset)  # enables every link, removes every toxic
        for name in c.names:
            if c.is_running(name):
                await c.resume(name)
                if name in ctx.state.packet_loss or name in ctx.state.netem:
                    await clear_network(c, name)
            else:
                await c.restart(name)  # a new container or process: no rules, no hooks
            await c.client(name).set_faults(lazy=False, clock_offset_ms=0)


KIND = Reset()
