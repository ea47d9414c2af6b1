"""The harness's own client (harness.cluster.toxiproxy_api) against the server under test:
the official one with TOXIPROXY_SERVER set, else the compatible one."""

from __future__ import annotations

from harness.cluster.toxiproxy_api import ToxiproxyApi


def test_set_enabled_switches_a_proxy_off_and_on(api_url: str, listener: str) -> None:
    api = ToxiproxyApi(api_url)
    try:
        api.populate([{"name": "a_to_b", "listen": "127.0.0.1:0", "upstream": listener}])
        api.set_enabled("a_to_b", False)
        assert api.proxies()["a_to_b"]["enabled"] is False
        api.set_enabled("a_to_b", True)
        assert api.proxies()["a_to_b"]["enabled"] is True
    finally:
        api.close()
