"""DockerBackend on one 4-validator testnet: the cases of every container backend, then
what is the Docker backend's own: labels, loopback-only API ports, kill and restart from
the node's volume (also several times over), packet loss and netem inside a container.

All in file order on the one module-scoped cluster (``c``); each test leaves every node
running and every link healed for the next.
"""

from __future__ import annotations

from typing import Any

import pytest
from container_cases import (
    VALIDATORS,
    CasesOfEveryBackend,
    assert_labelled,
    head_of,
    hint,
    kill_and_restart,
)
from integration_helpers import log_events

from harness.cluster.base import wait_until
from harness.cluster.docker import DockerBackend
from harness.cluster.engine import Labelled
from harness.faults.errors import FaultError
from harness.faults.nemesis import Nemesis

pytestmark = [pytest.mark.asyncio(loop_scope="module")]
RESTART_CYCLES = 5


class TestEveryBackend(CasesOfEveryBackend):
    """Finality, logs, pause and resume, a link fault: as on every container backend."""


async def test_every_object_of_the_run_is_labelled(c: DockerBackend, docker_api: Any) -> None:
    found = Labelled.find(docker_api, c.run_id)
    assert len(found.containers) == VALIDATORS + 1  # the nodes and Toxiproxy
    assert len(found.networks) == 1 and len(found.volumes) == VALIDATORS
    assert_labelled(found.all, c.run_id)


async def test_node_apis_are_published_on_loopback_only(c: DockerBackend) -> None:
    for n in c.names:
        assert c.api_url(n).startswith("http://127.0.0.1:")


async def test_killed_node_restarts_from_its_volume(c: DockerBackend) -> None:
    await kill_and_restart(c, "v3")


async def test_packet_loss_drops_packets_inside_the_container_and_is_undone(
    c: DockerBackend,
) -> None:
    nemesis = Nemesis(c, c.fault_api())
    victim = "v1"
    rec = await nemesis.apply("packet_loss", node=victim, probability=0.3)
    try:
        assert rec.state.packet_loss == {victim: 0.3}
        others = [n for n in c.names if n != victim]
        start = await head_of(c, others)
        await c.wait_for_height(start + 5, others)  # traffic crossed v1's interface meanwhile
        code, rules = await c.node_exec(
            victim, ["iptables", "-w", "-L", "CLP_LOSS", "-v", "-n", "-x"]
        )
        assert code == 0, rules
        drop = [
            line.split() for line in rules.splitlines() if "DROP" in line and "statistic" in line
        ]
        assert drop and int(drop[0][0]) > 0, f"no packet dropped:\n{rules}"
        probability = float(drop[0][drop[0].index("probability") + 1])
        assert abs(probability - 0.3) < 1e-6, rules
    finally:
        undone = await nemesis.apply("packet_loss", node=victim, probability=0)
    assert undone.state.packet_loss == {}
    code, rules = await c.node_exec(victim, ["iptables", "-w", "-S"])
    assert code == 0 and "CLP_LOSS" not in rules, rules
    target = await head_of(c, [n for n in c.names if n != victim])
    await c.wait_for_height(target, [victim])


async def test_netem_works_or_says_the_kernel_lacks_it(c: DockerBackend) -> None:
    """This machine's kernel has no netem qdisc: one clear error and nothing recorded;
    where it has one, the qdisc is set and removed again."""
    nemesis = Nemesis(c, c.fault_api())
    code, out = await c.node_exec("v0", ["sh", "-c", "tc qdisc add dev lo root netem delay 1ms"])
    has_netem = code == 0
    if has_netem:
        await c.node_exec("v0", ["tc", "qdisc", "del", "dev", "lo", "root"])
        rec = await nemesis.apply("netem", node="v0", delay_ms=20, jitter_ms=5)
        assert rec.state.netem == {"v0": {"delay_ms": 20, "jitter_ms": 5}}
        assert (await nemesis.apply("netem", node="v0")).state.netem == {}
        return
    assert "qdisc kind is unknown" in out, out
    with pytest.raises(FaultError, match="this kernel has no netem qdisc"):
        await nemesis.apply("netem", node="v0", delay_ms=20)
    assert nemesis.log.records == []


async def test_a_node_comes_back_after_every_kill_and_restart(c: DockerBackend) -> None:
    """Each restart publishes a new host port and replays the volume: both must hold every
    time, not just once (a start that loses its port, or a node that never answers again,
    fails here)."""
    victim, others = "v1", ["v0", "v2", "v3"]
    for cycle in range(1, RESTART_CYCLES + 1):
        before = await c.client(victim).height()
        await c.kill(victim)
        assert not c.is_running(victim), f"cycle {cycle}: {victim} still runs after kill"
        start = await head_of(c, others)
        await c.wait_for_height(start + 2, others)
        await c.restart(victim)

        def replays(starts: int = cycle + 1) -> list[dict[str, Any]] | None:
            found = log_events(c, victim, "node.replayed")  # the log follower may lag
            return found if len(found) >= starts else None

        what = f"cycle {cycle}'s node.replayed in {c.log_path(victim)}"
        replayed = (await wait_until(replays, 10.0, what))[-1]["height"]
        assert replayed >= before, f"cycle {cycle}: replayed {replayed}, was at {before}"
        target = await head_of(c, others)
        reached = await c.wait_for_height(target, [victim])
        assert reached[victim] >= target, f"cycle {cycle}{hint(c, victim)}"
        print(f"cycle {cycle}: {victim} back at {c.api_url(victim)}, caught up to {target}")
    assert len(log_events(c, victim, "node.replayed")) == RESTART_CYCLES + 1
