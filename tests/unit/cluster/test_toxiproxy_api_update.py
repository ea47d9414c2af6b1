"""How the harness's Toxiproxy client updates a proxy: PATCH, or POST for a server too old
for it (the servers themselves are exercised in tests/unit/toxiproxy)."""

from __future__ import annotations

import httpx
import pytest

from harness.cluster.toxiproxy_api import ToxiproxyApi, ToxiproxyError

URL = "http://toxiproxy.invalid:8474"


def api_answering(status_for: dict[str, int], seen: list[str]) -> ToxiproxyApi:
    """A client whose server answers each method with the status `status_for` gives it."""

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        status = status_for.get(request.method, 404)
        if status >= 400:
            return httpx.Response(status, json={"error": "no", "status": status})
        return httpx.Response(status, json={"name": "p", "enabled": False})

    api = ToxiproxyApi(URL)
    api.close()
    api._http = httpx.Client(base_url=URL, transport=httpx.MockTransport(handle))
    return api


def test_a_proxy_is_updated_with_patch() -> None:
    seen: list[str] = []
    api = api_answering({"PATCH": 200, "POST": 200}, seen)
    api.set_enabled("p", False)
    api.set_enabled("p", True)
    assert seen == ["PATCH", "PATCH"]


def test_a_server_without_patch_gets_post_from_then_on() -> None:
    seen: list[str] = []
    api = api_answering({"POST": 200, "PATCH": 405}, seen)
    api.set_enabled("p", False)
    api.set_enabled("p", True)
    assert seen == ["PATCH", "POST", "POST"]


def test_other_refusals_are_errors_not_a_fallback() -> None:
    seen: list[str] = []
    api = api_answering({"PATCH": 404, "POST": 200}, seen)
    with pytest.raises(ToxiproxyError) as refused:
        api.set_enabled("p", False)
    assert refused.value.status == 404
    assert seen == ["PATCH"]
