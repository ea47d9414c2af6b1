"""Test hooks: off unless configured; on, they need the testnet's token and a JSON body.

Before: any page a browser opened could flip them with a cross-site text/plain POST.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from clp_node.api.server import ApiServer, TestFaults
from clp_node.config import ConfigError, NodeConfig

TOKEN = "k" * 32


class StubNode:
    def __init__(self, faults: TestFaults | None) -> None:
        self.faults = faults


def _client(faults: TestFaults | None, token: str = TOKEN) -> TestClient:
    return TestClient(TestServer(ApiServer(StubNode(faults), token).app))  # type: ignore[arg-type]


async def test_cross_site_simple_post_is_refused() -> None:
    faults = TestFaults()
    async with _client(faults) as client:
        no_token = await client.post(
            "/admin/faults",
            data='{"clock_offset_ms": -3182274}',
            headers={"Content-Type": "text/plain"},
        )
        assert no_token.status == 401
        plain = await client.post(
            "/admin/faults",
            data='{"lazy": true}',
            headers={"Content-Type": "text/plain", "X-CLP-Hooks-Token": TOKEN},
        )
        assert plain.status == 415
        wrong = await client.post(
            "/admin/faults", json={"lazy": True}, headers={"X-CLP-Hooks-Token": "x" * 32}
        )
        assert wrong.status == 401
        assert (await client.get("/admin/faults")).status == 401
    assert faults == TestFaults()


async def test_token_and_json_apply_either_field_alone() -> None:
    faults = TestFaults()
    async with _client(faults) as client:
        auth = {"X-CLP-Hooks-Token": TOKEN}
        assert (await client.post("/admin/faults", json={"lazy": True}, headers=auth)).status == 200
        resp = await client.post("/admin/faults", json={"clock_offset_ms": -5}, headers=auth)
        assert await resp.json() == {"lazy": True, "clock_offset_ms": -5, "double_sign": False}
        resp = await client.post("/admin/faults", json={"double_sign": True}, headers=auth)
        assert await resp.json() == {"lazy": True, "clock_offset_ms": -5, "double_sign": True}
        resp = await client.post("/admin/faults", json={"double_sign": 1}, headers=auth)
        assert resp.status == 400 and faults.double_sign


async def test_hooks_without_a_token_stay_off() -> None:
    async with _client(TestFaults(), token="") as client:
        resp = await client.post("/admin/faults", json={"lazy": True})
        assert resp.status == 404


BASE = """
[node]
name = "v0"
key_file = "key.json"
genesis_file = "genesis.json"
data_dir = "data"

[listen]
p2p = "127.0.0.1:26656"
api = "127.0.0.1:8080"
"""


def test_config_hooks_are_off_by_default_and_need_a_token_when_on(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    path.write_text(BASE)
    assert NodeConfig.load(path).test_hooks is False
    path.write_text(BASE + "[test_hooks]\nenabled = true\n")
    with pytest.raises(ConfigError, match=r"test_hooks\.token"):
        NodeConfig.load(path)
    path.write_text(BASE + f'[test_hooks]\nenabled = true\ntoken = "{TOKEN}"\n')
    cfg = NodeConfig.load(path)
    assert cfg.test_hooks and cfg.hooks_token == TOKEN
