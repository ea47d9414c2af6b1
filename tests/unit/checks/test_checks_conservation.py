"""Conservation (§10.5): stakes plus burned equal the genesis total; none negative."""

from __future__ import annotations

from typing import Any

from harness.checks import conservation

from .history_builder import Built, doctored


def test_burned_total_off_by_one_fails(isolated: Built) -> None:
    def leak(d: dict[str, Any]) -> None:
        for per_node in d["results"].values():
            per_node["1"]["burned_total"] += 1

    r = conservation.check(doctored(isolated.history, leak))
    assert r.verdict == "fail"
    assert any(
        e.startswith("v0 epoch 1: stakes 490000 + burned 10001 = 500001 != genesis total 500000")
        for e in r.evidence
    ), r.evidence


def test_stake_after_not_matching_the_slash_fails(isolated: Built) -> None:
    v4 = isolated.net.addr["v4"]

    def mint(d: dict[str, Any]) -> None:
        for v in d["results"]["v2"]["1"]["validators"]:
            if v["address"] == v4:
                v["stake_after"] += 500

    r = conservation.check(doctored(isolated.history, mint))
    assert r.verdict == "fail"
    assert "v2 epoch 1: v4 stake_after 90500 != 100000 - 10000" in r.evidence


def test_negative_stake_in_a_final_status_fails(isolated: Built) -> None:
    v3 = isolated.net.addr["v3"]

    def negative(d: dict[str, Any]) -> None:
        d["statuses"]["v1"]["stakes"][v3] = -1
        d["statuses"]["v1"]["burned"] += 100_001

    r = conservation.check(doctored(isolated.history, negative))
    assert r.verdict == "fail"
    assert any(e.startswith("v1 final status: stakes") for e in r.evidence), r.evidence


def test_slash_above_the_stake_fails(quiet: Built) -> None:
    v0 = quiet.net.addr["v0"]

    def overslash(d: dict[str, Any]) -> None:
        for v in d["results"]["v3"]["0"]["validators"]:
            if v["address"] == v0:
                v["slashed"] = 200_000

    r = conservation.check(doctored(quiet.history, overslash))
    assert r.verdict == "fail"
    assert "v3 epoch 0: v0 slashed 200000 of a stake of 100000" in r.evidence


def test_nothing_served_is_unknown(quiet: Built) -> None:
    def empty(d: dict[str, Any]) -> None:
        d["results"] = {}
        d["statuses"] = {}

    r = conservation.check(doctored(quiet.history, empty))
    assert r.verdict == "unknown"
