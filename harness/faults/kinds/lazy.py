"""``lazy``: the validator keeps voting but sends no CLP response (test hook)."""

from __future__ import annotations

from harness.faults.kinds.base import Context, NodeKind, Request
from harness.faults.state import FaultState


class Lazy(NodeKind):
    name = "lazy"
    group = "hooks"
    summary = "the validator stops answering challenges (keeps voting)"
    undone_by = "active"
    changes = "hooks[node].lazy = true"

    def effect(self, state: FaultState, req: Request) -> FaultState:
        return state.with_hook(req.args["node"], lazy=True)

    async def inject(self, ctx: Context, req: Request) -> None:
        await ctx.cluster.client(req.args["node"]).set_faults(lazy=True)


KIND = Lazy()
