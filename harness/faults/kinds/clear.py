"""``clear``: toxics only — every toxic is removed; disabled links stay (``heal`` enables them)."""

from __future__ import annotations

import asyncio

from harness.cluster.testnet import link_name
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
        api = ctx.need_api(self.name)
        ours = {link_name(s, d) for s, d in req.links()}
        proxies = await asyncio.to_thread(api.proxies)  # one call: every proxy with its toxics
        for proxy in sorted(ours & set(proxies)):
            for toxic in proxies[proxy].get("toxics") or []:
                await asyncio.to_thread(api.remove_toxic, proxy, toxic["name"])


KIND = Clear()
