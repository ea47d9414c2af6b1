"""``kill``: SIGKILL the node (``docker kill``); its data stays for ``restart``."""

from __future__ import annotations

from harness.faults.errors import FaultError
from harness.faults.kinds.base import Context, ProcessKind, Request
from harness.faults.state import FaultState


class Kill(ProcessKind):
    def effect(self, state: FaultState, req: Request) -> FaultState:
        return state.with_process(req.args["node"], killed=True, paused=False)

    async def inject(self, ctx: Context, req: Request) -> None:
        node = req.args["node"]
        if not ctx.cluster.is_running(node):
            raise FaultError(f"{node} is not running")
        await ctx.cluster.kill(node)


KIND = Kill(
    "kill",
    "kill the node's process (SIGKILL; docker kill)",
    undone_by="restart",
    changes="killed += node, paused -= node",
)
