"""Protocol time → heights (CLP_SPEC §3, §4) with the test profile and a custom profile."""

from __future__ import annotations

from dataclasses import replace

import pytest

from harness.contract.params import ClpParams as ClpConfig
from harness.scenario.model import Trigger
from harness.scenario.triggers import (
    challenge_heights,
    is_challenge_height,
    trigger_error,
    trigger_height,
)

TEST = ClpConfig.test_profile()  # E=20, K=2, W=4
ODD = replace(TEST, epoch_length=25, challenge_interval=5, response_window=3)


def test_challenge_heights_of_the_test_profile() -> None:
    # K=2, W=4: 2..16 in epoch 0; 18 and 20 would have windows reaching into epoch 1.
    assert challenge_heights(TEST, 1, 20) == [2, 4, 6, 8, 10, 12, 14, 16]
    assert challenge_heights(TEST, 21, 40) == [22, 24, 26, 28, 30, 32, 34, 36]
    assert not is_challenge_height(0, TEST) and not is_challenge_height(3, TEST)


def test_challenge_heights_match_the_spec_formula() -> None:
    for cfg in (TEST, ODD):
        for h in range(0, 200):
            spec = (
                h >= 1
                and h % cfg.challenge_interval == 0
                and cfg.epoch_of(h) == cfg.epoch_of(h + cfg.response_window)
            )
            assert is_challenge_height(h, cfg) == spec, (cfg, h)


def test_epoch_heights() -> None:
    assert [TEST.epoch_first_height(e) for e in range(3)] == [1, 21, 41]
    assert [TEST.epoch_last_height(e) for e in range(3)] == [20, 40, 60]
    assert ODD.epoch_first_height(2) == 51 and ODD.epoch_last_height(2) == 75


@pytest.mark.parametrize(
    ("trigger", "cfg", "height"),
    [
        (Trigger("height", 7), TEST, 7),
        (Trigger("epoch", 0), TEST, 1),
        (Trigger("epoch", 1), TEST, 21),
        (Trigger("epoch", 2, 5), TEST, 46),
        (Trigger("epoch", 1, 3), ODD, 29),
        (Trigger("challenge", 6), TEST, 6),
        (Trigger("challenge", 6, 4), TEST, 10),
        (Trigger("challenge", 30, 2), ODD, 32),
        (Trigger("after_s", 2.5), TEST, None),
    ],
)
def test_trigger_height(trigger: Trigger, cfg: ClpConfig, height: int | None) -> None:
    assert trigger_error(trigger, cfg) is None
    assert trigger_height(trigger, cfg) == height


@pytest.mark.parametrize(
    ("trigger", "key", "text"),
    [
        (Trigger("challenge", 5), "challenge", "got 5"),
        (Trigger("challenge", 18), "challenge", "nearby: 14, 16, 22, 24"),
        (Trigger("challenge", 4, 5), "offset", "0..4"),
        (Trigger("epoch", 1, 20), "offset", "0..19"),
    ],
)
def test_impossible_triggers(trigger: Trigger, key: str, text: str) -> None:
    problem = trigger_error(trigger, TEST)
    assert problem is not None and problem[0] == key and text in problem[1], problem


def test_unknown_kind_is_a_bug() -> None:
    with pytest.raises(ValueError, match="unknown trigger kind"):
        trigger_height(Trigger("minute", 1), TEST)
