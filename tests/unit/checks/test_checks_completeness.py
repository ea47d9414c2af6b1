"""Completeness (§10.4), fault-aware in both directions."""

from __future__ import annotations

from typing import Any

from harness.checks import completeness

from .conftest import CUT_FROM, CUT_TO
from .history_builder import Built, Net, build, doctored, offline, record, set_outcome, time_s


def test_isolated_validator_must_be_slashed_and_ejected(isolated: Built) -> None:
    r = completeness.check(isolated.history)
    assert r.verdict == "pass", r.evidence
    assert any(e.startswith("epoch 1: v4 cut off for 8/8 challenges") for e in r.evidence)
    assert any(e.startswith("epoch 2: v4 ejected after") for e in r.evidence), r.evidence


def test_dropped_slash_fails(isolated: Built) -> None:
    v4 = isolated.net.addr["v4"]
    h = doctored(isolated.history, lambda d: set_outcome(d, 1, v4, status="active", slashed=0))
    r = completeness.check(h)
    assert r.verdict == "fail"
    assert any(
        "epoch 1: v4 was cut off for 8 of its 8 challenges" in e and "'active', not slashed" in e
        for e in r.evidence
    ), r.evidence


def test_missing_ejection_fails(isolated: Built) -> None:
    v4 = isolated.net.addr["v4"]

    def keep(d: dict[str, Any]) -> None:
        set_outcome(d, 2, v4, status="slashed")
        for per_node in d["results"].values():
            per_node["2"]["ejected"] = []

    r = completeness.check(doctored(isolated.history, keep))
    assert r.verdict == "fail"
    assert any(
        "epoch 2: v4 surely missed its last" in e and "neither ejected nor deferred" in e
        for e in r.evidence
    ), r.evidence


def test_slash_without_a_recorded_fault_fails(net: Net) -> None:
    """The chain shows v4 missing everything (so the slash is accountable), the log is empty."""
    built = build(net, 40, online=offline("v4", CUT_FROM, 40))
    r = completeness.check(built.history)
    assert r.verdict == "fail"
    assert any(
        "epoch 1: v4 was slashed" in e and "no recorded fault touched it during heights 21..40" in e
        for e in r.evidence
    ), r.evidence


def test_fault_on_another_node_does_not_explain_a_slash(net: Net) -> None:
    plain = build(net, 40, online=offline("v4", CUT_FROM, 40))
    faults = [record("isolate", time_s(plain, 20) + 0.15, 20, node="v3")]
    built = build(net, 40, online=offline("v4", CUT_FROM, 40), faults=faults)
    r = completeness.check(built.history)
    assert r.verdict == "fail"
    assert any("v4 was slashed" in e for e in r.evidence)
    # and v3, logged as isolated, went unpunished: the other direction fails too
    assert any("v3 was cut off for 8 of its 8" in e for e in r.evidence)


def test_latency_only_is_unknown(net: Net) -> None:
    """A toxic may have slowed v4 enough to miss its windows, or not: the log cannot say."""
    online = offline("v4", CUT_FROM, 40)
    plain = build(net, 40, online=online)
    faults = [record("latency", time_s(plain, 20) + 0.15, 20, node="v4", ms=900)]
    r = completeness.check(build(net, 40, online=online, faults=faults).history)
    assert r.verdict == "unknown", r.evidence
    assert any("may have slowed it" in e and "a toxic on its links" in e for e in r.evidence)


def test_fault_window_covering_only_part_of_the_misses_is_unknown(net: Net) -> None:
    """The log shows v4 isolated for 2 blocks early in epoch 0 (its resync reaching into
    epoch 1); the chain shows it missing all of epoch 1: mostly outside what the log explains."""
    online = offline("v4", CUT_FROM, 40)
    plain = build(net, 40, online=online)
    faults = [
        record("isolate", time_s(plain, 2) + 0.15, 2, node="v4"),
        record("heal", time_s(plain, 3) + 0.15, 3),
    ]
    r = completeness.check(build(net, 40, online=online, faults=faults).history)
    assert r.verdict == "unknown", r.evidence
    assert any("lie mostly outside the windows" in e for e in r.evidence), r.evidence


def test_systemic_epoch_excuses_sure_failures() -> None:
    """Two lazy validators out of five (40% of the stake): systemic, nobody is slashed."""
    net = Net(seed="systemic")
    silent = offline("v3", CUT_FROM, 40)

    def answering(name: str, h: int) -> bool:
        return silent(name, h) and offline("v4", CUT_FROM, 40)(name, h)

    plain = build(net, 40, answering=answering)
    t = time_s(plain, 20) + 0.15
    faults = [record("lazy", t, 20, node="v3"), record("lazy", t, 20, node="v4")]
    built = build(net, 40, answering=answering, faults=faults)
    assert built.history.results["v0"][1]["systemic"] is True
    r = completeness.check(built.history)
    assert r.verdict == "pass", r.evidence
    assert "epoch 1: v3 surely failed but the epoch was systemic" in r.evidence
    assert "epoch 1: v4 surely failed but the epoch was systemic" in r.evidence


def test_deferred_ejection_must_be_the_cap(net: Net) -> None:
    """v3 and v4 (small stakes) both reach the streak; the cap of 1 ejects one, defers one."""
    small = Net(stakes=[300_000, 300_000, 300_000, 50_000, 50_000], seed="cap")
    cut = offline("v3", CUT_FROM, CUT_TO)

    def online(name: str, h: int) -> bool:
        return cut(name, h) and offline("v4", CUT_FROM, CUT_TO)(name, h)

    plain = build(small, 70, online=online)
    faults = [
        record("isolate", time_s(plain, 20) + 0.1, 20, node="v3"),
        record("isolate", time_s(plain, 20) + 0.15, 20, node="v4"),
        record("heal", time_s(plain, CUT_TO) + 0.15, CUT_TO),
    ]
    built = build(small, 70, online=online, faults=faults)
    result = built.history.results["v0"][2]
    statuses = sorted(v["status"] for v in result["validators"])
    assert statuses.count("ejected") == 1 and statuses.count("ejection_deferred") == 1
    r = completeness.check(built.history)
    assert r.verdict == "pass", r.evidence
    assert any("deferred by the cap 1" in e for e in r.evidence)

    def no_ejection(d: dict[str, Any]) -> None:
        for per_node in d["results"].values():
            per_node["2"]["ejected"] = []

    r = completeness.check(doctored(built.history, no_ejection))
    assert r.verdict == "fail"
    assert any("deferred although only 0 of the cap 1 were ejected" in e for e in r.evidence)


def test_no_evaluated_epoch_is_unknown(net: Net) -> None:
    r = completeness.check(build(net, 15).history)
    assert r.verdict == "unknown"
