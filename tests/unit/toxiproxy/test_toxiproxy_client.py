"""Conformance through the toxiproxy-python client (0.1.1), which the harness uses."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from _toxiproxy_testkit import host_port, refuses
from toxiproxy import Toxiproxy
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists


@pytest.fixture
def client(api_url: str) -> Iterator[Toxiproxy]:
    """A client pointed at the server under test (the library keeps host/port globally)."""
    parts = urlsplit(api_url)
    server = Toxiproxy()
    assert parts.hostname is not None and parts.port is not None
    server.update_api_consumer(parts.hostname, parts.port)
    yield server


def test_running_and_version(client: Toxiproxy) -> None:
    assert client.running() is True
    version = client.version()
    assert isinstance(version, bytes)
    assert b'"version"' in version


def test_create_list_get_destroy(client: Toxiproxy, listener: str) -> None:
    proxy = client.create(upstream=listener, name="svc")
    assert proxy.name == "svc"
    assert proxy.upstream == listener
    assert proxy.enabled is True
    assert host_port(proxy.listen)[1] != 0, "listen 127.0.0.1:0 is rewritten to the real port"
    assert set(client.proxies()) == {"svc"}
    fetched = client.get_proxy("svc")
    assert fetched is not None and fetched.listen == proxy.listen
    assert client.get_proxy("nothing") is None
    assert client.destroy(proxy) is True
    assert client.proxies() == {}
    assert refuses(proxy.listen)


def test_duplicate_create_raises(client: Toxiproxy, listener: str) -> None:
    client.create(upstream=listener, name="svc")
    with pytest.raises(ProxyExists):
        client.create(upstream=listener, name="svc")


def test_toxics_roundtrip(client: Toxiproxy, listener: str) -> None:
    proxy = client.create(upstream=listener, name="svc")
    proxy.add_toxic(type="latency", attributes={"latency": 120, "jitter": 5})
    proxy.add_toxic(type="bandwidth", stream="upstream", name="bw", attributes={"rate": 64})
    toxics = proxy.toxics()
    assert set(toxics) == {"latency_downstream", "bw"}
    latency = proxy.get_toxic("latency_downstream")
    assert latency is not None
    assert latency.type == "latency"
    assert latency.stream == "downstream"
    assert latency.toxicity == 1.0
    assert latency.attributes == {"latency": 120, "jitter": 5}
    assert toxics["bw"].attributes == {"rate": 64}
    assert proxy.destroy_toxic("bw") is True
    assert set(proxy.toxics()) == {"latency_downstream"}


def test_client_errors_map_to_exceptions(client: Toxiproxy, listener: str) -> None:
    proxy = client.create(upstream=listener, name="svc")
    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="latency", stream="sideways")
    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="no_such_toxic")
    with pytest.raises(NotFound):
        proxy.destroy_toxic("ghost")
    proxy.add_toxic(type="latency")
    with pytest.raises(ProxyExists):
        proxy.add_toxic(type="latency")
    proxy.destroy()
    with pytest.raises(NotFound):
        proxy.destroy()


def test_down_context_disables_then_enables(client: Toxiproxy, listener: str) -> None:
    proxy = client.create(upstream=listener, name="svc")
    with proxy.down():
        assert client.get_proxy("svc").enabled is False
        assert refuses(proxy.listen)
    assert client.get_proxy("svc").enabled is True
    assert not refuses(proxy.listen)


def test_reset_and_destroy_all(client: Toxiproxy, listener: str) -> None:
    proxy = client.create(upstream=listener, name="svc")
    proxy.add_toxic(type="timeout", attributes={"timeout": 10})
    proxy.disable()
    assert client.reset() is True
    after = client.get_proxy("svc")
    assert after is not None and after.enabled is True
    assert after.toxics() == {}
    client.create(upstream=listener, name="other")
    client.destroy_all()
    assert client.proxies() == {}


def test_client_populate(client: Toxiproxy, listener: str) -> None:
    created = client.populate(
        [
            {"name": "one", "listen": "127.0.0.1:0", "upstream": listener},
            {"name": "two", "listen": "127.0.0.1:0", "upstream": listener},
        ]
    )
    assert sorted(p.name for p in created) == ["one", "two"]
    assert set(client.proxies()) == {"one", "two"}


def test_create_disabled(client: Toxiproxy, listener: str) -> None:
    proxy = client.create(upstream=listener, name="svc", listen="127.0.0.1:0", enabled=False)
    assert proxy.enabled is False
    assert proxy.listen == "127.0.0.1:0"
    proxy.enable()
    enabled = client.get_proxy("svc")
    assert enabled is not None and enabled.enabled is True
    assert not refuses(enabled.listen)
