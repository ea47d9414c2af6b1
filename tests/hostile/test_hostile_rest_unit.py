"""The REST layer on its own (a real block store, no chain): the issue's 500s and 405s.

Before: a 5000-digit integer raised Python's int-digit ValueError out of the handler, a
height past int64 overflowed SQLite, and every 405 lost its Allow header.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from clp_node.api.metrics import NodeMetrics
from clp_node.api.server import ApiServer, TestFaults
from clp_node.store.sqlite import BlockStore

TOKEN = "r" * 32
JSON = {"Content-Type": "application/json", "X-CLP-Hooks-Token": TOKEN}
HUGE = b"7" * 5000


class StubNode:
    def __init__(self, store: BlockStore) -> None:
        self.store = store
        self.metrics = NodeMetrics()
        self.faults = TestFaults()

    def submit_response(self, data: object) -> None:
        raise AssertionError(f"a body that is not JSON we accept reached the node: {data!r}")


@pytest_asyncio.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient]:
    store = BlockStore(tmp_path / "chain.sqlite")
    async with TestClient(TestServer(ApiServer(StubNode(store), TOKEN).app)) as c:  # type: ignore[arg-type]
        yield c
    store.close()


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/alpha/clp/response", b'{"challenge_height": ' + HUGE + b"}"),
        ("/admin/faults", b'{"clock_offset_ms": ' + HUGE + b"}"),
        ("/admin/faults", b'{"lazy": [' + HUGE + b"]}"),
    ],
)
async def test_a_5000_digit_integer_is_a_400(client: TestClient, path: str, body: bytes) -> None:
    resp = await client.post(path, data=body, headers=JSON)
    assert resp.status == 400, await resp.text()
    assert "digits" in (await resp.json())["detail"]


@pytest.mark.parametrize("height", ["9223372036854775808", "9999999999999999999"])
async def test_a_height_past_int64_is_a_400(client: TestClient, height: str) -> None:
    resp = await client.get(f"/alpha/chain/block/{height}")
    assert resp.status == 400, await resp.text()
    assert (await resp.json())["error"] == "BAD_REQUEST"


async def test_the_largest_int64_height_is_a_404(client: TestClient) -> None:
    assert (await client.get("/alpha/chain/block/9223372036854775807")).status == 404


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [("DELETE", "/alpha/chain/head", "GET"), ("GET", "/alpha/clp/response", "POST")],
)
async def test_405_keeps_its_allow_header(
    client: TestClient, method: str, path: str, allow: str
) -> None:
    resp = await client.request(method, path)
    assert resp.status == 405
    assert allow in resp.headers["Allow"], resp.headers
    assert (await resp.json())["error"] == "METHOD_NOT_ALLOWED"


async def test_an_integral_float_is_the_integer_the_document_allows(client: TestClient) -> None:
    resp = await client.post("/admin/faults", data=b'{"clock_offset_ms": -869.0}', headers=JSON)
    assert resp.status == 200 and (await resp.json())["clock_offset_ms"] == -869
    resp = await client.post("/admin/faults", data=b'{"clock_offset_ms": 1.5}', headers=JSON)
    assert resp.status == 400
