"""``upgrade``: stop a validator and start it again as another node implementation.

A rolling upgrade moves validators one at a time from one implementation to the other
(docs/protocol.md is the contract both keep). The two nodes keep different stores (the
Python node's SQLite schema, the Rust node's), so a node that changes kind starts on an
empty data directory and re-syncs from its peers (§16.5); one that keeps its kind (a new
build, a command or image given in the step) keeps its data. Like ``restart`` the new
process starts with its test hooks off and, on Docker, with a fresh network namespace.
The fault state records the kind each validator runs (``implementations``); the record
of an upgrade also names the kind it replaced (``from``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.faults.kinds.base import Context, Field, FaultKind, Request
from harness.faults.state import FaultState


class Upgrade(FaultKind):
    name = "upgrade"
    group = "processes"
    summary = (
        "stop the node and start it as another implementation (its data kept when the "
        "kind stays, else wiped: it re-syncs from its peers)"
    )
    changes = "implementations[node] = to; killed, paused -= node; its hooks, loss, netem gone"
    fields = (
        Field("node", "node", "the node", required=True, positional=True),
        Field("to", "implementation", "the node kind it runs from now on", required=True),
        Field("command", "text", "local: this command template (with {config}) instead"),
        Field("image", "text", "containers: this node image instead"),
    )
    example = "v1 --to python"

    def effect(self, state: FaultState, req: Request) -> FaultState:
        node = req.args["node"]
        s = state.with_process(node, killed=False, paused=False).without_hooks(node)
        s = s.with_loss(node, 0.0).with_netem(node, None)
        return s.with_implementation(node, req.args["to"])

    def recorded_args(self, before: FaultState, req: Request) -> Mapping[str, Any]:
        return {**req.args, "from": before.implementations.get(req.args["node"])}

    async def inject(self, ctx: Context, req: Request) -> None:
        node, to = req.args["node"], req.args["to"]
        keep = ctx.state.implementations.get(node) == to
        await ctx.cluster.upgrade(
            node, to, keep_data=keep, command=req.args.get("command"), image=req.args.get("image")
        )


KIND = Upgrade()
