"""Test hooks are reachable only when the node's config enables them."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer

from clp_node.api.server import ApiServer, TestFaults


class StubNode:
    def __init__(self, faults: TestFaults | None) -> None:
        self.faults = faults


async def test_hooks_disabled_is_a_json_404_on_get_and_post() -> None:
    async with TestClient(TestServer(ApiServer(StubNode(None)).app)) as client:  # type: ignore[arg-type]
        for resp in (
            await client.get("/admin/faults"),
            await client.post("/admin/faults", json={}),
        ):
            assert resp.status == 404
            assert (await resp.json())["error"] == "HOOKS_DISABLED"


TOKEN = "t" * 32
AUTH = {"X-CLP-Hooks-Token": TOKEN}


async def test_hooks_enabled_apply_and_validate() -> None:
    faults = TestFaults()
    async with TestClient(TestServer(ApiServer(StubNode(faults), TOKEN).app)) as client:  # type: ignore[arg-type]
        resp = await client.post(
            "/admin/faults", json={"lazy": True, "clock_offset_ms": 500}, headers=AUTH
        )
        assert resp.status == 200 and faults.lazy and faults.clock_offset_ms == 500
        bad = await client.post("/admin/faults", json={"lazy": "yes"}, headers=AUTH)
        assert bad.status == 400 and faults.lazy is True
        unknown = await client.post("/admin/faults", json={"explode": 1}, headers=AUTH)
        assert unknown.status == 400 and "explode" in (await unknown.json())["detail"]
