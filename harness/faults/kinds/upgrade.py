"""``upgrade``: stop a validator and start it again as another node implementation.

A rolling upgrade moves validators one at a time from one implementation to the other
(docs/protocol.md is the contract both keep). The two nodes keep different stores (the
Python node's SQLite schema, the Rust node's), so a node that changes kind starts on an
empty data directory and re-syncs from its peers (§16.5); one that keeps its kind (a new
build: ``node_command`` or ``node_image`` given in the step) keeps its data. Like
``restart`` the new process starts with its test hooks off and, in containers, with a fresh
network namespace. The fault state records the kind each validator runs
(``implementations``); the record of an upgrade also names the kind it replaced (``from``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from harness.cluster.base import WaitTimeout
from harness.faults.errors import FaultError
from harness.faults.kinds.base import Context, FaultKind, Field, Request
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
        Field(
            "from",
            "implementation",
            "the kind it runs now: checked when given; the fault log always records it",
        ),
        Field("node_command", "text", "local: this command template (with {config}) instead"),
        Field("node_image", "text", "containers: this node image instead"),
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
        now = ctx.state.implementations.get(node)
        if "from" in req.args and req.args["from"] != now:
            raise FaultError(f"{node} runs the {now} node, not {req.args['from']}")
        keep = now == to
        if not keep:
            await settle_past(ctx, node)
        await ctx.cluster.upgrade(
            node,
            to,
            keep_data=keep,
            command=req.args.get("node_command"),
            image=req.args.get("node_image"),
        )


async def settle_past(ctx: Context, node: str) -> None:
    """Stop ``node``, then let the others finalize two heights past the one it stopped at.

    A node on an empty store has no record of what its validator signed: started at once,
    it would sign again at the height its old self was voting in (an equivocation). Two
    heights later that height is decided and the new node syncs past it; it starts no
    height a peer shows finalized, so it signs nothing before it has caught up
    (docs/protocol.md §16.5, sync before signing)."""
    c = ctx.cluster
    others = [n for n in c.names if n != node and n not in ctx.state.killed | ctx.state.paused]
    await c.kill(node)
    at = max((h for h in (await c.heights(others)).values() if h is not None), default=0)

    async def past() -> bool:
        hs = await c.heights(others)
        return max((h for h in hs.values() if h is not None), default=0) >= at + 2

    with contextlib.suppress(WaitTimeout):  # a stalled chain signs nothing new either
        await c.wait_for(past, c.clock.blocks(4), f"height {at + 2} before {node} restarts")


KIND = Upgrade()
