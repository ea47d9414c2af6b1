"""``double_sign``: the validator signs two conflicting prevotes at its next prevote (test
hook, protocol §14; CometBFT's ``double-prevote`` misbehaviour).

A one-shot byzantine step: the node turns the hook off itself, so the fault state is left
as it was; the fault log's record (kind and height) is what the equivocation check reads.
"""

from __future__ import annotations

from harness.faults.kinds.base import Context, NodeKind, Request
from harness.faults.state import FaultState

HOOK = "double_sign"


class DoubleSign(NodeKind):
    name = "double_sign"
    group = "hooks"
    summary = "the validator signs two conflicting prevotes at its next prevote (byzantine)"
    changes = "none (one step; the node turns the hook off itself)"

    def effect(self, state: FaultState, req: Request) -> FaultState:
        return state

    async def inject(self, ctx: Context, req: Request) -> None:
        await ctx.cluster.client(req.args["node"]).set_faults(**{HOOK: True})


KIND = DoubleSign()
