"""Prometheus metrics of one node, in a registry of its own (several nodes may share a process)."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    disable_created_metrics,
    generate_latest,
)

from clp_node.clp.types import ResponseRejectReason

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

    def count_transport_rejection(self, stage: str, reason: str) -> None:
        """P2PNetwork's on_rejected: ``stage`` is "handshake" or "frame"."""
        counter = self.p2p_handshakes_rejected if stage == "handshake" else self.p2p_rejected
        counter.labels(reason=reason).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
