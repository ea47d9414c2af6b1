"""Faults below TCP, inside a node's container: iptables random drop and the netem qdisc.

Only a backend that gives each node its own network namespace can do them (Docker: one
container per node, with NET_ADMIN); on the local backend every node shares one loopback.
Commands run as root in the container through the backend's ``node_exec``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from harness.faults.errors import FaultError

CHAIN = "CLP_LOSS"
# The harness watches a node through its API port: the fault is on the network between
# validators, so the harness's own view of the node is exempt from it.
API_PORT = 8080


@runtime_checkable
class NodeExec(Protocol):
    async def node_exec(self, name: str, command: list[str]) -> tuple[int, str]: ...


def need_exec(cluster: object, kind: str) -> NodeExec:
    if not isinstance(cluster, NodeExec):
        raise FaultError(
            f"{kind} needs the Docker backend (it changes a node's own network interface; "
            "local nodes share one loopback)"
        )
    return cluster


async def run(cluster: NodeExec, name: str, kind: str, script: str) -> str:
    code, out = await cluster.node_exec(name, ["sh", "-c", script])
    if code == 127 or "not found" in out:
        raise FaultError(
            f"{kind}: the node image of {name} lacks the tool ({out.strip()}); build the images "
            "on a base with iptables and iproute2 (the debootstrap base has them)"
        )
    if code != 0:
        raise FaultError(f"{kind} on {name} failed: {out.strip()}")
    return out


def loss_script(probability: float) -> str:
    """Drop each packet in and out of the node (but not on lo or the API port) with the
    given probability; 0 removes the rules."""
    remove = (
        f"iptables -w -D INPUT ! -i lo -j {CHAIN} 2>/dev/null; "
        f"iptables -w -D OUTPUT ! -o lo -j {CHAIN} 2>/dev/null; "
        f"iptables -w -F {CHAIN} 2>/dev/null; iptables -w -X {CHAIN} 2>/dev/null; "
    )
    if probability <= 0:
        return (
            "command -v iptables >/dev/null || { echo 'iptables: not found'; exit 127; }; "
            + remove
            + "true"
        )
    return (
        "command -v iptables >/dev/null || { echo 'iptables: not found'; exit 127; }; "
        + remove
        + f"iptables -w -N {CHAIN} && "
        f"iptables -w -A {CHAIN} -p tcp --dport {API_PORT} -j RETURN && "
        f"iptables -w -A {CHAIN} -p tcp --sport {API_PORT} -j RETURN && "
        f"iptables -w -A {CHAIN} -m statistic --mode random "
        f"--probability {probability:.4f} -j DROP && "
        f"iptables -w -I INPUT ! -i lo -j {CHAIN} && "
        f"iptables -w -I OUTPUT ! -o lo -j {CHAIN}"
    )


NETEM_OFF = "tc qdisc del dev eth0 root 2>/dev/null; true"


async def clear_network(cluster: object, name: str) -> None:
    """Remove this package's rules and qdisc from a running node (part of ``reset``)."""
    c = need_exec(cluster, "reset")
    await run(c, name, "reset", loss_script(0.0))
    await c.node_exec(name, ["sh", "-c", NETEM_OFF])
