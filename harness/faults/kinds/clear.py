"""``clear``: toxics only — every toxic is removed; disabled links stay (``heal`` enables them)."""

from __future__ import annotations

import asyncio

from harness.faults.kinds.base import Context, FaultKind, Request
from harness.faults.state import FaultState


class Clear(FaultKind):
    name = "clear"
    group = "toxics"
    summary = "remove every toxic (toxics only: disabled links stay, see heal and reset)"
    changes = "toxics = {}"

    def effect(self, state: FaultState, req: Request) -> FaultState:
        return state.without_toxics()

    async def inject(self, ctx: Context, req: Request) -> None:
        from harness.faults.state import link_name

        api = ctx.need_api(self.name)
        for s, d in req.links():
            proxy = link_name(s, d)
            for toxic in await asyncio.to_thread(api.toxics, proxy):
                await asyncio.to_thread(api.remove_toxic, proxy, toxic["name"])


KIND = Clear()
