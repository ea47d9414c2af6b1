"""Agreement (§10.1) fails on a fork or a tampered block, and is undecided with one chain."""

from __future__ import annotations

from typing import Any

from harness.checks import agreement

from .history_builder import Built, doctored, reseal


def test_fork_of_one_node_fails_naming_height_and_nodes(isolated: Built) -> None:
    def fork(d: dict[str, Any]) -> None:
        entry = d["chains"]["v3"][29]
        entry["block"]["time_ms"] += 1
        reseal(isolated.net, entry)

    r = agreement.check(doctored(isolated.history, fork))
    assert r.verdict == "fail"
    assert any("fork at height 30" in e and "v3 have" in e for e in r.evidence), r.evidence
    # v3's own chain no longer links at 31 either
    assert any("v3 height 31: parent_hash" in e for e in r.evidence), r.evidence


def test_block_content_not_matching_its_hash_fails(isolated: Built) -> None:
    def tamper(d: dict[str, Any]) -> None:
        assert d["chains"]["v2"][10]["block"]["responses"]
        d["chains"]["v2"][10]["block"]["responses"] = []

    r = agreement.check(doctored(isolated.history, tamper))
    assert r.verdict == "fail"
    assert "v2 height 11: block content does not hash to its hash" in r.evidence


def test_lagging_node_is_a_prefix_and_passes(isolated: Built) -> None:
    def lag(d: dict[str, Any]) -> None:
        d["chains"]["v4"] = d["chains"]["v4"][:50]

    r = agreement.check(doctored(isolated.history, lag))
    assert r.verdict == "pass", r.evidence
    assert "v4=50" in r.evidence[0]


def test_single_readable_chain_is_unknown(quiet: Built) -> None:
    def only_v0(d: dict[str, Any]) -> None:
        d["chains"] = {"v0": d["chains"]["v0"]}
        d["unreachable"] = {n: "ConnectError" for n in ("v1", "v2", "v3", "v4")}

    r = agreement.check(doctored(quiet.history, only_v0))
    assert r.verdict == "unknown"
    assert any("nothing to compare" in e for e in r.evidence)
