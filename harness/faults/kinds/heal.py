"""``heal``: links only — every link is enabled again; toxics stay (``clear`` removes them)."""

from __future__ import annotations

from harness.faults.kinds.base import Context, FaultKind, Request
from harness.faults.state import FaultState


class Heal(FaultKind):
    name = "heal"
    group = "links"
    summary = "enable every link again (links only: toxics stay, see clear and reset)"
    changes = "links_down = []"

    def effect(self, state: FaultState, req: Request) -> FaultState:
        return state.with_links(req.links(), down=False)

    async def inject(self, ctx: Context, req: Request) -> None:
        await ctx.set_links(self.name, req.links(), enabled=True)


KIND = Heal()
