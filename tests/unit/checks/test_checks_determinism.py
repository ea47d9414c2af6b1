"""Determinism (§10.2): one node serving another result, or none, fails."""

from __future__ import annotations

from typing import Any

from harness.checks import determinism

from .history_builder import Built, doctored


def test_one_node_serving_a_different_result_fails(isolated: Built) -> None:
    def change(d: dict[str, Any]) -> None:
        for v in d["results"]["v2"]["1"]["validators"]:
            if v["slashed"]:
                v["slashed"] = 0

    r = determinism.check(doctored(isolated.history, change))
    assert r.verdict == "fail"
    assert any(
        e.startswith("epoch 1: v2 serve") and "v0, v1, v3, v4" in e and ".slashed: 10000 vs 0" in e
        for e in r.evidence
    ), r.evidence


def test_node_past_an_epoch_without_its_result_fails(isolated: Built) -> None:
    def drop(d: dict[str, Any]) -> None:
        del d["results"]["v1"]["2"]

    r = determinism.check(doctored(isolated.history, drop))
    assert r.verdict == "fail"
    assert any("epoch 2: v1 finalized its last block 60" in e for e in r.evidence), r.evidence


def test_results_from_a_single_node_are_unknown(quiet: Built) -> None:
    def one(d: dict[str, Any]) -> None:
        d["results"] = {"v0": d["results"]["v0"]}
        d["chains"] = {"v0": d["chains"]["v0"]}

    r = determinism.check(doctored(quiet.history, one))
    assert r.verdict == "unknown"


def test_json_diff_names_paths() -> None:
    assert determinism.json_diff({"a": [1, {"b": 2}]}, {"a": [1, {"b": 3}]}) == ["a[1].b: 2 vs 3"]
    assert determinism.json_diff({"x": [1]}, {"x": [1, 2]}) == ["x: [1] vs [1, 2]"]
