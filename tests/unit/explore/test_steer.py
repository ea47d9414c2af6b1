"""Coverage that steers: aims chosen from what never happened, recipes that parse and aim."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.contract.genesis import ConsensusParams
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
    aimed = steer.steer(doc, aim, random.Random(index), "local", seed=1)
    parse_text(dumps(aimed), f"aimed-{index}.toml")
    if aimed is not doc:
        assert f"Aimed at: {aim}." in aimed["description"]


def _aimed(aim: str) -> dict:
    for index in range(200):
        doc = draw(3, index)
        aimed = steer.steer(doc, aim, random.Random(index), "local", seed=3)
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


def test_lock_split_recipe_mutes_one_that_proposes_neither_round_and_delays_another() -> None:
    """tests/explore/lock-split-round.toml, generalised: X muted, P -> Z late; X and Z each
    under a third of the stake, together at least a third; X proposes neither round."""
    aimed = _aimed("lock_released")
    assert "Aimed at: lock_released." in aimed["description"]
    steps = aimed["steps"]
    assert [s["do"] for s in steps] == ["mute", "latency", "heal", "clear"]  # nothing else
    n = aimed["cluster"]["validators"]
    names = [f"v{i}" for i in range(n)]
    stake = dict(zip(names, aimed["cluster"]["stakes"], strict=True))
    total = sum(stake.values())
    x, (p, z), h = steps[0]["node"], steps[1]["link"], steps[1]["at"]["height"] + 1
    order = steer.proposers(3, names)
    assert p == order[h % n] and x not in (p, order[(h + 1) % n]) and z not in (p, x)
    assert 3 * (total - stake[x] - stake[z]) <= 2 * total  # the others see no polka
    assert 3 * (total - stake[z]) > 2 * total  # X sees one
    assert 3 * (total - stake[x]) > 2 * total  # the others decide round 1 without X
    assert steps[1]["ms"] > ConsensusParams.test_profile().timeout_propose_ms
    assert h <= aimed["cluster"]["clp"]["epoch_length"]  # epoch 0: the genesis proposers


def test_lock_split_recipe_needs_the_key_seed_and_a_fitting_stake() -> None:
    doc = {
        "cluster": {"validators": 4, "clp": {"epoch_length": 20}, "stakes": [1, 1, 1, 97]},
        "run": {"until_epoch": 0},
        "steps": [],
    }
    assert steer._lock_split(1)(doc, random.Random(0), "v0") is None  # v3 alone is a quorum
    doc["cluster"]["stakes"] = [1, 1, 1, 1]
    assert steer._lock_split(None)(doc, random.Random(0), "v0") is None
    assert steer._lock_split(1)(doc, random.Random(0), "v0") is not None


def test_proposers_follow_the_seeded_addresses() -> None:
    """With seed 1 the proposers of heights 1, 6, 11 are v4 (the shipped lock scenario)."""
    order = steer.proposers(1, [f"v{i}" for i in range(5)])
    assert [order[h % 5] for h in (1, 6, 11)] == ["v4"] * 3 and order[12 % 5] == "v0"
