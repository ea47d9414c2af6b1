"""``GET /alpha/clp/answers`` (protocol §11): bad ranges are a 400 in the error shape; a
good range serves exactly the answers in it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from clp_node.api.openapi import MAX_VOTE_HEIGHTS
from clp_node.api.server import ApiServer

ADDRESS = "ab" * 20
# challenge height -> ms first sent; 4..=400 span more heights than one request may name
SENT = {4: 1_700_000_000_004, 6: 1_700_000_000_006, 300: 1_700_000_000_300, 400: 17}


class StubNode:
    faults = None

    def clp_answers(self) -> tuple[str, dict[int, int]]:
        return ADDRESS, dict(SENT)


@pytest_asyncio.fixture
async def client() -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(ApiServer(StubNode()).app)) as c:  # type: ignore[arg-type]
        yield c


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
        "from=5",  # to defaults to the newest answer (400): 396 heights
        "to=300",  # from defaults to the oldest answer (4): 297 heights
    ],
)
async def test_a_bad_range_is_a_400(client: TestClient, query: str) -> None:
    resp = await client.get(f"/alpha/clp/answers?{query}")
    assert resp.status == 400, await resp.text()
    body = await resp.json()
    assert body["error"] == "BAD_REQUEST" and body["detail"]


async def test_the_default_window_and_a_range_are_served(client: TestClient) -> None:
    resp = await client.get("/alpha/clp/answers")
    assert resp.status == 200
    body = await resp.json()
    assert body["validator"] == ADDRESS
    assert [(a["challenge_height"], a["sent_at_ms"]) for a in body["answers"]] == sorted(
        SENT.items()
    )
    resp = await client.get("/alpha/clp/answers?from=5&to=260")
    assert [a["challenge_height"] for a in (await resp.json())["answers"]] == [6]
    resp = await client.get("/alpha/clp/answers?to=300")
    assert resp.status == 400  # from defaults to the oldest answer: too many heights
    resp = await client.get("/alpha/clp/answers?from=300")
    assert [a["challenge_height"] for a in (await resp.json())["answers"]] == [300, 400]


async def test_another_method_is_a_405(client: TestClient) -> None:
    resp = await client.post("/alpha/clp/answers")
    assert resp.status == 405 and "GET" in resp.headers["Allow"]
