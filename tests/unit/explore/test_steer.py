"""Coverage that steers: aims chosen from what never happened, recipes that parse and aim."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.explore import steer
from harness.explore.generate import draw
from harness.explore.steer import STEER_EVERY, STEER_LAG, aim_for
from harness.explore.tomlout import dumps
from harness.scenario.parse import parse_text

ALL_AIMS = sorted(steer._recipes("local"))


def test_no_aim_before_the_lag_nor_on_odd_runs() -> None:
    never = ["response_in_last_block"]
    assert aim_for(STEER_LAG - 1, {}, never) is None
    assert aim_for(STEER_LAG + 1, {}, never) is None
    assert aim_for(STEER_LAG, {}, never) == "response_in_last_block"


def test_aims_rotate_over_the_missing_properties_with_a_recipe() -> None:
    never = ["ejection_tie", "fault_kill", "response_in_last_block", "forged_EXPIRED"]
    counts = {"fault_kill": 3}
    aims = {aim_for(STEER_LAG + STEER_EVERY * k, counts, never) for k in range(8)}
    assert aims == {"response_in_last_block", "forged_EXPIRED"}  # no recipe: ejection_tie


def test_nothing_missing_means_no_aim() -> None:
    assert aim_for(STEER_LAG, {"fault_kill": 1}, ["fault_kill"]) is None


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from(ALL_AIMS))
def test_every_aimed_draw_parses_as_a_scenario(index: int, aim: str) -> None:
    doc = draw(1, index)
    aimed = steer.steer(doc, aim, random.Random(index), "local")
    parse_text(dumps(aimed), f"aimed-{index}.toml")
    if aimed is not doc:
        assert f"Aimed at: {aim}." in aimed["description"]


def _aimed(aim: str) -> dict:
    for index in range(200):
        doc = draw(3, index)
        aimed = steer.steer(doc, aim, random.Random(index), "local")
        if aimed is not doc:
            return aimed
    raise AssertionError(f"no draw of 200 fits the recipe of {aim}")


def test_last_block_recipe_brings_a_lazy_validator_back_one_block_before_the_end() -> None:
    aimed = _aimed("response_in_last_block")
    w = aimed["cluster"]["clp"]["response_window"]
    lazy = [s for s in aimed["steps"] if s["do"] == "lazy"]
    active = [s for s in aimed["steps"] if s["do"] == "active"]
    assert len(lazy) == 1 and len(active) == 1 and lazy[0]["node"] == active[0]["node"]
    h = active[0]["at"]["challenge"]
    assert active[0]["at"]["offset"] == w - 1 and lazy[0]["at"]["height"] == h - 1
    assert not any(
        s["do"] not in ("lazy", "active") and lazy[0]["node"] in steer._nodes(s)
        for s in aimed["steps"]
    )


@pytest.mark.parametrize("aim", ["fault_limit_data", "forged_BAD_SIGNATURE", "forged_EXPIRED"])
def test_fault_and_forgery_recipes_add_what_they_aim_at(aim: str) -> None:
    aimed = _aimed(aim)
    if aim.startswith("fault_"):
        assert any(s["do"] == aim.removeprefix("fault_") for s in aimed["steps"])
    else:
        posts = [s for s in aimed["steps"] if s["do"] == "post_response"]
        assert posts, aimed["steps"]


def test_steps_stay_in_protocol_order() -> None:
    aimed = _aimed("restart_across_epoch")
    clp = aimed["cluster"]["clp"]
    heights, last = [], 0.0
    for s in aimed["steps"]:
        last = steer._height_of(s, clp, last)
        heights.append(last)
    assert heights == sorted(heights)
