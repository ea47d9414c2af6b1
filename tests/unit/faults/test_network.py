"""The commands the below-TCP kinds run inside a node's container, and their errors."""

from __future__ import annotations

import pytest

from harness.faults.errors import FaultError
from harness.faults.kinds import KINDS
from harness.faults.kinds._network import API_PORT, CHAIN, loss_script, run
from harness.faults.kinds.base import Context
from harness.faults.state import FaultState


def test_loss_drops_at_random_but_spares_loopback_and_the_api_port() -> None:
    s = loss_script(0.3)
    assert "--mode random --probability 0.3000 -j DROP" in s
    assert f"--dport {API_PORT} -j RETURN" in s and f"--sport {API_PORT} -j RETURN" in s
    assert f"INPUT ! -i lo -j {CHAIN}" in s and f"OUTPUT ! -o lo -j {CHAIN}" in s
    # a second loss replaces the first: the old rules go before the new are added
    assert s.index(f"-X {CHAIN}") < s.index(f"-N {CHAIN}")


def test_zero_loss_only_removes() -> None:
    s = loss_script(0.0)
    assert "DROP" not in s and f"-N {CHAIN}" not in s and f"-X {CHAIN}" in s


class FakeContainerCluster:
    names = ["v0", "v1"]

    def __init__(self, code: int, out: str) -> None:
        self.answer = (code, out)
        self.ran: list[list[str]] = []

    async def node_exec(self, name: str, command: list[str]) -> tuple[int, str]:
        self.ran.append(command)
        return self.answer


async def test_a_node_image_without_iptables_is_named() -> None:
    c = FakeContainerCluster(127, "iptables: not found")
    with pytest.raises(FaultError, match=r"lacks the tool .*iptables and iproute2"):
        await run(c, "v1", "packet_loss", loss_script(0.3))


async def test_a_kernel_without_netem_is_one_clear_error() -> None:
    c = FakeContainerCluster(2, "Error: Specified qdisc kind is unknown.")
    kind = KINDS["netem"]
    req = kind.request({"node": "v1", "delay_ms": 50}, c.names)
    with pytest.raises(FaultError, match="this kernel has no netem qdisc"):
        await kind.inject(Context(c, None, FaultState()), req)  # type: ignore[arg-type]
    assert c.ran == [["sh", "-c", "tc qdisc replace dev eth0 root netem delay 50ms"]]
