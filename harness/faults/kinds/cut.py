"""``cut``: one way only — ``from`` can no longer send to ``to``; ``to`` still reaches ``from``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.faults.errors import FieldError
from harness.faults.kinds.base import Context, FaultKind, Field, Request
from harness.faults.state import FaultState


class Cut(FaultKind):
    name = "cut"
    group = "links"
    summary = "disable the one directed link from -> to"
    fields = (
        Field("from", "node", "the sender", required=True, positional=True),
        Field("to", "node", "the receiver", required=True, positional=True),
    )
    undone_by = "heal"
    changes = "links_down += from_to_to"
    example = "v0 v1"

    def check(self, args: Mapping[str, Any], names: Sequence[str]) -> None:
        if args["from"] == args["to"]:
            raise FieldError(("to",), f'want a node other than "{args["from"]}"')

    def effect(self, state: FaultState, req: Request) -> FaultState:
        return state.with_links([(req.args["from"], req.args["to"])], down=True)

    async def inject(self, ctx: Context, req: Request) -> None:
        await ctx.set_links(self.name, [(req.args["from"], req.args["to"])], enabled=False)

    def describe(self, args: Mapping[str, Any]) -> str:
        return f"cut {args['from']}->{args['to']}"


KIND = Cut()
