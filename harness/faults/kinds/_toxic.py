"""The shape every Toxiproxy toxic kind shares: on a node's outbound links or on one link,
with the toxic's attributes as fields and a ``toxicity`` (the chance a connection gets it)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.cluster.testnet import link_name
from harness.faults.errors import FieldError
from harness.faults.kinds.base import Context, FaultKind, Field, Request
from harness.faults.state import FaultState, Toxic

# upstream = the data the dialling node (the link's src) sends toward dst
STREAM = "upstream"


@dataclass(frozen=True)
class Attribute:
    """A scenario/CLI field that becomes one Toxiproxy attribute of the toxic."""

    field: str
    attribute: str
    help: str
    required: bool = True
    default: int | None = None


class ToxicKind(FaultKind):
    group = "toxics"
    undone_by = "clear"
    changes = "toxics[link] += the toxic (type, stream, toxicity, attributes), per link"

    def __init__(
        self,
        name: str,
        toxic_type: str,
        summary: str,
        attributes: Sequence[Attribute],
        example: str,
        breaks_connection: bool = False,
    ) -> None:
        self.name = name
        self.toxic_type = toxic_type
        self.summary = summary
        self.attributes = tuple(attributes)
        self.example = example
        # Cuts or ends the connection (both directions suffer), rather than degrading what
        # the sender sends: the checkers count both ends of the link as touched.
        self.breaks_connection = breaks_connection
        self.fields = (
            Field("node", "node", "every outbound link of this node", positional=True),
            Field("link", "link", "one link (CLI: FROM,TO)"),
            *(
                Field(a.field, "int", a.help, required=a.required, default=a.default, lo=0)
                for a in self.attributes
            ),
            Field("toxicity", "probability", "chance a connection gets the toxic", default=1.0),
        )

    def check(self, args: Mapping[str, Any], names: Sequence[str]) -> None:
        if ("node" in args) == ("link" in args):
            raise FieldError((), f'"{self.name}" takes exactly one of node or link')

    def plan(self, req: Request) -> dict[str, Toxic]:
        """The toxic each link gets; its name is unique in the log (kind and record seq)."""
        a = req.args
        if "link" in a:
            links = [(a["link"][0], a["link"][1])]
        else:
            links = [(a["node"], d) for d in req.names if d != a["node"]]
        attrs = {x.attribute: int(a.get(x.field, x.default or 0)) for x in self.attributes}
        toxic = Toxic(f"{self.name}_{req.seq}", self.toxic_type, STREAM, a["toxicity"], attrs)
        return {link_name(s, d): toxic for s, d in links}

    def effect(self, state: FaultState, req: Request) -> FaultState:
        return state.with_toxics(self.plan(req))

    async def inject(self, ctx: Context, req: Request) -> None:
        api = ctx.need_api(self.name)
        for proxy, t in self.plan(req).items():
            attrs = dict(t.attributes)
            await asyncio.to_thread(
                api.add_toxic, proxy, t.type, attrs, t.name, t.stream, t.toxicity
            )
