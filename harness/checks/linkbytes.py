"""The bytes each directed link carried, read from its fault proxy's ``GET /metrics``.

Toxiproxy's ``-proxy-metrics`` counters (``toxiproxy_proxy_received_bytes_total``): on
proxy ``vi_to_vj``, "upstream" is what node i wrote to the connection it dialled and
"downstream" what node j wrote back over it (§16.3: handshake frames and keepalive
answers only). The official server adds a connection's bytes only when that connection
ends, so the collector first closes every connection once (disabling each enabled proxy,
then enabling it again: the nodes redial at once) and reads the counters in between.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the cluster package imports the node; only its types are needed here
    from harness.cluster.base import Cluster
    from harness.cluster.toxiproxy_api import ProxyApi

RECEIVED = "toxiproxy_proxy_received_bytes_total"
DIRECTIONS = ("upstream", "downstream")
SETTLE_TIMEOUT_S = 5.0
SETTLE_POLL_S = 0.1

LinkBytes = dict[str, dict[str, int]]
"""proxy name -> direction ("upstream" | "downstream") -> bytes the proxy received."""


def parse_metrics(text: str, links: list[str]) -> LinkBytes:
    """Each of ``links``' received bytes per direction, summed over its series (a proxy
    re-created on another port has a series per listener); 0 where nothing was counted.

    ValueError when ``text`` is not the Prometheus text format.
    """
    from prometheus_client.parser import text_string_to_metric_families

    out: LinkBytes = {name: dict.fromkeys(DIRECTIONS, 0) for name in links}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name != RECEIVED:
                continue
            per = out.get(sample.labels.get("proxy", ""))
            direction = sample.labels.get("direction", "")
            if per is not None and direction in per:
                per[direction] += int(sample.value)
    return out


@dataclass
class LinkCollection:
    """What the collector found: the counters, or why there are none."""

    bytes: LinkBytes = field(default_factory=dict)
    problem: str | None = None
    at: float | None = None


def _settled(read: Callable[[], str | None]) -> str | None:
    """The metrics once two reads in a row agree: the official server adds the bytes of the
    connections just closed from their own goroutines, a moment after the close."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    last = read()
    while last is not None and time.monotonic() < deadline:
        time.sleep(SETTLE_POLL_S)
        now = read()
        if now == last:
            break
        last = now
    return last


def read_link_bytes(api: ProxyApi, links: list[str]) -> LinkCollection:
    """Close every connection once, read the counters, and enable what was enabled again."""
    proxies = api.proxies()
    enabled = [n for n in links if n in proxies and proxies[n].get("enabled")]
    try:
        for name in enabled:
            api.set_enabled(name, False)
        text = _settled(api.metrics)
    finally:
        for name in enabled:
            api.set_enabled(name, True)
    at = time.time()
    if text is None:
        return LinkCollection(
            problem="the fault proxy serves no /metrics (not started with -proxy-metrics)"
        )
    try:
        return LinkCollection(parse_metrics(text, links), at=at)
    except ValueError as exc:
        return LinkCollection(problem=f"the fault proxy's /metrics is not Prometheus text: {exc}")


async def collect_link_bytes(cluster: Cluster) -> LinkCollection:
    """The cluster's link counters; never raises: a missing proxy or API is the problem."""
    try:
        api = cluster.fault_api()
        if api is None or not cluster.manifest.proxied:
            return LinkCollection(problem="no fault proxy: the nodes dial each other directly")
        links = [link.name for link in cluster.manifest.links]
        return await asyncio.to_thread(read_link_bytes, api, links)
    except Exception as exc:  # any failure to answer is recorded, never a crash
        return LinkCollection(problem=f"reading the fault proxy's /metrics: {exc}")
