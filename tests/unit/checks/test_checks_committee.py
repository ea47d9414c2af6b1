"""Committee safety (§10.6): the floor holds; ejected validators neither vote nor propose."""

from __future__ import annotations

from typing import Any

from harness.checks import committee

from .history_builder import Built, doctored, relink


def test_isolated_history_names_the_ejection(isolated: Built) -> None:
    r = committee.check(isolated.history)
    assert r.verdict == "pass", r.evidence
    assert any("v4 after epoch 2" in e and "none of them" in e for e in r.evidence)


def test_vote_of_an_ejected_validator_fails(isolated: Built) -> None:
    net = isolated.net
    v4 = net.addr["v4"]

    def vote(d: dict[str, Any]) -> None:
        entry = d["chains"]["v0"][69]  # height 70, epoch 3: v4 left after epoch 2
        block_hash = bytes.fromhex(entry["block"]["hash"])
        entry["certificate"]["votes"].append(net.precommit(v4, 70, block_hash))

    r = committee.check(doctored(isolated.history, vote))
    assert r.verdict == "fail"
    assert (
        "v4 (ejected at the close of epoch 2) signed a vote in the certificate of block 70 "
        "of epoch 3 (v0's copy)" in r.evidence
    )


def test_block_proposed_by_an_ejected_validator_fails(isolated: Built) -> None:
    net = isolated.net
    v4 = net.addr["v4"]

    def propose(d: dict[str, Any]) -> None:
        chain = d["chains"]["v1"]
        chain[-1]["block"]["proposer"] = v4
        relink(net, chain, len(chain) - 1)

    r = committee.check(doctored(isolated.history, propose))
    assert r.verdict == "fail"
    assert any("v4 (ejected at the close of epoch 2) proposed block 80" in e for e in r.evidence)


def test_committee_under_the_floor_fails(isolated: Built) -> None:
    net = isolated.net
    gone = {net.addr["v3"], net.addr["v4"]}

    def shrink(d: dict[str, Any]) -> None:
        for per_node in d["results"].values():
            r = per_node["2"]
            r["next_committee"] = [a for a in r["next_committee"] if a not in gone]
            r["ejected"] = sorted(gone)

    r = committee.check(doctored(isolated.history, shrink))
    assert r.verdict == "fail"
    assert any(
        "committee of epoch 3 has 3 members (below min_committee_size 4)" in e for e in r.evidence
    ), r.evidence
    assert "epoch 2 ejected 2 validators, above the cap 1" in r.evidence
