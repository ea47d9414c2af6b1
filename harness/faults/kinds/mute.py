"""``mute``: the node hears the others but is not heard (its outbound links go down)."""

from __future__ import annotations

from harness.faults.kinds.base import Context, NodeKind, Request, links_of
from harness.faults.state import FaultState


class Mute(NodeKind):
    name = "mute"
    group = "links"
    summary = "disable every outbound link of the node"
    undone_by = "heal"
    changes = "links_down += every outbound link of the node"

    def effect(self, state: FaultState, req: Request) -> FaultState:
        return state.with_links(links_of(req.args["node"], req.names, inbound=False), down=True)

    async def inject(self, ctx: Context, req: Request) -> None:
        links = links_of(req.args["node"], req.names, inbound=False)
        await ctx.set_links(self.name, links, enabled=False)


KIND = Mute()
