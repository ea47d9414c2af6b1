"""``isolate``: every link to and from one node goes down."""

from __future__ import annotations

from harness.faults.kinds.base import Context, NodeKind, Request, links_of
from harness.faults.state import FaultState


class Isolate(NodeKind):
    name = "isolate"
    group = "links"
    summary = "disable every link to and from the node"
    undone_by = "heal"
    changes = "links_down += every link of the node, both ways"

    def effect(self, state: FaultState, req: Request) -> FaultState:
        return state.with_links(links_of(req.args["node"], req.names), down=True)

    async def inject(self, ctx: Context, req: Request) -> None:
        await ctx.set_links(self.name, links_of(req.args["node"], req.names), enabled=False)


KIND = Isolate()
