"""Conformance of the HTTP API, over raw HTTP: endpoints, status codes, bodies, defaults."""

from __future__ import annotations

import re

import httpx
import pytest
from _toxiproxy_testkit import (
    OFFICIAL,
    Upstream,
    add_toxic,
    connect,
    create_proxy,
    host_port,
    read_until_closed,
    refuses,
    round_trip,
    unused_port,
)

from harness.toxiproxy import VERSION

PROXY_KEYS = {"name", "listen", "upstream", "enabled", "toxics"}
# What the official server sends beyond the documented shape: v2.12 serialises each proxy's
# logger as an empty object. A client must accept it; nothing else may appear.
OFFICIAL_EXTRA_PROXY_KEYS = {"Logger"}
TOXIC_KEYS = {"name", "type", "stream", "toxicity", "attributes"}


def assert_error(response: httpx.Response, status: int, message: str) -> None:
    assert response.status_code == status, response.text
    assert response.json() == {"error": message, "status": status}


def assert_bad_body(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["status"] == 400
    assert body["error"].startswith("bad request body: ")


# version, index, routing


async def test_version(api: httpx.AsyncClient) -> None:
    response = await api.get("/version")
    assert response.status_code == 200
    version = response.json()["version"]
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", version)
    if not OFFICIAL:
        assert version == VERSION == "2.12.0"


async def test_index_is_empty_object(api: httpx.AsyncClient) -> None:
    response = await api.get("/proxies")
    assert response.status_code == 200
    assert response.json() == {}


async def test_unknown_path_is_404(api: httpx.AsyncClient) -> None:
    assert (await api.get("/nope")).status_code == 404
    assert (await api.get("/proxies/a/b/c/d")).status_code == 404


async def test_browser_user_agent_is_forbidden(api: httpx.AsyncClient) -> None:
    browser = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"}
    response = await api.get("/proxies", headers=browser)
    assert response.status_code == 403
    response = await api.post("/proxies", headers=browser, json={"name": "x", "upstream": "a:1"})
    assert response.status_code == 403
    assert (await api.get("/proxies")).json() == {}, "a refused request must change nothing"
    assert (await api.get("/proxies", headers={"User-Agent": "curl/8.0"})).status_code == 200


# proxies


async def test_create_proxy_defaults_and_listen_rewrite(
    api: httpx.AsyncClient, echo_server: Upstream
) -> None:
    body = await create_proxy(api, "db", echo_server.address, listen="localhost:0")
    assert set(body) >= PROXY_KEYS, body
    assert set(body) - PROXY_KEYS <= OFFICIAL_EXTRA_PROXY_KEYS, body
    assert body["name"] == "db"
    assert body["upstream"] == echo_server.address
    assert body["enabled"] is True
    assert body["toxics"] == []
    host, port = host_port(body["listen"])
    assert host == "127.0.0.1"
    assert port != 0
    reader, writer = await connect(body["listen"])
    await round_trip(reader, writer)
    writer.close()


async def test_create_proxy_missing_fields(api: httpx.AsyncClient) -> None:
    response = await api.post("/proxies", json={"upstream": "127.0.0.1:1"})
    assert_error(response, 400, "missing required field: name")
    response = await api.post("/proxies", json={"name": "a", "listen": "127.0.0.1:0"})
    assert_error(response, 400, "missing required field: upstream")
    response = await api.post("/proxies", json={"name": "", "upstream": ""})
    assert_error(response, 400, "missing required field: name")
    assert (await api.get("/proxies")).json() == {}


@pytest.mark.parametrize(
    "content",
    [b"", b"{not json", b'{"name": 5, "upstream": "127.0.0.1:1"}', b'["name"]', b'"text"'],
)
async def test_create_proxy_bad_body(api: httpx.AsyncClient, content: bytes) -> None:
    assert_bad_body(await api.post("/proxies", content=content))
    assert (await api.get("/proxies")).json() == {}


async def test_create_proxy_wrong_enabled_type(api: httpx.AsyncClient) -> None:
    body = {"name": "a", "upstream": "127.0.0.1:1", "enabled": "yes"}
    assert_bad_body(await api.post("/proxies", json=body))


async def test_field_names_case_insensitive_and_unknown_ignored(
    api: httpx.AsyncClient, echo_server: Upstream
) -> None:
    body = {
        "NAME": "ci",
        "Upstream": echo_server.address,
        "LiStEn": "127.0.0.1:0",
        "Enabled": True,
        "colour": "blue",
        "toxics": "ignored",
    }
    response = await api.post("/proxies", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["name"] == "ci"
    assert created["upstream"] == echo_server.address
    assert created["enabled"] is True
    assert "colour" not in created
    assert created["toxics"] == []


async def test_create_duplicate_name_is_409(api: httpx.AsyncClient) -> None:
    await create_proxy(api, "dup", "127.0.0.1:1")
    response = await api.post("/proxies", json={"name": "dup", "upstream": "127.0.0.1:2"})
    assert_error(response, 409, "proxy already exists")
    assert (await api.get("/proxies/dup")).json()["upstream"] == "127.0.0.1:1"


async def test_create_on_taken_port_is_500(api: httpx.AsyncClient) -> None:
    first = await create_proxy(api, "first", "127.0.0.1:1")
    port = host_port(first["listen"])[1]
    response = await api.post(
        "/proxies", json={"name": "second", "listen": f"localhost:{port}", "upstream": "a:1"}
    )
    assert_error(response, 500, f"listen tcp 127.0.0.1:{port}: bind: address already in use")
    assert set((await api.get("/proxies")).json()) == {"first"}


async def test_index_and_show(api: httpx.AsyncClient) -> None:
    a = await create_proxy(api, "a", "127.0.0.1:1")
    b = await create_proxy(api, "b", "127.0.0.1:2", enabled=False)
    index = (await api.get("/proxies")).json()
    assert index == {"a": a, "b": b}
    response = await api.get("/proxies/a")
    assert response.status_code == 200
    assert response.json() == a


async def test_unknown_proxy_is_404_everywhere(api: httpx.AsyncClient) -> None:
    for method, path in [
        ("GET", "/proxies/ghost"),
        ("POST", "/proxies/ghost"),
        ("PATCH", "/proxies/ghost"),
        ("DELETE", "/proxies/ghost"),
        ("GET", "/proxies/ghost/toxics"),
        ("POST", "/proxies/ghost/toxics"),
        ("GET", "/proxies/ghost/toxics/t"),
        ("PATCH", "/proxies/ghost/toxics/t"),
        ("DELETE", "/proxies/ghost/toxics/t"),
    ]:
        response = await api.request(method, path, json={"type": "latency"})
        assert_error(response, 404, "proxy not found")


async def test_disabled_proxy_reports_listen_as_given_and_does_not_listen(
    api: httpx.AsyncClient,
) -> None:
    port = unused_port()
    body = await create_proxy(api, "off", "127.0.0.1:1", listen=f"localhost:{port}", enabled=False)
    assert body["enabled"] is False
    assert body["listen"] == f"localhost:{port}"
    assert refuses(f"127.0.0.1:{port}")


@pytest.mark.parametrize("method", ["POST", "PATCH"])
async def test_update_merges_fields(
    api: httpx.AsyncClient, echo_server: Upstream, method: str
) -> None:
    created = await create_proxy(api, "u", "127.0.0.1:1")
    response = await api.request(method, "/proxies/u", json={"upstream": echo_server.address})
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["upstream"] == echo_server.address
    assert updated["enabled"] is True
    assert updated["name"] == "u"
    host, port = host_port(updated["listen"])
    assert host == "127.0.0.1" and port != 0
    assert created["listen"] != "" and (await api.get("/proxies/u")).json() == updated
    reader, writer = await connect(updated["listen"])
    await round_trip(reader, writer)
    writer.close()


async def test_update_bad_body_is_400_and_changes_nothing(api: httpx.AsyncClient) -> None:
    created = await create_proxy(api, "u", "127.0.0.1:1")
    assert_bad_body(await api.patch("/proxies/u", content=b"{oops"))
    assert_bad_body(await api.patch("/proxies/u", json={"enabled": 1}))
    assert (await api.get("/proxies/u")).json() == created


async def test_disable_closes_connections_and_listener_then_reenable_same_port(
    api: httpx.AsyncClient, echo_server: Upstream
) -> None:
    created = await create_proxy(api, "sw", echo_server.address)
    await add_toxic(api, "sw", "latency", latency=1)
    reader, writer = await connect(created["listen"])
    await round_trip(reader, writer)

    response = await api.post("/proxies/sw", json={"enabled": False})
    assert response.status_code == 200
    disabled = response.json()
    assert disabled["enabled"] is False
    assert disabled["listen"] == created["listen"]
    assert len(disabled["toxics"]) == 1, "toxics survive disabling"
    data, _ = await read_until_closed(reader, timeout=5)
    assert data == b""
    writer.close()
    assert refuses(created["listen"])

    response = await api.patch("/proxies/sw", json={"enabled": True})
    assert response.status_code == 200
    assert response.json()["listen"] == created["listen"]
    reader, writer = await connect(created["listen"])
    await round_trip(reader, writer)
    writer.close()


async def test_changing_listen_moves_the_listener(api: httpx.AsyncClient) -> None:
    created = await create_proxy(api, "mv", "127.0.0.1:1")
    response = await api.patch("/proxies/mv", json={"listen": "127.0.0.1:0"})
    assert response.status_code == 200
    moved = response.json()["listen"]
    assert moved != created["listen"]
    assert refuses(created["listen"])
    assert not refuses(moved)


async def test_delete_proxy(api: httpx.AsyncClient, echo_server: Upstream) -> None:
    created = await create_proxy(api, "del", echo_server.address)
    reader, writer = await connect(created["listen"])
    await round_trip(reader, writer)
    response = await api.delete("/proxies/del")
    assert response.status_code == 204
    assert response.content == b""
    data, _ = await read_until_closed(reader)
    assert data == b""
    writer.close()
    assert refuses(created["listen"])
    assert_error(await api.get("/proxies/del"), 404, "proxy not found")
    assert_error(await api.delete("/proxies/del"), 404, "proxy not found")
    assert (await api.get("/proxies")).json() == {}


# toxics


async def test_toxic_defaults(api: httpx.AsyncClient) -> None:
    await create_proxy(api, "p", "127.0.0.1:1")
    assert (await api.get("/proxies/p/toxics")).json() == []
    response = await api.post("/proxies/p/toxics", json={"type": "latency"})
    assert response.status_code == 200, response.text
    toxic = response.json()
    assert set(toxic) == TOXIC_KEYS
    assert toxic["name"] == "latency_downstream"
    assert toxic["stream"] == "downstream"
    assert toxic["toxicity"] == 1.0
    assert toxic["attributes"] == {"latency": 0, "jitter": 0}
    assert (await api.get("/proxies/p/toxics/latency_downstream")).json() == toxic
    assert (await api.get("/proxies/p")).json()["toxics"] == [toxic]


@pytest.mark.parametrize(
    ("type_name", "attributes"),
    [
        ("latency", {"latency": 0, "jitter": 0}),
        ("bandwidth", {"rate": 0}),
        ("slow_close", {"delay": 0}),
        ("timeout", {"timeout": 0}),
        ("reset_peer", {"timeout": 0}),
        ("slicer", {"average_size": 0, "size_variation": 0, "delay": 0}),
        ("limit_data", {"bytes": 0}),
        ("noop", {}),
    ],
)
async def test_every_toxic_type_and_its_attributes(
    api: httpx.AsyncClient, type_name: str, attributes: dict[str, int]
) -> None:
    await create_proxy(api, "p", "127.0.0.1:1", enabled=False)
    toxic = await add_toxic(api, "p", type_name, stream="upstream")
    assert toxic["type"] == type_name
    assert toxic["name"] == f"{type_name}_upstream"
    assert toxic["attributes"] == attributes
    set_all = {key: index + 7 for index, key in enumerate(attributes)}
    body = {"type": type_name, "name": "second", "attributes": set_all}
    response = await api.post("/proxies/p/toxics", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["attributes"] == set_all


async def test_toxic_order_upstream_first_then_added_order(api: httpx.AsyncClient) -> None:
    await create_proxy(api, "p", "127.0.0.1:1")
    await add_toxic(api, "p", "latency", name="d1")
    await add_toxic(api, "p", "noop", stream="upstream", name="u1")
    await add_toxic(api, "p", "slicer", name="d2")
    await add_toxic(api, "p", "bandwidth", stream="upstream", name="u2")
    names = [t["name"] for t in (await api.get("/proxies/p/toxics")).json()]
    assert names == ["u1", "u2", "d1", "d2"]


async def test_toxic_fields_case_insensitive_unknown_ignored(api: httpx.AsyncClient) -> None:
    await create_proxy(api, "p", "127.0.0.1:1")
    body = {
        "Type": "latency",
        "STREAM": "upstream",
        "Name": "lat",
        "ToXiCiTy": 0.5,
        "Attributes": {"LATENCY": 42, "Jitter": 3, "wobble": 9},
        "extra": [1, 2],
    }
    response = await api.post("/proxies/p/toxics", json=body)
    assert response.status_code == 200, response.text
    toxic = response.json()
    assert toxic["name"] == "lat"
    assert toxic["stream"] == "upstream"
    assert toxic["toxicity"] == 0.5
    assert toxic["attributes"] == {"latency": 42, "jitter": 3}


async def test_toxic_errors(api: httpx.AsyncClient) -> None:
    await create_proxy(api, "p", "127.0.0.1:1")
    await add_toxic(api, "p", "latency", stream="upstream", name="taken")
    post = "/proxies/p/toxics"
    assert_error(
        await api.post(post, json={"type": "latency", "stream": "sideways"}),
        400,
        "stream was invalid, can be either upstream or downstream",
    )
    assert_error(await api.post(post, json={"type": "teleport"}), 400, "invalid toxic type")
    assert_error(await api.post(post, json={}), 400, "invalid toxic type")
    assert_error(
        await api.post(post, json={"type": "noop", "name": "taken"}), 409, "toxic already exists"
    )
    assert_bad_body(await api.post(post, content=b"{"))
    assert_bad_body(await api.post(post, json={"type": "latency", "attributes": {"latency": "1"}}))
    assert_bad_body(await api.post(post, json={"type": "latency", "attributes": {"latency": 1.5}}))
    assert_bad_body(await api.post(post, json={"type": "latency", "toxicity": "high"}))
    assert_error(await api.get("/proxies/p/toxics/ghost"), 404, "toxic not found")
    assert_error(await api.patch("/proxies/p/toxics/ghost", json={}), 404, "toxic not found")
    assert_error(await api.delete("/proxies/p/toxics/ghost"), 404, "toxic not found")
    assert [t["name"] for t in (await api.get(post)).json()] == ["taken"]


async def test_toxic_names_unique_across_streams(api: httpx.AsyncClient) -> None:
    await create_proxy(api, "p", "127.0.0.1:1")
    await add_toxic(api, "p", "latency", stream="upstream", name="same")
    response = await api.post(
        "/proxies/p/toxics", json={"type": "latency", "stream": "downstream", "name": "same"}
    )
    assert_error(response, 409, "toxic already exists")
    await add_toxic(api, "p", "latency", stream="downstream")  # default names differ
    names = [t["name"] for t in (await api.get("/proxies/p/toxics")).json()]
    assert names == ["same", "latency_downstream"]


@pytest.mark.parametrize("method", ["POST", "PATCH"])
async def test_toxic_update_merges_attributes_and_keeps_toxicity(
    api: httpx.AsyncClient, method: str
) -> None:
    await create_proxy(api, "p", "127.0.0.1:1")
    await add_toxic(api, "p", "latency", toxicity=0.25, latency=100, jitter=10)
    path = "/proxies/p/toxics/latency_downstream"
    response = await api.request(method, path, json={"attributes": {"latency": 1000}})
    assert response.status_code == 200, response.text
    toxic = response.json()
    assert toxic["attributes"] == {"latency": 1000, "jitter": 10}
    assert toxic["toxicity"] == 0.25
    response = await api.request(method, path, json={"toxicity": 0.75, "Attributes": {"JITTER": 1}})
    toxic = response.json()
    assert toxic["toxicity"] == 0.75
    assert toxic["attributes"] == {"latency": 1000, "jitter": 1}
    assert toxic["stream"] == "downstream" and toxic["type"] == "latency"
    assert (await api.get(path)).json() == toxic


async def test_toxic_update_bad_body(api: httpx.AsyncClient) -> None:
    await create_proxy(api, "p", "127.0.0.1:1")
    before = await add_toxic(api, "p", "latency", latency=5)
    path = "/proxies/p/toxics/latency_downstream"
    assert_bad_body(await api.patch(path, content=b"nope"))
    assert_bad_body(await api.patch(path, json={"attributes": {"latency": "slow"}}))
    assert (await api.get(path)).json() == before


async def test_toxic_delete(api: httpx.AsyncClient) -> None:
    await create_proxy(api, "p", "127.0.0.1:1")
    await add_toxic(api, "p", "latency", stream="upstream")
    await add_toxic(api, "p", "latency")
    response = await api.delete("/proxies/p/toxics/latency_upstream")
    assert response.status_code == 204
    assert response.content == b""
    names = [t["name"] for t in (await api.get("/proxies/p/toxics")).json()]
    assert names == ["latency_downstream"]
    assert_error(await api.get("/proxies/p/toxics/latency_upstream"), 404, "toxic not found")


# reset and populate


async def test_reset_enables_proxies_and_removes_toxics(api: httpx.AsyncClient) -> None:
    on = await create_proxy(api, "on", "127.0.0.1:1")
    off = await create_proxy(api, "off", "127.0.0.1:1")
    await api.patch("/proxies/off", json={"enabled": False})
    await add_toxic(api, "on", "latency")
    await add_toxic(api, "off", "timeout", stream="upstream")
    assert refuses(off["listen"])
    response = await api.post("/reset")
    assert response.status_code == 204
    assert response.content == b""
    index = (await api.get("/proxies")).json()
    assert {name: (p["enabled"], p["toxics"]) for name, p in index.items()} == {
        "on": (True, []),
        "off": (True, []),
    }
    assert index["off"]["listen"] == off["listen"]
    assert not refuses(off["listen"])
    assert not refuses(on["listen"])


async def test_populate_creates_keeps_and_replaces(api: httpx.AsyncClient) -> None:
    keep = await create_proxy(api, "keep", "127.0.0.1:1")
    swap = await create_proxy(api, "swap", "127.0.0.1:1")
    await add_toxic(api, "keep", "latency")
    await add_toxic(api, "swap", "latency")
    body = [
        {"name": "keep", "listen": keep["listen"], "upstream": "127.0.0.1:1"},
        {"name": "swap", "listen": swap["listen"], "upstream": "127.0.0.1:2"},
        {"name": "new", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:3"},
        {"name": "dark", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:4", "enabled": False},
    ]
    response = await api.post("/populate", json=body)
    assert response.status_code == 201, response.text
    proxies = response.json()["proxies"]
    assert [p["name"] for p in proxies] == ["keep", "swap", "new", "dark"]
    by_name = {p["name"]: p for p in proxies}
    assert len(by_name["keep"]["toxics"]) == 1, "an identical proxy is kept with its toxics"
    assert by_name["swap"]["toxics"] == [], "a differing proxy is replaced"
    assert by_name["swap"]["upstream"] == "127.0.0.1:2"
    assert by_name["swap"]["listen"] == swap["listen"]
    assert by_name["new"]["enabled"] is True and not refuses(by_name["new"]["listen"])
    assert by_name["dark"]["enabled"] is False
    assert set((await api.get("/proxies")).json()) == {"keep", "swap", "new", "dark"}


async def test_populate_validation_failure_creates_nothing(api: httpx.AsyncClient) -> None:
    body = [
        {"name": "good", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:1"},
        {"name": "bad", "listen": "127.0.0.1:0"},
    ]
    response = await api.post("/populate", json=body)
    assert response.status_code == 400
    assert response.json()["error"] == "missing required field: upstream at proxy 2"
    assert response.json()["status"] == 400
    body = [{"listen": "127.0.0.1:0", "upstream": "127.0.0.1:1"}]
    response = await api.post("/populate", json=body)
    assert response.json()["error"] == "missing required field: name at proxy 1"
    assert_bad_body(await api.post("/populate", json={"name": "x", "upstream": "y:1"}))
    assert_bad_body(await api.post("/populate", content=b"[{"))
    assert (await api.get("/proxies")).json() == {}


@pytest.mark.compat_only
async def test_populate_bind_failure_creates_nothing(api: httpx.AsyncClient) -> None:
    taken = await create_proxy(api, "taken", "127.0.0.1:1")
    body = [
        {"name": "good", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:1"},
        {"name": "clash", "listen": taken["listen"], "upstream": "127.0.0.1:1"},
    ]
    response = await api.post("/populate", json=body)
    assert response.status_code == 500
    assert "address already in use" in response.json()["error"]
    assert set((await api.get("/proxies")).json()) == {"taken"}


async def test_populate_empty_array(api: httpx.AsyncClient) -> None:
    response = await api.post("/populate", json=[])
    assert response.status_code == 201
    assert response.json()["proxies"] in ([], None)
