"""StakingLedger: all-or-nothing slashes and conservation."""

from __future__ import annotations

import pytest

from clp_node.chain.ledger import StakingLedger
from clp_node.clp.penalty import SlashError

A, B, C = "aa" * 20, "bb" * 20, "cc" * 20


@pytest.fixture
def led() -> StakingLedger:
    return StakingLedger({C: 300, A: 100, B: 200})


def snapshot(led: StakingLedger) -> tuple[dict[str, int], int]:
    return led.stakes(), led.burned


def test_initial(led: StakingLedger) -> None:
    assert list(led.stakes()) == [A, B, C]
    assert led.stake(B) == 200
    assert led.total_stake == led.genesis_total == 600
    assert led.burned == 0
    assert led.conserved()
    with pytest.raises(KeyError):
        led.stake("dd" * 20)


def test_negative_genesis_stake_refused() -> None:
    with pytest.raises(ValueError, match=A):
        StakingLedger({A: -1})
    assert StakingLedger({A: 0}).conserved()


def test_apply_slashes(led: StakingLedger) -> None:
    led.apply_slashes({A: 10, C: 300})
    assert led.stakes() == {A: 90, B: 200, C: 0}
    assert led.burned == 310
    assert led.total_stake == 290
    assert led.genesis_total == 600
    assert led.conserved()
    led.apply_slashes({})
    assert led.burned == 310


@pytest.mark.parametrize(
    ("slashes", "match"),
    [
        ({A: 10, B: 201}, "exceeds"),
        ({A: 101}, "exceeds"),
        ({A: 10, B: -1}, "negative"),
        ({A: 10, "dd" * 20: 1}, "unknown"),
        ({C: 1, A: 5, B: 250}, "exceeds"),
    ],
)
def test_slash_validated_before_applying(
    led: StakingLedger, slashes: dict[str, int], match: str
) -> None:
    before = snapshot(led)
    with pytest.raises(SlashError, match=match):
        led.validate_slashes(slashes)
    with pytest.raises(SlashError, match=match):
        led.apply_slashes(slashes)
    assert snapshot(led) == before
    assert led.conserved()


def test_slash_whole_stake_boundary(led: StakingLedger) -> None:
    led.validate_slashes({A: 100})
    led.apply_slashes({A: 100})
    assert led.stake(A) == 0
    with pytest.raises(SlashError):
        led.apply_slashes({A: 1})
    assert led.stake(A) == 0 and led.burned == 100


def test_conserved_detects_breaks(led: StakingLedger) -> None:
    led.burned += 1
    assert not led.conserved()
    led.burned -= 1
    led._stakes[A] = -5  # a negative stake with the sum kept equal still breaks the law
    led._stakes[B] = 305
    assert led.total_stake + led.burned == led.genesis_total
    assert not led.conserved()
