"""A signature forgery refused as DUPLICATE: right by §5's order only if the claimed
validator's own response reached the chain (rule 5 comes before rule 6)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from harness.scenario.actions import ActionExecutor, Forgery

WINDOW = 4
VALIDATOR = "ab" * 20
FORGED = {"challenge_height": 6, "validator": VALIDATOR, "signature": "00" * 64}
GENUINE = {"challenge_height": 6, "validator": VALIDATOR, "signature": "11" * 64}


class FakeClient:
    def __init__(self, blocks: dict[int, list[dict[str, Any]]]) -> None:
        self.blocks = blocks

    async def block(self, h: int) -> dict[str, Any]:
        return {"block": {"responses": self.blocks.get(h, [])}}


class FakeCluster:
    def __init__(self, blocks: dict[int, list[dict[str, Any]]]) -> None:
        self.manifest = SimpleNamespace(clp_config=lambda: SimpleNamespace(response_window=WINDOW))
        self._client = FakeClient(blocks)

    def client(self, _name: str) -> FakeClient:
        return self._client

    async def wait_for_height(self, _h: int, _names: list[str]) -> None:
        return None


def _executor(blocks: dict[int, list[dict[str, Any]]]) -> ActionExecutor:
    ex = ActionExecutor(FakeCluster(blocks), nemesis=None, seed=1)  # type: ignore[arg-type]
    what = "steps[3] post_response forge=bad_signature via v1"
    pending = (what, "want 400 BAD_SIGNATURE, got 400 DUPLICATE; forged")
    ex.forgeries.append(Forgery("steps[3]", "v1", FORGED, 7, pending))
    return ex


async def test_duplicate_passes_when_the_genuine_response_is_on_chain() -> None:
    ex = _executor({8: [GENUINE]})
    await ex.check_forgeries()
    dup = [o for o in ex.outcomes if "post_response" in o.what]
    assert len(dup) == 1 and dup[0].passed, ex.outcomes
    assert "own response to 6 is in block 8" in dup[0].detail


async def test_duplicate_fails_when_no_genuine_response_exists() -> None:
    ex = _executor({8: [{**GENUINE, "validator": "cd" * 20}]})
    await ex.check_forgeries()
    dup = [o for o in ex.outcomes if "post_response" in o.what]
    assert len(dup) == 1 and not dup[0].passed, ex.outcomes
    assert "no genuine response to 6 reached the chain" in dup[0].detail


async def test_the_forgery_itself_on_chain_is_no_genuine_response() -> None:
    ex = _executor({8: [FORGED]})
    await ex.check_forgeries()
    by_what = {o.what: o for o in ex.outcomes}
    assert not by_what["steps[3] post_response forge=bad_signature via v1"].passed
    assert not by_what["steps[3] forged response never on chain"].passed


class HeadClient(FakeClient):
    def __init__(self, head: int) -> None:
        super().__init__({})
        self.head = head

    async def height(self) -> int:
        return self.head


async def test_expired_for_a_duplicate_passes_only_once_the_window_had_closed() -> None:
    # challenge 6, window 4: block 11 is the first past it, so a head of 10 closed it
    ex = ActionExecutor(FakeCluster({}), nemesis=None, seed=1)  # type: ignore[arg-type]
    closed, why = await ex._closed_in_flight(HeadClient(10), GENUINE, "want DUPLICATE")
    assert closed and "EXPIRED (§5 rule 3) rightly comes before DUPLICATE" in why
    open_, why = await ex._closed_in_flight(HeadClient(9), GENUINE, "want DUPLICATE")
    assert not open_ and "block 10 <= 10" in why
