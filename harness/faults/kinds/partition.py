"""``partition``: cut every link between different groups (unnamed nodes form one more)."""

from __future__ import annotations

from harness.faults.kinds.base import Context, FaultKind, Field, Request
from harness.faults.state import FaultState


def cut_links(req: Request) -> list[tuple[str, str]]:
    groups = [list(g) for g in req.args["groups"]]
    named = {n for g in groups for n in g}
    rest = [n for n in req.names if n not in named]
    group_of = {n: i for i, g in enumerate([*groups, rest]) for n in g}
    return [(a, b) for a, b in req.links() if group_of[a] != group_of[b]]


class Partition(FaultKind):
    name = "partition"
    group = "links"
    summary = "split the nodes into groups that cannot reach each other"
    fields = (
        Field(
            "groups",
            "groups",
            "node groups (CLI: comma-separated, one per argument)",
            required=True,
            positional=True,
        ),
    )
    undone_by = "heal"
    changes = "links_down += every link between two groups"
    example = "v0,v1 v2,v3"

    def effect(self, state: FaultState, req: Request) -> FaultState:
        return state.with_links(cut_links(req), down=True)

    async def inject(self, ctx: Context, req: Request) -> None:
        await ctx.set_links(self.name, cut_links(req), enabled=False)


KIND = Partition()
