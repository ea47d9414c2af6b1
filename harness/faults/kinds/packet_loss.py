"""``packet_loss``: each packet to or from the node is dropped with a probability (Docker).

Toxiproxy works on TCP streams and cannot lose a packet; TCP under loss (retransmits,
backoff, shrinking windows) behaves unlike TCP under latency. This drops packets with
iptables' ``statistic`` match inside the node's container; ``probability = 0`` undoes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.faults.kinds._network import loss_script, need_exec, run
from harness.faults.kinds.base import Context, FaultKind, Field, Request
from harness.faults.state import FaultState


class PacketLoss(FaultKind):
    name = "packet_loss"
    group = "network"
    summary = "drop each packet in or out of the node with a probability (containers only)"
    fields = (
        Field("node", "node", "the node", required=True, positional=True),
        Field(
            "probability",
            "probability",
            "drop probability, 0..1 (0 removes the loss)",
            required=True,
        ),
    )
    undone_by = "packet_loss"
    changes = "packet_loss[node] = probability (0: removed)"
    backends = ("docker", "swarm")
    example = "v1 --probability 0.3"

    def undo_args(self, args: Mapping[str, Any], undo: FaultKind) -> dict[str, Any]:
        return {"node": args["node"], "probability": 0.0}

    def effect(self, state: FaultState, req: Request) -> FaultState:
        return state.with_loss(req.args["node"], req.args["probability"])

    async def inject(self, ctx: Context, req: Request) -> None:
        c = need_exec(ctx.cluster, self.name)
        await run(c, req.args["node"], self.name, loss_script(req.args["probability"]))


KIND = PacketLoss()
