"""The compatible server as a program: programmatic API, CLI, helpers, and its own choices."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys

import httpx
import pytest
from _toxiproxy_testkit import (
    Upstream,
    add_toxic,
    connect,
    create_proxy,
    poll,
    read_until_closed,
    refuses,
    round_trip,
)

from harness.toxiproxy import ToxiproxyServer, testing

pytestmark = pytest.mark.compat_only


async def test_start_port_zero_and_stop_closes_everything(echo_server: Upstream) -> None:
    server = ToxiproxyServer()
    await server.start("127.0.0.1", 0)
    assert server.port != 0
    assert server.url == f"http://127.0.0.1:{server.port}"
    async with httpx.AsyncClient(base_url=server.url) as api:
        assert (await api.get("/version")).json() == {"version": "2.12.0"}
        created = await create_proxy(api, "p", echo_server.address)
    reader, writer = await connect(created["listen"])
    await round_trip(reader, writer)

    await server.stop()
    data, _ = await read_until_closed(reader, timeout=5)
    assert data == b"", "open connections are closed by stop()"
    writer.close()
    assert refuses(created["listen"])
    assert refuses(f"127.0.0.1:{server.port}")


def test_in_thread_helper_serves_the_api() -> None:
    with testing.in_thread() as url:
        response = httpx.get(f"{url}/proxies")
        assert response.status_code == 200
        assert response.json() == {}
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/proxies")


def test_cli_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "harness.toxiproxy", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0
    assert "--host" in result.stdout and "--port" in result.stdout
    assert "Toxiproxy" in result.stdout


def test_cli_runs_until_sigterm() -> None:
    command = [sys.executable, "-m", "harness.toxiproxy", "--host", "127.0.0.1", "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = line.split()[-1]
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{url}/version").status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


async def test_wrong_method_is_405(api: httpx.AsyncClient) -> None:
    assert (await api.put("/proxies")).status_code == 405
    assert (await api.delete("/version")).status_code == 405


async def test_removing_an_inactive_timeout_keeps_connection(
    api: httpx.AsyncClient, echo_server: Upstream
) -> None:
    """Only connections the timeout toxic was active on are closed by removing it.

    (Toxiproxy closes every link of that stream, even where toxicity rolled it out.)
    """
    created = await create_proxy(api, "p", echo_server.address)
    await add_toxic(api, "p", "timeout", toxicity=0.0, timeout=0)
    reader, writer = await connect(created["listen"])
    await round_trip(reader, writer)
    assert (await api.delete("/proxies/p/toxics/timeout_downstream")).status_code == 204
    await round_trip(reader, writer)
    writer.close()


async def test_interrupted_slow_close_still_closes(
    api: httpx.AsyncClient, echo_server: Upstream
) -> None:
    """Removing slow_close while it delays EOF passes the EOF on (no stuck connection)."""
    created = await create_proxy(api, "p", echo_server.address)
    await add_toxic(api, "p", "slow_close", stream="upstream", delay=10_000)
    reader, writer = await connect(created["listen"])
    await round_trip(reader, writer)
    writer.write_eof()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.read(1), 0.2)  # EOF held by slow_close
    assert (await api.delete("/proxies/p/toxics/slow_close_upstream")).status_code == 204
    data, _ = await read_until_closed(reader, timeout=2)
    assert data == b""
    writer.close()


async def test_empty_listen_defaults_to_loopback(api: httpx.AsyncClient) -> None:
    response = await api.post("/proxies", json={"name": "p", "upstream": "127.0.0.1:1"})
    assert response.status_code == 201
    assert response.json()["listen"].startswith("127.0.0.1:")
    assert not refuses(response.json()["listen"])


async def test_closed_connections_are_forgotten(echo_server: Upstream) -> None:
    server = ToxiproxyServer()
    await server.start("127.0.0.1", 0)
    try:
        async with httpx.AsyncClient(base_url=server.url) as api:
            created = await create_proxy(api, "p", echo_server.address)
            await add_toxic(api, "p", "latency", latency=1)
            await add_toxic(api, "p", "slicer", stream="upstream", average_size=2)
        proxy = server.proxies.get("p")
        clients = [await connect(created["listen"]) for _ in range(20)]
        for reader, writer in clients:
            await round_trip(reader, writer)
        await poll(lambda: proxy.open_connections == 20)
        assert proxy.toxics.open_links == 40
        for _, writer in clients:
            writer.close()
        await poll(lambda: proxy.open_connections == 0 and proxy.toxics.open_links == 0)
    finally:
        await server.stop()
