"""``netem``: the kernel's network emulator on the node's interface (Docker, netem kernels).

Delay with a distribution, duplication, reordering and corruption of packets. Kernels
without the ``sch_netem`` module (``tc`` says "Specified qdisc kind is unknown") get one
clear error; ``packet_loss`` needs only iptables. All fields 0 removes the qdisc.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.faults.errors import FaultError
from harness.faults.kinds._network import NETEM_OFF, need_exec, run
from harness.faults.kinds.base import Context, FaultKind, Field, Request
from harness.faults.state import FaultState

NUMBERS = ("delay_ms", "jitter_ms", "duplicate_percent", "reorder_percent", "corrupt_percent")


class Netem(FaultKind):
    name = "netem"
    group = "network"
    summary = "netem on the node's interface: delay/jitter, duplicate, reorder, corrupt (Docker)"
    fields = (
        Field("node", "node", "the node", required=True, positional=True),
        Field("delay_ms", "int", "delay in ms", default=0, lo=0),
        Field("jitter_ms", "int", "jitter in ms (normal distribution)", default=0, lo=0),
        Field("duplicate_percent", "int", "percent of packets sent twice", default=0, lo=0, hi=100),
        Field(
            "reorder_percent",
            "int",
            "percent of packets sent early (needs delay)",
            default=0,
            lo=0,
            hi=100,
        ),
        Field(
            "corrupt_percent",
            "int",
            "percent of packets with a flipped bit",
            default=0,
            lo=0,
            hi=100,
        ),
    )
    undone_by = "netem"
    changes = "netem[node] = the non-zero fields (none: removed)"
    backends = ("docker",)
    example = "v1 --delay-ms 100 --jitter-ms 20"

    def undo_args(self, args: Mapping[str, Any], undo: FaultKind) -> dict[str, Any]:
        return {"node": args["node"]}

    def effect(self, state: FaultState, req: Request) -> FaultState:
        params = {k: req.args[k] for k in NUMBERS if req.args.get(k)}
        return state.with_netem(req.args["node"], params or None)

    async def inject(self, ctx: Context, req: Request) -> None:
        c = need_exec(ctx.cluster, self.name)
        a, node = req.args, req.args["node"]
        if not any(a.get(k) for k in NUMBERS):
            await run(c, node, self.name, NETEM_OFF)
            return
        spec = f"delay {a['delay_ms']}ms"
        if a["jitter_ms"]:
            spec += f" {a['jitter_ms']}ms distribution normal"
        for key, word in (
            ("duplicate_percent", "duplicate"),
            ("reorder_percent", "reorder"),
            ("corrupt_percent", "corrupt"),
        ):
            if a[key]:
                spec += f" {word} {a[key]}%"
        code, out = await c.node_exec(
            node, ["sh", "-c", f"tc qdisc replace dev eth0 root netem {spec}"]
        )
        if "qdisc kind is unknown" in out:
            raise FaultError(
                "netem: this kernel has no netem qdisc (sch_netem); packet_loss works without it"
            )
        if code != 0:
            await run(c, node, self.name, f"tc qdisc replace dev eth0 root netem {spec}")


KIND = Netem()
