"""``restart``: start the node again on its own data (killing it first if it runs).

A restarted node starts with its test hooks off and, on Docker, with a fresh network
namespace (no packet-loss or netem rules): the effect says so.
"""

from __future__ import annotations

from harness.faults.kinds.base import Context, ProcessKind, Request
from harness.faults.state import FaultState


class Restart(ProcessKind):
    def effect(self, state: FaultState, req: Request) -> FaultState:
        node = req.args["node"]
        s = state.with_process(node, killed=False, paused=False).without_hooks(node)
        return s.with_loss(node, 0.0).with_netem(node, None)

    async def inject(self, ctx: Context, req: Request) -> None:
        await ctx.cluster.restart(req.args["node"])


KIND = Restart(
    "restart",
    "start the node again on its data (kills it first if it runs)",
    None,
    "killed, paused -= node; its hooks, packet loss and netem are gone",
)
