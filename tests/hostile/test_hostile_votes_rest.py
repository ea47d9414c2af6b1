"""``GET /alpha/consensus/votes`` on bad ranges (protocol §11): a 400 in the error shape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from clp_node.api.openapi import MAX_VOTE_HEIGHTS
from clp_node.api.server import ApiServer

OLDEST, CURRENT = 5, 400


class StubNode:
    """Holds votes of heights OLDEST..=CURRENT; records what the server asked for."""

    faults = None

    def __init__(self) -> None:
        self.asked: list[tuple[int, int]] = []

    def vote_window(self) -> tuple[int, int]:
        return OLDEST, CURRENT

    def held_votes(self, first: int, last: int) -> list[dict[str, Any]]:
        self.asked.append((first, last))
        return []


@pytest_asyncio.fixture
async def client() -> AsyncIterator[tuple[TestClient, StubNode]]:
    node = StubNode()
    async with TestClient(TestServer(ApiServer(node).app)) as c:  # type: ignore[arg-type]
        yield c, node


@pytest.mark.parametrize(
    "query",
    [
        "from=x",
        "to=-1",
        "from=1.5",
        "from=",
        "to=9223372036854775808",
        "from=%C2%B2",  # a non-ASCII digit
        "from=9&to=8",  # reversed
        f"from=1&to={MAX_VOTE_HEIGHTS + 1}",  # one height too many
        "from=1",  # to defaults to the current height: 400 heights
        "to=300",  # from defaults to the oldest: 296 heights
    ],
)
async def test_a_bad_range_is_a_400_and_reads_nothing(
    client: tuple[TestClient, StubNode], query: str
) -> None:
    c, node = client
    resp = await c.get(f"/alpha/consensus/votes?{query}")
    assert resp.status == 400, await resp.text()
    assert (await resp.json())["error"] == "BAD_REQUEST"
    assert node.asked == []


async def test_the_default_window_and_a_full_range_are_served(
    client: tuple[TestClient, StubNode],
) -> None:
    c, node = client
    resp = await c.get("/alpha/consensus/votes")
    assert resp.status == 200
    assert await resp.json() == {"from": OLDEST, "to": CURRENT, "oldest": OLDEST, "votes": []}
    resp = await c.get(f"/alpha/consensus/votes?from=1&to={MAX_VOTE_HEIGHTS}")
    assert resp.status == 200
    assert node.asked == [(OLDEST, CURRENT), (1, MAX_VOTE_HEIGHTS)]


async def test_another_method_is_a_405(client: tuple[TestClient, StubNode]) -> None:
    c, _ = client
    resp = await c.post("/alpha/consensus/votes")
    assert resp.status == 405 and "GET" in resp.headers["Allow"]
