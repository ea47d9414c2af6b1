"""Accountability (§10.3): the recomputation from the blocks must give the served results,
and every block must hold up (responses per §5, certificates > 2/3 of the stake)."""

from __future__ import annotations

from typing import Any

from harness.checks import accountability
from harness.checks.recompute import evaluate_epoch
from harness.contract.params import ClpParams

from .history_builder import Built, doctored, relink, set_outcome


def test_dropped_slash_fails_against_the_chain(isolated: Built) -> None:
    v4 = isolated.net.addr["v4"]
    drop = doctored(isolated.history, lambda d: set_outcome(d, 1, v4, slashed=0, status="active"))
    r = accountability.check(drop)
    assert r.verdict == "fail"
    assert any(
        "epoch 1: " in e and "v4.slashed: served 0, recomputed 10000" in e for e in r.evidence
    )
    assert any("v4.status: served 'active', recomputed 'slashed'" in e for e in r.evidence)


def test_slash_of_a_validator_with_full_rate_fails(quiet: Built) -> None:
    v1 = quiet.net.addr["v1"]
    slash = doctored(quiet.history, lambda d: set_outcome(d, 0, v1, slashed=5, status="slashed"))
    r = accountability.check(slash)
    assert r.verdict == "fail"
    assert any("v1 slashed 5 but the chain shows rate 10000 bps" in e for e in r.evidence)


def test_forged_response_signature_fails(isolated: Built) -> None:
    def forge(d: dict[str, Any]) -> None:
        for chain in d["chains"].values():
            entry = chain[76]  # height 77 holds the answers to epoch 3's last challenge, 76
            sig = entry["block"]["responses"][0]["signature"]
            entry["block"]["responses"][0]["signature"] = ("0" if sig[0] != "0" else "1") + sig[1:]
            relink(isolated.net, chain, 76)

    r = accountability.check(doctored(isolated.history, forge))
    assert r.verdict == "fail"
    assert any("height 77: includes response" in e and "BAD_SIGNATURE" in e for e in r.evidence)


def test_duplicate_response_in_a_block_fails(isolated: Built) -> None:
    def dup(d: dict[str, Any]) -> None:
        for chain in d["chains"].values():
            rs = chain[76]["block"]["responses"]
            rs.insert(0, dict(rs[0]))
            relink(isolated.net, chain, 76)

    r = accountability.check(doctored(isolated.history, dup))
    assert r.verdict == "fail"
    assert any("height 77: includes response" in e and "DUPLICATE" in e for e in r.evidence)


def test_certificate_without_two_thirds_fails(isolated: Built) -> None:
    def thin(d: dict[str, Any]) -> None:
        for chain in d["chains"].values():
            chain[29]["certificate"]["votes"] = chain[29]["certificate"]["votes"][:3]

    r = accountability.check(doctored(isolated.history, thin))
    assert r.verdict == "fail"
    assert any("height 30: certificate signers hold 300000 of 500000" in e for e in r.evidence)


def test_forged_vote_signature_fails(quiet: Built) -> None:
    def forge(d: dict[str, Any]) -> None:
        vote = d["chains"]["v0"][9]["certificate"]["votes"][1]
        vote["signature"] = "00" * 64

    r = accountability.check(doctored(quiet.history, forge))
    assert r.verdict == "fail"
    name = quiet.net.name_of[quiet.history.chains["v0"][9]["certificate"]["votes"][1]["validator"]]
    assert f"v0's chain, height 10: certificate vote of {name} has a bad signature" in r.evidence


def test_no_served_result_is_unknown(quiet: Built) -> None:
    def none(d: dict[str, Any]) -> None:
        d["results"] = {n: {} for n in d["results"]}

    r = accountability.check(doctored(quiet.history, none))
    assert r.verdict == "unknown"


def test_systemic_epoch_slashes_nobody() -> None:
    p = ClpParams.from_dict(
        {"epoch_length": 20, "challenge_interval": 2, "response_window": 4, "min_stake": 0}
    )
    committee = {"a" * 40: 100, "b" * 40: 100, "c" * 40: 50}  # a holds 40% of the stake
    counters = {"a" * 40: (8, 0), "b" * 40: (8, 8), "c" * 40: (8, 8)}
    r = evaluate_epoch(p, 3, committee, counters, {"a" * 40: 40}, burned_before=7)
    assert r["systemic"] is True and r["slashed_total"] == 0 and r["ejected"] == []
    assert r["burned_total"] == 7
    r = evaluate_epoch(p, 3, {**committee, "d" * 40: 1000}, {**counters, "d" * 40: (8, 8)}, {}, 0)
    assert r["systemic"] is False
    assert [v["slashed"] for v in r["validators"]] == [1, 0, 0, 0]  # 1% of 100
