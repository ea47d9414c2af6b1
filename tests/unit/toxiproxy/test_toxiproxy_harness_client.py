"""The harness's own client (harness.cluster.toxiproxy_api) against the server under test:
the official one with TOXIPROXY_SERVER set, else the compatible one."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from harness.cluster.toxiproxy_api import ToxiproxyApi


@pytest.fixture
def upstream() -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"127.0.0.1:{sock.getsockname()[1]}"


def test_set_enabled_switches_a_proxy_off_and_on(api_url: str, upstream: str) -> None:
    api = ToxiproxyApi(api_url)
    try:
        api.populate([{"name": "a_to_b", "listen": "127.0.0.1:0", "upstream": upstream}])
        api.set_enabled("a_to_b", False)
        assert api.proxies()["a_to_b"]["enabled"] is False
        api.set_enabled("a_to_b", True)
        assert api.proxies()["a_to_b"]["enabled"] is True
    finally:
        api.close()
