"""``pause``: freeze the node (SIGSTOP; ``docker pause``)."""

from __future__ import annotations

from harness.faults.errors import FaultError
from harness.faults.kinds.base import Context, ProcessKind, Request
from harness.faults.state import FaultState


class Pause(ProcessKind):
    def effect(self, state: FaultState, req: Request) -> FaultState:
        return state.with_process(req.args["node"], killed=None, paused=True)

    async def inject(self, ctx: Context, req: Request) -> None:
        node = req.args["node"]
        if not ctx.cluster.is_running(node):
            raise FaultError(f"{node} is not running")
        await ctx.cluster.pause(node)


KIND = Pause(
    "pause", "freeze the node (SIGSTOP; docker pause)", undone_by="resume", changes="paused += node"
)
