"""Reading the fault proxy's counters: parsing, and collecting from a live server."""

from __future__ import annotations

import asyncio

import pytest

from harness.checks.linkbytes import LinkCollection, parse_metrics, read_link_bytes
from harness.cluster.toxiproxy_api import ToxiproxyApi
from harness.toxiproxy import testing


def sample(metric: str, direction: str, listener: int, proxy: str, value: int) -> str:
    labels = f'direction="{direction}",listener="127.0.0.1:{listener}",proxy="{proxy}"'
    return f'toxiproxy_proxy_{metric}_bytes_total{{{labels},upstream="127.0.0.1:9"}} {value}'


# The shape the official server serves (toxiproxy-server 2.12 -proxy-metrics): its HELP
# lines are empty, other families come first, a re-created proxy has a series per listener.
OFFICIAL_TEXT = "\n".join(
    [
        "# HELP promhttp_metric_handler_errors_total Total number of internal errors.",
        "# TYPE promhttp_metric_handler_errors_total counter",
        'promhttp_metric_handler_errors_total{cause="encoding"} 0',
        "# HELP toxiproxy_proxy_received_bytes_total ",
        "# TYPE toxiproxy_proxy_received_bytes_total counter",
        sample("received", "downstream", 1, "v0_to_v1", 1000),
        sample("received", "upstream", 1, "v0_to_v1", 5),
        sample("received", "upstream", 2, "v0_to_v1", 7),
        sample("received", "upstream", 3, "other", 99),
        "# HELP toxiproxy_proxy_sent_bytes_total ",
        "# TYPE toxiproxy_proxy_sent_bytes_total counter",
        sample("sent", "downstream", 1, "v0_to_v1", 800),
        "",
    ]
)


def test_received_bytes_are_summed_per_link_and_direction() -> None:
    assert parse_metrics(OFFICIAL_TEXT, ["v0_to_v1", "v1_to_v0"]) == {
        "v0_to_v1": {"upstream": 12, "downstream": 1000},
        "v1_to_v0": {"upstream": 0, "downstream": 0},
    }


def test_text_that_is_not_prometheus_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_metrics("{not prometheus", ["v0_to_v1"])


async def _serve_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readexactly(5)
    writer.write(b"y" * 300)
    await writer.drain()
    await reader.read()  # until the proxy closes the connection
    writer.close()


def test_reading_closes_open_connections_and_restores_enabled_state() -> None:
    """Counters of a connection still open are read (the official server counts them only
    when it closes); a link disabled by a fault stays disabled, the others are enabled."""

    async def scenario(url: str) -> tuple[LinkCollection, dict[str, bool]]:
        server = await asyncio.start_server(_serve_once, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        api = ToxiproxyApi(url)
        try:
            api.populate(
                [
                    {"name": n, "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{port}"}
                    for n in ("a_to_b", "b_to_a")
                ]
            )
            api.set_enabled("b_to_a", False)
            host, _, lport = api.proxies()["a_to_b"]["listen"].rpartition(":")
            reader, writer = await asyncio.open_connection(host, int(lport))
            writer.write(b"hello")
            await reader.readexactly(300)
            got = await asyncio.to_thread(read_link_bytes, api, ["a_to_b", "b_to_a"])
            writer.close()
            return got, {n: bool(p["enabled"]) for n, p in api.proxies().items()}
        finally:
            api.close()
            server.close()

    with testing.in_thread() as url:
        got, enabled = asyncio.run(scenario(url))
    assert got.problem is None
    assert got.bytes == {
        "a_to_b": {"upstream": 5, "downstream": 300},
        "b_to_a": {"upstream": 0, "downstream": 0},
    }
    assert enabled == {"a_to_b": True, "b_to_a": False}


def test_a_server_without_metrics_is_a_problem_not_a_crash() -> None:
    with testing.in_thread(proxy_metrics=False) as url:
        api = ToxiproxyApi(url)
        try:
            got = read_link_bytes(api, ["a_to_b"])
        finally:
            api.close()
    assert got.bytes == {}
    assert got.problem is not None and "-proxy-metrics" in got.problem
