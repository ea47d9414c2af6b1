"""Toxiproxy's ``-proxy-metrics``: per-proxy byte counters served as Prometheus text.

Same names, type and labels as the official server's ``GET /metrics``:
``toxiproxy_proxy_{received,sent}_bytes_total{direction,listener,proxy,upstream}``,
"received" being what a link read from its source socket and "sent" what it wrote to its
sink (toxics may hold, drop or cut data in between). One difference, on purpose: the
official server adds a connection's bytes when that connection ends, this one as they
flow; a connection's bytes are the same once it has closed, which is what the
conformance tests compare.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
"""What the official server (Go promhttp) answers with."""
LABELS = ("direction", "listener", "proxy", "upstream")
RECEIVED = "toxiproxy_proxy_received_bytes"
SENT = "toxiproxy_proxy_sent_bytes"


@dataclass(slots=True)
class LinkCounter:
    """Bytes of one (proxy, listener, upstream, direction) series."""

    received: int = 0
    sent: int = 0


class ProxyMetrics(Collector):
    """Every series ever counted; like a Prometheus CounterVec they outlive their proxy."""

    def __init__(self) -> None:
        self._series: dict[tuple[str, str, str, str], LinkCounter] = {}

    def counter(self, direction: str, listener: str, proxy: str, upstream: str) -> LinkCounter:
        key = (direction, listener, proxy, upstream)
        found = self._series.get(key)
        if found is None:
            found = self._series[key] = LinkCounter()
        return found

    def collect(self) -> Iterator[Metric]:
        received = CounterMetricFamily(RECEIVED, "", labels=LABELS)
        sent = CounterMetricFamily(SENT, "", labels=LABELS)
        for key in sorted(self._series):
            counter = self._series[key]
            received.add_metric(list(key), counter.received)
            sent.add_metric(list(key), counter.sent)
        if self._series:  # like a CounterVec: no family until a first series exists
            yield received
            yield sent

    def exposition(self) -> bytes:
        """The Prometheus text format of every series."""
        registry = CollectorRegistry(auto_describe=False)
        registry.register(self)
        return generate_latest(registry)
