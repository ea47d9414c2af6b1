"""The vote checks (§15.8 equivocation, §15.9 lock discipline) on doctored vote histories."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from clp_node.consensus.types import VoteType, vote_sign_bytes
from harness.checks import equivocation, lock_discipline
from harness.checks.history import History
from harness.checks.votes import NOT_SERVED, NodeVotes, SignedVote

from .history_builder import Built, Net, build, record, time_s

A, B = "aa" * 32, "bb" * 32
HEIGHTS = 12


@pytest.fixture(scope="module")
def chain(net: Net) -> Built:
    return build(net, HEIGHTS)


def vote(net: Net, name: str, kind: str, height: int, round_: int, value: str | None) -> dict:
    address = net.addr[name]
    block = None if value is None else bytes.fromhex(value)
    msg = vote_sign_bytes(net.chain_id, VoteType(kind), height, round_, block)
    return {
        "type": kind,
        "height": height,
        "round": round_,
        "block_hash": value,
        "validator": address,
        "signature": net.sign(address, msg).hex(),
    }


def honest(built: Built) -> list[dict[str, Any]]:
    """Every validator's prevote and precommit for every block, at round 0."""
    net = built.net
    return [
        vote(net, name, kind, e["height"], 0, e["block"]["hash"])
        for e in built.entries
        for name in net.names
        for kind in ("prevote", "precommit")
    ]


def with_votes(
    built: Built,
    extra: dict[str, list[dict[str, Any]]] | None = None,
    faults: list[dict[str, Any]] | None = None,
    covered: tuple[int, int] = (1, HEIGHTS + 1),
    served: bool = True,
    stuck: tuple[str, int] | None = None,
) -> History:
    """``built``'s history where every node served the honest votes plus its ``extra``;
    ``stuck`` = (name, h): that validator cast no vote from height h on (cut off below)."""
    base = honest(built)
    if stuck is not None:
        address = built.net.addr[stuck[0]]
        base = [v for v in base if v["validator"] != address or v["height"] < stuck[1]]
    nodes = {
        n: NodeVotes(
            {SignedVote.from_json(v) for v in [*base, *(extra or {}).get(n, [])]},
            [covered],
        )
        if served
        else NodeVotes(problem=NOT_SERVED)
        for n in built.net.names
    }
    history = built.history
    if faults is not None:
        history = build(built.net, HEIGHTS, faults=faults).history
    return History.from_json({**dataclasses.replace(history, votes=nodes).to_json()})


def test_honest_votes_pass_both_checks(chain: Built) -> None:
    h = with_votes(chain)
    for check in (equivocation.check, lock_discipline.check):
        r = check(h)
        assert r.verdict == "pass", r.evidence


def test_two_prevotes_of_one_step_fail_naming_the_validator_votes_and_nodes(
    chain: Built,
) -> None:
    net = chain.net
    second = vote(net, "v3", "prevote", 5, 0, None)
    r = equivocation.check(with_votes(chain, {"v1": [second]}))
    assert r.verdict == "fail", r.evidence
    (line,) = [e for e in r.evidence if net.addr["v3"] in e]
    assert line.startswith("v3 (") and "2 different prevotes at height 5 round 0" in line
    assert second["signature"][:12] in line and "held by v1" in line
    assert "held by v0, v1, v2, v3, v4" in line  # the first, held by everyone


def test_a_conflicting_vote_with_a_bad_signature_counts_for_nothing(chain: Built) -> None:
    forged = {**vote(chain.net, "v3", "prevote", 5, 0, None), "signature": "00" * 64}
    r = equivocation.check(with_votes(chain, {"v1": [forged]}))
    assert r.verdict == "pass", r.evidence
    assert any("1 with a bad signature ignored" in e for e in r.evidence)


def _double_sign_at(built: Built, height: int) -> list[dict[str, Any]]:
    return [record("double_sign", time_s(built, height) + 0.1, height, node="v2")]


def test_an_injected_double_sign_is_expected(chain: Built) -> None:
    second = vote(chain.net, "v2", "prevote", 6, 0, None)
    h = with_votes(chain, {"v2": [second], "v0": [second]}, faults=_double_sign_at(chain, 5))
    r = equivocation.check(h)
    assert r.verdict == "pass", r.evidence
    assert any(e.startswith("v2: expected: double_sign at height 5") for e in r.evidence)


def test_an_equivocation_before_its_fault_is_not_excused(chain: Built) -> None:
    second = vote(chain.net, "v2", "prevote", 1, 0, None)
    h = with_votes(chain, {"v2": [second]}, faults=_double_sign_at(chain, 9))
    r = equivocation.check(h)
    assert r.verdict == "fail"
    assert any(e.startswith("v2 (") and "height 1 round 0" in e for e in r.evidence)
    assert any("double_sign fault at height 9" in e and "did nothing" in e for e in r.evidence)


def test_a_double_sign_that_left_no_trace_fails_unless_votes_are_missing(chain: Built) -> None:
    faults = _double_sign_at(chain, 5)
    r = equivocation.check(with_votes(chain, faults=faults))
    assert r.verdict == "fail"
    assert any("v2: a double_sign fault at height 5" in e for e in r.evidence), r.evidence
    r = equivocation.check(with_votes(chain, faults=faults, covered=(8, HEIGHTS)))
    assert r.verdict == "unknown", r.evidence
    assert any("were not read completely" in e for e in r.evidence)


def test_a_double_sign_on_a_node_that_cast_no_prevote_after_it_is_unknown(chain: Built) -> None:
    """Cut off below the chain, a node's rounds stall before its next prevote (its timeouts
    wait for a quorum): the hook had nothing to double, which is no evidence either way."""
    h = with_votes(chain, faults=_double_sign_at(chain, 7), stuck=("v2", 4))
    r = equivocation.check(h)
    assert r.verdict == "unknown", r.evidence
    assert any("v2 cast no prevote at heights 5..9" in e for e in r.evidence), r.evidence


@pytest.mark.parametrize("check", [equivocation.check, lock_discipline.check])
def test_without_served_votes_the_checks_are_not_applicable(chain: Built, check: Any) -> None:
    r = check(with_votes(chain, served=False))
    assert r.verdict == "unknown" and r.evidence[0].startswith("not applicable: no node serves")
    old = chain.history.to_json()
    del old["votes"]  # a history saved before votes were collected
    r = check(History.from_json(old))
    assert r.verdict == "unknown" and "saved before" in r.evidence[0]


LIVE = HEIGHTS + 1  # the height being decided when the votes were read


def _relock(net: Net, polka_round: int | None) -> dict[str, list[dict[str, Any]]]:
    """v1 precommits A at LIVE/1 and prevotes B at LIVE/3; a polka for B at ``polka_round``."""
    votes = [vote(net, "v1", "precommit", LIVE, 1, A), vote(net, "v1", "prevote", LIVE, 3, B)]
    if polka_round is not None:
        votes += [vote(net, n, "prevote", LIVE, polka_round, B) for n in ("v0", "v2", "v3", "v4")]
    return {"v1": votes}


def test_a_prevote_against_the_lock_without_a_polka_fails_naming_the_evidence(
    chain: Built,
) -> None:
    r = lock_discipline.check(with_votes(chain, _relock(chain.net, None)))
    assert r.verdict == "fail", r.evidence
    line = r.evidence[0]
    assert line.startswith("v1 precommitted aaaaaaaaaaaa at 13/1, then prevoted bbbbbbbbbbbb")
    assert "at 13/3" in line and "held by v1" in line and "rounds 1..2" in line


@pytest.mark.parametrize("polka_round", [1, 2])
def test_a_newer_polka_releases_the_lock(chain: Built, polka_round: int) -> None:
    r = lock_discipline.check(with_votes(chain, _relock(chain.net, polka_round)))
    assert r.verdict == "pass", r.evidence


@pytest.mark.parametrize("polka_round", [0, 3])
def test_a_polka_outside_the_rounds_between_does_not(chain: Built, polka_round: int) -> None:
    r = lock_discipline.check(with_votes(chain, _relock(chain.net, polka_round)))
    assert r.verdict == "fail", r.evidence


def test_lock_discipline_is_unknown_when_the_validators_votes_are_incomplete(
    chain: Built,
) -> None:
    r = lock_discipline.check(with_votes(chain, _relock(chain.net, None), covered=(9, HEIGHTS)))
    assert r.verdict == "unknown", r.evidence
    assert "v1's own votes of height 13 were not read completely" in r.evidence[0]


def test_votes_survive_a_save_and_an_old_history_still_loads(chain: Built) -> None:
    h = with_votes(chain, {"v1": [vote(chain.net, "v3", "prevote", 5, 0, None)]})
    again = History.from_json(h.to_json())
    assert again.votes == h.votes and again.votes is not None
    assert len(again.votes["v1"].votes) == len(again.votes["v0"].votes) + 1
    old = chain.history.to_json()
    del old["votes"]
    assert History.from_json(old).votes is None


@pytest.mark.parametrize("check", [equivocation.check, lock_discipline.check])
def test_a_node_whose_votes_were_never_read_is_less_evidence_none_read_is_unknown(
    chain: Built, check: Any
) -> None:
    h = with_votes(chain)
    assert h.votes is not None
    h.votes["v3"] = NodeVotes(problem="ConnectError: refused")
    r = check(h)
    assert r.verdict == "pass" and "v3: its votes were never read (ConnectError: refused)" in (
        r.evidence
    )
    for n in h.votes:
        h.votes[n] = NodeVotes(problem="ConnectError: refused")
    r = check(h)
    assert r.verdict == "unknown" and r.evidence[0].startswith("not applicable: no node's votes")


def test_a_fault_injected_again_before_the_hook_fired_needs_no_second_equivocation(
    chain: Built,
) -> None:
    faults = [*_double_sign_at(chain, 5), *_double_sign_at(chain, 6)]
    second = vote(chain.net, "v2", "prevote", 6, 0, None)
    r = equivocation.check(with_votes(chain, {"v2": [second]}, faults=faults))
    assert r.verdict == "pass", r.evidence
    assert any(
        "v2: expected: double_sign at height 6 (the hook was still on" in e for e in r.evidence
    )


def test_a_double_signs_conflicting_prevote_is_left_to_the_equivocation_check(
    chain: Built,
) -> None:
    """v1 double-signs at LIVE/3 while locked: its second prevote is the fault's, not a
    lock violation; a lock violation in a step it did not double-sign still fails."""
    extra = _relock(chain.net, None)
    extra["v1"].append(vote(chain.net, "v1", "prevote", LIVE, 3, None))
    faults = [record("double_sign", time_s(chain, HEIGHTS) + 0.1, HEIGHTS, node="v1")]
    r = lock_discipline.check(with_votes(chain, extra, faults=faults))
    assert r.verdict == "pass", r.evidence
    extra["v1"].append(vote(chain.net, "v1", "prevote", LIVE, 4, B))
    r = lock_discipline.check(with_votes(chain, extra, faults=faults))
    assert r.verdict == "fail" and "at 13/4" in r.evidence[0], r.evidence


def test_a_double_sign_lost_with_its_process_is_unknown(chain: Built) -> None:
    at = time_s(chain, 5)
    faults = [
        record("double_sign", at + 0.1, 5, node="v2"),
        record("kill", at + 0.2, 5, node="v2"),
        record("restart", at + 0.3, 5, node="v2"),
    ]
    r = equivocation.check(with_votes(chain, faults=faults))
    assert r.verdict == "unknown", r.evidence
    assert "v2 was killed or paused later" in r.evidence[0]


def test_a_double_sign_with_no_vote_left_after_it_is_unknown_not_a_failure() -> None:
    """Explore seed 1, run 164: v2, lazy through epoch 0 (E = 5), got the hook at height 5
    after its last prevote there and was ejected at that epoch's end: no vote at 6..7."""
    member = {5: True, 6: False, 7: False}

    def voting(validator: str, height: int) -> bool | None:
        return member.get(height)

    assert equivocation.no_vote_after(voting, "v2", 5, 7)
    member[7] = True  # a vote left at 7: the hook must fire there
    assert not equivocation.no_vote_after(voting, "v2", 5, 7)
    member[7] = None  # the chain never reached 7: not surely without a vote
    assert not equivocation.no_vote_after(voting, "v2", 5, 7)
    assert not equivocation.no_vote_after(voting, "v2", 7, 7)  # no height after it
