"""Fixtures for the Toxiproxy tests: one server per session, a clean slate per test.

With ``TOXIPROXY_SERVER=/path/to/toxiproxy-server`` the official binary is
started instead of the compatible server, and tests marked ``compat_only``
(about this implementation rather than the API) are skipped.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import httpx
import pytest
from _toxiproxy_testkit import OFFICIAL, Handler, Upstream, echo

from harness.toxiproxy import testing


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "compat_only: about the compatible server itself; skipped for the official one"
    )
    config.addinivalue_line(
        "markers",
        "official_bug(reason): a documented behaviour the official server gets wrong under a "
        "race; skipped for it, with the reason",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if not OFFICIAL:
        return
    skip = pytest.mark.skip(reason="specific to the compatible server (TOXIPROXY_SERVER is set)")
    for item in items:
        if item.get_closest_marker("compat_only") is not None:
            item.add_marker(skip)
        bug = item.get_closest_marker("official_bug")
        if bug is not None:
            item.add_marker(pytest.mark.skip(reason=f"official server: {bug.args[0]}"))


@pytest.fixture(scope="session")
def toxiproxy_server() -> Iterator[str]:
    """Base URL of the server under test for the whole session."""
    binary = os.environ.get("TOXIPROXY_SERVER")
    if binary:
        with testing.official(binary) as url:
            yield url
    else:
        with testing.in_subprocess() as url:
            yield url


@pytest.fixture
def api_url(toxiproxy_server: str) -> Iterator[str]:
    """The server's URL; every proxy is deleted after the test."""
    yield toxiproxy_server
    with httpx.Client(base_url=toxiproxy_server) as client:
        for name in client.get("/proxies").json():
            client.delete(f"/proxies/{name}")


@pytest.fixture
def listener() -> Iterator[str]:
    """An upstream that accepts connections (nobody reads them: enough to dial)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
async def api(api_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api_url, timeout=10) as client:
        yield client


@pytest.fixture
async def make_upstream() -> AsyncIterator[Callable[[Handler], Awaitable[Upstream]]]:
    """Start test upstream servers; all are closed (with their connections) afterwards."""
    started: list[Upstream] = []

    async def make(handler: Handler) -> Upstream:
        started.append(await Upstream(handler).start())
        return started[-1]

    yield make
    for upstream in started:
        await upstream.close()


@pytest.fixture
async def echo_server(make_upstream: Callable[[Handler], Awaitable[Upstream]]) -> Upstream:
    return await make_upstream(echo)
