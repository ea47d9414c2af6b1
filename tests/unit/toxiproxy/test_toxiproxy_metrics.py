"""Conformance of ``GET /metrics`` (``-proxy-metrics``): the per-proxy byte counters.

The harness's link-discipline check reads these counters from whichever server carries the
links, so their names, type and labels must be the official server's. Counters are read
after the connection closed: the official server adds a connection's bytes only then.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable

import httpx
import pytest
from _toxiproxy_testkit import Handler, Upstream, connect, create_proxy, read_until_closed
from prometheus_client.parser import text_string_to_metric_families

from harness.toxiproxy import testing
from harness.toxiproxy.metrics import LABELS

_names = itertools.count()
MakeUpstream = Callable[[Handler], Awaitable[Upstream]]
Series = dict[tuple[str, str], float]  # (metric, direction) -> bytes, for one proxy


def unique(prefix: str) -> str:
    """Series outlive their proxy (as a CounterVec's do): each test counts on a new name."""
    return f"{prefix}{next(_names)}"


async def scrape(api: httpx.AsyncClient) -> str:
    response = await api.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def series_of(text: str, proxy: str) -> Series:
    out: Series = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("proxy") == proxy:
                out[(sample.name, sample.labels["direction"])] = sample.value
    return out


async def settled(api: httpx.AsyncClient, proxy: str, expected: Series) -> Series:
    """The proxy's series once they show ``expected`` (the official server adds them
    shortly after the connection closed); the last scrape is returned either way."""
    deadline = asyncio.get_running_loop().time() + 5
    while True:
        last = series_of(await scrape(api), proxy)
        if last == expected or asyncio.get_running_loop().time() > deadline:
            return last
        await asyncio.sleep(0.02)


def counted(up: int, down: int) -> Series:
    """What a proxy with no toxics counts: every byte received is sent on."""
    out: Series = {}
    for direction, n in (("upstream", up), ("downstream", down)):
        for metric in ("toxiproxy_proxy_received_bytes_total", "toxiproxy_proxy_sent_bytes_total"):
            out[(metric, direction)] = float(n)
    return out


async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer 5 bytes from the client with 1000, then close."""
    await reader.readexactly(5)
    writer.write(b"x" * 1000)
    await writer.drain()


async def test_bytes_of_a_closed_connection_per_direction(
    api: httpx.AsyncClient, make_upstream: MakeUpstream
) -> None:
    upstream = await make_upstream(reply)
    name = unique("metrics_bytes_")
    created = await create_proxy(api, name, upstream.address)
    reader, writer = await connect(created["listen"])
    writer.write(b"hello")
    await writer.drain()
    data, _ = await read_until_closed(reader)
    assert data == b"x" * 1000
    writer.close()

    assert await settled(api, name, counted(5, 1000)) == counted(5, 1000)


async def test_families_types_and_labels(
    api: httpx.AsyncClient, make_upstream: MakeUpstream
) -> None:
    upstream = await make_upstream(reply)
    name = unique("metrics_labels_")
    created = await create_proxy(api, name, upstream.address)
    reader, writer = await connect(created["listen"])
    writer.write(b"hello")
    await read_until_closed(reader)
    writer.close()
    await settled(api, name, counted(5, 1000))

    families = {f.name: f for f in text_string_to_metric_families(await scrape(api))}
    for family in ("toxiproxy_proxy_received_bytes", "toxiproxy_proxy_sent_bytes"):
        assert families[family].type == "counter"
        ours = [s for s in families[family].samples if s.labels.get("proxy") == name]
        assert sorted(s.labels["direction"] for s in ours) == ["downstream", "upstream"]
        for sample in ours:
            assert sample.name == f"{family}_total"
            assert tuple(sorted(sample.labels)) == LABELS
            assert sample.labels["listener"] == created["listen"]
            assert sample.labels["upstream"] == upstream.address


async def test_connections_add_up(api: httpx.AsyncClient, make_upstream: MakeUpstream) -> None:
    upstream = await make_upstream(reply)
    name = unique("metrics_sum_")
    created = await create_proxy(api, name, upstream.address)
    for _ in range(3):
        reader, writer = await connect(created["listen"])
        writer.write(b"hello")
        await read_until_closed(reader)
        writer.close()
    assert await settled(api, name, counted(15, 3000)) == counted(15, 3000)


async def test_no_series_before_any_connection(api: httpx.AsyncClient) -> None:
    name = unique("metrics_idle_")
    await create_proxy(api, name, "127.0.0.1:1")
    assert series_of(await scrape(api), name) == {}


@pytest.mark.compat_only
async def test_compatible_server_counts_open_connections_as_they_flow(
    api: httpx.AsyncClient, echo_server: Upstream
) -> None:
    """This server's counters are live (the official one's wait for the close): what the
    harness reads at the end of a run needs no connection closed first."""
    name = unique("metrics_live_")
    created = await create_proxy(api, name, echo_server.address)
    reader, writer = await connect(created["listen"])
    writer.write(b"ping!")
    assert await reader.readexactly(5) == b"ping!"
    assert await settled(api, name, counted(5, 5)) == counted(5, 5)
    writer.close()


@pytest.mark.compat_only
def test_metrics_only_with_the_flag() -> None:
    """Like the official server, /metrics is a 404 unless proxy metrics are enabled."""
    with testing.in_thread() as url:
        assert httpx.get(f"{url}/metrics").status_code == 200
    with testing.in_thread(proxy_metrics=False) as url:
        response = httpx.get(f"{url}/metrics")
        assert response.status_code == 404
        assert response.text == "404 page not found\n"
