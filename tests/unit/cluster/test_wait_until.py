"""The one polling primitive: plain and async checks, retried errors, a timeout that says why."""

from __future__ import annotations

import itertools

import pytest

from harness.cluster.base import WaitTimeout, wait_until


async def test_returns_the_first_value_that_is_neither_none_nor_false() -> None:
    values = iter([None, False, 0, 7])
    assert await wait_until(lambda: next(values), 1.0, "a value", interval=0) == 0


async def test_async_checks_are_awaited() -> None:
    calls = itertools.count(1)

    async def check() -> int | None:
        n = next(calls)
        return n if n >= 3 else None

    assert await wait_until(check, 1.0, "the third call", interval=0) == 3


async def test_listed_errors_count_as_not_yet_and_others_escape() -> None:
    attempts = itertools.count()

    def flaky() -> str:
        if next(attempts) < 2:
            raise ConnectionError("down")
        return "up"

    assert await wait_until(flaky, 1.0, "recovery", interval=0, retry_on=(ConnectionError,)) == "up"
    with pytest.raises(ValueError):
        await wait_until(lambda: int("x"), 1.0, "never", retry_on=(ConnectionError,))


async def test_timeout_names_what_was_awaited_and_the_last_state() -> None:
    def down() -> None:
        raise ConnectionError("refused")

    with pytest.raises(WaitTimeout, match=r"waiting for node v1 .*refused"):
        await wait_until(down, 0.05, "node v1", interval=0.01, retry_on=(ConnectionError,))
