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


def test_stake_in_force_after_an_epoch_end_decides_what_is_owed() -> None:
    """Found by exploring (run 47): v2 is lazy through epoch 0 and slashed to 0 (its
    ejection deferred), v0 is paused from height 18. Epoch 0 still had 300000 of 400000
    connected; from height 21 the committee's voting stake is 300000 and the connected
    v1 and v3 hold exactly 2/3 of it: the stall after height 20 is owed nothing. Judged
    with genesis stakes, it was a liveness failure."""
    net = Net(n=4, clp={"slash_fraction_bps": 10_000})
    lazy_v2 = lambda name, _h: name != "v2"  # noqa: E731
    stall = {21: STALL_MS}
    plain = build(net, 30, delays_ms=stall, answering=lazy_v2)
    assert plain.state.ledger.stakes()[net.addr["v2"]] == 0
    faults = [
        record("pause", time_s(plain, 18) + 0.1, 18, node="v0"),
        record("resume", time_s(plain, 21) - 1.0, 20, node="v0"),
    ]
    r = liveness.check(build(net, 30, delays_ms=stall, answering=lazy_v2, faults=faults).history)
    assert r.verdict == "pass", r.evidence
    owed = "epoch 1: largest connected group ['v1', 'v2', 'v3'] holds 200000 of 300000"
    assert any(e.startswith("pause v0") and owed in e for e in r.evidence), r.evidence
    assert any(
        e.startswith("pause v0") and ".. epoch 0 (" in e and "300000/400000" in e
        for e in r.evidence
    ), r.evidence


def test_an_epoch_end_does_not_excuse_a_connected_committee(net: Net) -> None:
    """The epoch split only changes the stake weighed: everyone connected still owes blocks."""
    r = liveness.check(build(net, 40, delays_ms={21: STALL_MS}).history)
    assert r.verdict == "fail", r.evidence
    assert any("stalled 60.2 s after height 20" in e for e in r.evidence), r.evidence


def test_a_group_that_reaches_itself_only_around_a_one_way_cut_owes_nothing(net: Net) -> None:
    """Found by the lock-split scenario: v1 muted and v4 -> v2 cut leave v0, v2, v3, v4
    strongly connected (400000 of 500000), but §16.7 relays only a polka's prevotes and a
    decided height's precommits: v2 waited for v4's prevote, the rest for v2's precommit.
    Connected means linked both ways (§15.7): the largest such group holds 3 of 5."""
    plain = build(net, 40, delays_ms={STALL_AT: STALL_MS})
    t29, t30 = time_s(plain, STALL_AT - 1), time_s(plain, STALL_AT)
    faults = [
        record("mute", t29 + 0.1, STALL_AT - 1, node="v1"),
        record("cut", t29 + 0.2, STALL_AT - 1, **{"from": "v4", "to": "v2"}),
        record("heal", t30 - 1.0, STALL_AT - 1),
    ]
    r = liveness.check(build(net, 40, delays_ms={STALL_AT: STALL_MS}, faults=faults).history)
    assert r.verdict == "pass", r.evidence
    assert any("holds 300000 of 500000: no progress owed" in e for e in r.evidence), r.evidence


def test_a_one_way_cut_beside_a_linked_quorum_still_owes_blocks(net: Net) -> None:
    plain = build(net, 40, delays_ms={STALL_AT: STALL_MS})
    t29 = time_s(plain, STALL_AT - 1)
    faults = [record("cut", t29 + 0.1, STALL_AT - 1, **{"from": "v4", "to": "v0"})]
    r = liveness.check(build(net, 40, delays_ms={STALL_AT: STALL_MS}, faults=faults).history)
    assert r.verdict == "fail", r.evidence  # v0..v3 (or v1..v4) are linked: 4 of 5
    assert any("400000/500000" in e and "stalled" in e for e in r.evidence), r.evidence
