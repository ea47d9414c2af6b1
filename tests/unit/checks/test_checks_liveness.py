"""Liveness (§10.7): a connected committee must keep finalizing; a cut one owes nothing."""

from __future__ import annotations

from harness.checks import liveness

from .history_builder import Net, build, record, time_s

STALL_AT = 30
STALL_MS = 60_000


def test_stall_while_everyone_is_connected_fails(net: Net) -> None:
    r = liveness.check(build(net, 40, delays_ms={STALL_AT: STALL_MS}).history)
    assert r.verdict == "fail"
    assert any(
        e.startswith("start..") and "the chain stalled 60.2 s after height 29" in e
        for e in r.evidence
    ), r.evidence


def test_stall_while_no_group_holds_two_thirds_passes(net: Net) -> None:
    plain = build(net, 40, delays_ms={STALL_AT: STALL_MS})
    t29, t30 = time_s(plain, STALL_AT - 1), time_s(plain, STALL_AT)
    faults = [
        record("partition", t29 + 0.1, STALL_AT - 1, groups=[["v0", "v1"], ["v2", "v3", "v4"]]),
        record("heal", t30 - 1.0, STALL_AT - 1),
    ]
    r = liveness.check(build(net, 40, delays_ms={STALL_AT: STALL_MS}, faults=faults).history)
    assert r.verdict == "pass", r.evidence
    owed = "largest connected group ['v2', 'v3', 'v4'] holds 300000 of 500000: no progress owed"
    assert any(owed in e for e in r.evidence), r.evidence


def test_stall_under_a_toxic_is_unknown(net: Net) -> None:
    plain = build(net, 40, delays_ms={STALL_AT: STALL_MS})
    faults = [record("latency", time_s(plain, 1) - 0.5, 0, node="v0", ms=50)]
    r = liveness.check(build(net, 40, delays_ms={STALL_AT: STALL_MS}, faults=faults).history)
    assert r.verdict == "unknown", r.evidence
    assert any("not decidable" in e for e in r.evidence)


def test_too_short_a_history_is_unknown(net: Net) -> None:
    assert liveness.check(build(net, 1).history).verdict == "unknown"


def test_a_toxic_left_by_a_links_only_heal_keeps_liveness_undecided(net: Net) -> None:
    """Regression: ``heal`` re-enables links only; the checker used to drop the toxics too
    and then judged the chain crawling under them a liveness failure."""
    plain = build(net, 40, delays_ms={STALL_AT: STALL_MS})
    t1, t2 = time_s(plain, 1), time_s(plain, 2)
    faults = [
        record("isolate", t1 - 0.5, 0, node="v4"),
        record("latency", t1 - 0.4, 0, node="v0", ms=3000),
        record("heal", t2 + 0.1, 2),
    ]
    r = liveness.check(build(net, 40, delays_ms={STALL_AT: STALL_MS}, faults=faults).history)
    assert r.verdict == "unknown", r.evidence
    assert not any("stalled" in e for e in r.evidence), r.evidence
    assert any(e.startswith("heal") and "not decidable" in e for e in r.evidence), r.evidence


def test_after_clear_the_stall_is_judged(net: Net) -> None:
    """``clear`` removes the toxics: from then on a stall of a connected chain is a failure."""
    plain = build(net, 40, delays_ms={STALL_AT: STALL_MS})
    t1, t2 = time_s(plain, 1), time_s(plain, 2)
    faults = [
        record("latency", t1 - 0.4, 0, node="v0", ms=3000),
        record("clear", t2 + 0.1, 2),
    ]
    r = liveness.check(build(net, 40, delays_ms={STALL_AT: STALL_MS}, faults=faults).history)
    assert r.verdict == "fail", r.evidence
    assert any(e.startswith("clear") and "stalled" in e for e in r.evidence), r.evidence
