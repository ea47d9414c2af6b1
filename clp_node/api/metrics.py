"""Prometheus metrics of one node, in a registry of its own (several nodes may share a process)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from clp_node.api.views import validator_view
from clp_node.clp.types import ResponseRejectReason, ValidatorStatus

disable_created_metrics()  # type: ignore[no-untyped-call]


class NodeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.challenges_issued = Counter(
            "alphaos_clp_challenges_issued", "Challenges derived from finalized blocks", registry=r
        )
        self.responses_received = Counter(
            "alphaos_clp_responses_received",
            "Valid CLP responses accepted from gossip or REST",
            registry=r,
        )
        self.responses_included = Counter(
            "alphaos_clp_responses_included", "CLP responses in finalized blocks", registry=r
        )
        self.responses_rejected = Counter(
            "alphaos_clp_responses_rejected",
            "CLP responses refused, by CLP_SPEC §5 reason code",
            ["reason"],
            registry=r,
        )
        for reason in ResponseRejectReason:
            self.responses_rejected.labels(reason=reason.value)
        self.validators_slashed = Counter(
            "alphaos_clp_validators_slashed", "Validator slashes applied at epoch ends", registry=r
        )
        self.validators_ejected = Counter(
            "alphaos_clp_validators_ejected", "Validators ejected from the committee", registry=r
        )
        self.chain_height = Gauge("alphaos_chain_height", "Finalized chain height", registry=r)
        self.consensus_round = Gauge(
            "alphaos_consensus_round", "Round of the height being decided", registry=r
        )
        self.peers_connected = Gauge(
            "alphaos_p2p_peers_connected", "Peers with an authenticated outbound link", registry=r
        )
        self.p2p_rejected = Counter(
            "alphaos_p2p_frames_rejected",
            "Inbound frames refused after the handshake, by reason (transport or message)",
            ["reason"],
            registry=r,
        )
        # Transport refusals: frames after authentication join the message-level reasons of
        # p2p_rejected; connections refused before it are counted on their own.
        self.p2p_handshakes_rejected = Counter(
            "alphaos_p2p_handshakes_rejected",
            "Inbound connections refused before authentication, by reason",
            ["reason"],
            registry=r,
        )
        self.blocks_synced = Counter(
            "alphaos_chain_blocks_synced", "Blocks applied from block sync", registry=r
        )

        # ---- dashboard metrics (docs/metrics.md): per validator, consensus timing, peers ----
        self.block_interval = Gauge(
            "alphaos_consensus_block_interval_seconds",
            "Time between the last two finalized blocks (their proposal timestamps)",
            registry=r,
        )
        self.finality_latency = Histogram(
            "alphaos_consensus_finality_latency_seconds",
            "From a block's proposal timestamp to its commit on this node",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
            registry=r,
        )
        self.consensus_rounds = Counter(
            "alphaos_consensus_rounds",
            "Consensus rounds it took to decide the heights this node committed",
            registry=r,
        )
        # The standard collectors (each node its own registry, so they are added here).
        for standard in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            r.register(standard)

    def watch(self, node: Any) -> None:
        """Per-validator and per-peer series, read from ``node`` at each scrape."""
        self.registry.register(_NodeCollector(node))

    def count_transport_rejection(self, stage: str, reason: str) -> None:
        """P2PNetwork's on_rejected: ``stage`` is "handshake" or "frame"."""
        counter = self.p2p_handshakes_rejected if stage == "handshake" else self.p2p_rejected
        counter.labels(reason=reason).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


CONTENT_TYPE = CONTENT_TYPE_LATEST
STATUSES = [s.value for s in ValidatorStatus]


class _NodeCollector(Collector):
    """Gauges and counters with a ``validator`` (or ``peer``) label, computed from chain
    state when scraped: always what the node would answer on its REST API."""

    def __init__(self, node: Any) -> None:
        self.node = node

    def describe(self) -> list[Metric]:
        return []  # computed at scrape time; nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        s = self.node.state
        name_of: Callable[[str], str] = lambda a: _name(s, a)  # noqa: E731
        fam = {
            key: GaugeMetricFamily(f"alphaos_clp_validator_{key}", doc, labels=["validator"])
            for key, doc in (
                ("stake", "Bonded stake of the validator"),
                ("response_rate_bps", "Response rate of the current epoch, basis points"),
                ("consecutive_failures", "Challenges missed in a row"),
                ("in_committee", "1 when the validator is in the current epoch's committee"),
            )
        }
        status = GaugeMetricFamily(
            "alphaos_clp_validator_status",
            "1 for the validator's current CLP status (one series per status)",
            labels=["validator", "status"],
        )
        slashes = CounterMetricFamily(
            "alphaos_clp_validator_slashes",
            "Epochs the validator was slashed",
            labels=["validator"],
        )
        ejections = CounterMetricFamily(
            "alphaos_clp_validator_ejections",
            "Times the validator was ejected",
            labels=["validator"],
        )
        counts: dict[str, list[int]] = {}
        for result in s.epoch_results.values():
            for a in result.slashes():
                counts.setdefault(a, [0, 0])[0] += 1
            for a in result.ejected:
                counts.setdefault(a, [0, 0])[1] += 1
        for v in s.genesis.validators:
            view = validator_view(s, v.address)
            n = name_of(v.address)
            fam["stake"].add_metric([n], view["stake"])
            fam["response_rate_bps"].add_metric([n], view["response_rate"])
            fam["consecutive_failures"].add_metric([n], view["consecutive_failures"])
            fam["in_committee"].add_metric([n], 1 if view["in_committee"] else 0)
            for st in STATUSES:
                status.add_metric([n, st], 1 if view["status"] == st else 0)
            sl, ej = counts.get(v.address, [0, 0])
            slashes.add_metric([n], sl)
            ejections.add_metric([n], ej)
        yield from fam.values()
        yield from (status, slashes, ejections)
        stats = self.node.net.stats()
        for key, direction in (("bytes_out_by_peer", "sent"), ("bytes_in_by_peer", "received")):
            c = CounterMetricFamily(
                f"alphaos_p2p_peer_bytes_{direction}",
                f"Bytes {direction} on p2p links, by peer",
                labels=["peer"],
            )
            for addr, value in sorted(stats.get(key, {}).items()):
                c.add_metric([name_of(addr)], value)
            yield c


def _name(state: Any, address: str) -> str:
    v = state.genesis.validator(address)
    return str(v.name) if v is not None else address[:8]
