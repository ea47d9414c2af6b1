"""``active``: a lazy validator answers challenges again (test hook)."""

from __future__ import annotations

from harness.faults.kinds.base import Context, NodeKind, Request
from harness.faults.state import FaultState


class Active(NodeKind):
    name = "active"
    group = "hooks"
    summary = "a lazy validator answers challenges again"
    changes = "hooks[node].lazy = false (a node with all hooks off leaves hooks)"

    def effect(self, state: FaultState, req: Request) -> FaultState:
        return state.with_hook(req.args["node"], lazy=False)

    async def inject(self, ctx: Context, req: Request) -> None:
        await ctx.cluster.client(req.args["node"]).set_faults(lazy=False)


KIND = Active()
