"""TendermintCore driven message by message: each rule of Algorithm 1 and each defence."""

from __future__ import annotations

import pytest
from consensus_helpers import (
    CHAIN,
    TIMEOUTS,
    block,
    broadcasts,
    decisions,
    hash_of,
    is_valid,
    make_core,
    make_keys,
    make_set,
    precommit,
    prevote,
    proposal,
    start,
    vote,
    votes_of,
)

from clp_node.chain.keys import ValidatorKey
from clp_node.consensus.core import (
    Action,
    Broadcast,
    ScheduleTimeout,
    Step,
    TendermintCore,
    TimeoutConfig,
    TimeoutKind,
)
from clp_node.consensus.types import CommitCertificate, Proposal, ValidatorSet, Vote, VoteType

# Four equal validators, sorted by address. At height 1 the proposer of round r is
# K[(1 + r) % 4]; the node under test is K[0] (it proposes in round 3).
K = make_keys(4)
VS = make_set(K)
A = block("A")
B = block("B")


def me() -> TendermintCore:
    core = make_core(K[0])
    start(core, VS)
    return core


def feed(core: TendermintCore, *messages: Proposal | Vote) -> list[Action]:
    out: list[Action] = []
    for m in messages:
        out.extend(core.on_vote(m) if isinstance(m, Vote) else core.on_proposal(m))
    return out


def test_rotation_assumption_of_this_module() -> None:
    assert [VS.proposer(1, r) for r in range(4)] == [
        K[1].address,
        K[2].address,
        K[3].address,
        K[0].address,
    ]


# --- the happy path --------------------------------------------------------------------------


def test_non_proposer_round_decides_with_valid_certificate() -> None:
    core = make_core(K[0])
    acts = start(core, VS)
    assert acts == [ScheduleTimeout(TimeoutKind.PROPOSE, 1, 0, TIMEOUTS.propose_ms)]
    acts = core.on_proposal(proposal(K[1], 1, 0, A))
    assert votes_of(acts, VoteType.PREVOTE) == [prevote(K[0], 1, 0, A)]
    assert core.step is Step.PREVOTE
    assert votes_of(core.on_vote(prevote(K[1], 1, 0, A)), VoteType.PRECOMMIT) == []
    acts = core.on_vote(prevote(K[2], 1, 0, A))
    assert votes_of(acts, VoteType.PRECOMMIT) == [precommit(K[0], 1, 0, A)]
    assert core.status().locked_round == 0 and core.status().valid_round == 0
    assert decisions(core.on_vote(precommit(K[1], 1, 0, A))) == []
    (d,) = decisions(core.on_vote(precommit(K[3], 1, 0, A)))
    assert (d.height, d.round, d.block_hash, d.block) == (1, 0, hash_of(A), A)
    d.certificate.verify(CHAIN, VS)
    assert d.certificate.signers == tuple(sorted((K[0].address, K[1].address, K[3].address)))
    assert core.status().step is Step.COMMIT and core.decision == d


def test_proposer_proposes_get_value_and_prevotes_it() -> None:
    core = make_core(K[1])
    acts = start(core, VS)
    p, v = broadcasts(acts)
    assert isinstance(p, Proposal) and isinstance(v, Vote)
    assert (p.height, p.round, p.pol_round, p.block) == (1, 0, -1, block("own-1-0", 1))
    assert p.verify(CHAIN, K[1].public_key)
    assert v == prevote(K[1], 1, 0, p.block)
    assert not [a for a in acts if isinstance(a, ScheduleTimeout)]


def test_timeouts_grow_by_delta_per_round() -> None:
    cfg = TimeoutConfig(propose_ms=300, prevote_ms=150, precommit_ms=120, delta_ms=75)
    assert cfg.delay_ms(TimeoutKind.PROPOSE, 0) == 300
    assert cfg.delay_ms(TimeoutKind.PREVOTE, 2) == 300
    assert cfg.delay_ms(TimeoutKind.PRECOMMIT, 4) == 420
    with pytest.raises(ValueError):
        TimeoutConfig(propose_ms=0, prevote_ms=1, precommit_ms=1, delta_ms=1)
    with pytest.raises(ValueError):
        TimeoutConfig(propose_ms=1, prevote_ms=-1, precommit_ms=1, delta_ms=1)
    assert TimeoutConfig.test_profile().commit_ms == 200


def test_propose_timeout_prevotes_nil_and_stale_timeouts_do_nothing() -> None:
    core = me()
    assert core.on_timeout(TimeoutKind.PROPOSE, 1, 5) == []
    assert core.on_timeout(TimeoutKind.PROPOSE, 2, 0) == []
    acts = core.on_timeout(TimeoutKind.PROPOSE, 1, 0)
    assert votes_of(acts, VoteType.PREVOTE) == [prevote(K[0], 1, 0, None)]
    assert core.on_timeout(TimeoutKind.PROPOSE, 1, 0) == []  # already past propose


def test_prevote_timeout_after_any_quorum_then_precommit_nil() -> None:
    core = me()
    feed(core, proposal(K[1], 1, 0, A))
    timeout = ScheduleTimeout(TimeoutKind.PREVOTE, 1, 0, TIMEOUTS.prevote_ms)
    assert timeout not in feed(core, prevote(K[1], 1, 0, None))  # 2 of 4: no quorum yet
    assert timeout in feed(core, prevote(K[2], 1, 0, B))
    assert core.step is Step.PREVOTE
    acts = core.on_timeout(TimeoutKind.PREVOTE, 1, 0)
    assert votes_of(acts, VoteType.PRECOMMIT) == [precommit(K[0], 1, 0, None)]


def test_nil_polka_precommits_nil_and_precommit_quorum_moves_round() -> None:
    core = me()
    feed(core, proposal(K[1], 1, 0, A))
    acts = feed(core, *(prevote(k, 1, 0, None) for k in K[1:]))
    assert votes_of([a for a in acts if isinstance(a, Broadcast)], VoteType.PRECOMMIT) == [
        precommit(K[0], 1, 0, None)
    ]
    acts = feed(core, precommit(K[1], 1, 0, None), precommit(K[2], 1, 0, A))
    assert ScheduleTimeout(TimeoutKind.PRECOMMIT, 1, 0, TIMEOUTS.precommit_ms) in acts
    acts = core.on_timeout(TimeoutKind.PRECOMMIT, 1, 0)
    assert core.round == 1 and core.step is Step.PROPOSE
    assert (
        ScheduleTimeout(TimeoutKind.PROPOSE, 1, 1, TIMEOUTS.propose_ms + TIMEOUTS.delta_ms) in acts
    )


def test_invalid_block_gets_nil_prevote() -> None:
    core = me()
    acts = core.on_proposal(proposal(K[1], 1, 0, block("bad", valid=False)))
    assert votes_of(acts, VoteType.PREVOTE) == [prevote(K[0], 1, 0, None)]


def test_is_valid_raising_counts_as_invalid() -> None:
    core = make_core(K[0])

    def explode(_: object) -> bool:
        raise RuntimeError("shell bug")

    core.start_height(1, VS, lambda h, r: (hash_of(A), A), explode)
    acts = core.on_proposal(proposal(K[1], 1, 0, A))
    assert votes_of(acts, VoteType.PREVOTE) == [prevote(K[0], 1, 0, None)]
    assert core.counters()["is_valid_error"] == 1


# --- defences -------------------------------------------------------------------------------


def test_bad_signatures_non_members_and_wrong_chain_are_dropped() -> None:
    core = me()
    feed(core, proposal(K[1], 1, 0, A))
    outsider = ValidatorKey.from_seed_text("outsider")
    forged = [Vote(VoteType.PREVOTE, 1, 0, hash_of(A), k.address, bytes(64)) for k in K[1:]]
    acts = feed(
        core,
        *forged,
        prevote(outsider, 1, 0, A),
        vote(K[1], VoteType.PREVOTE, 1, 0, hash_of(A), chain="other-chain"),
    )
    assert votes_of([a for a in acts if isinstance(a, Broadcast)], VoteType.PRECOMMIT) == []
    c = core.counters()
    assert c["bad_signature"] == 4 and c["not_member"] == 1
    # the genuine votes still count after the forgeries
    acts = feed(core, prevote(K[1], 1, 0, A), prevote(K[2], 1, 0, A))
    assert precommit(K[0], 1, 0, A) in broadcasts([a for a in acts if isinstance(a, Broadcast)])


def test_forged_and_misattributed_proposals_are_dropped() -> None:
    core = me()
    wrong_proposer = proposal(K[2], 1, 0, A)
    p = proposal(K[1], 1, 0, A)
    bad_sig = Proposal(1, 0, p.block_hash, A, -1, K[1].address, bytes(64))
    swapped = Proposal(1, 0, p.block_hash, B, -1, K[1].address, p.signature)  # relay swapped block
    assert feed(core, wrong_proposer, bad_sig, swapped) == []
    c = core.counters()
    assert c["wrong_proposer"] == 1 and c["bad_signature"] == 1 and c["block_hash_mismatch"] == 1
    assert votes_of(core.on_proposal(p), VoteType.PREVOTE) == [prevote(K[0], 1, 0, A)]


def test_duplicate_votes_are_counted_once() -> None:
    core = me()
    feed(core, proposal(K[1], 1, 0, A))
    acts = feed(core, *[prevote(K[1], 1, 0, A)] * 3)
    assert votes_of([a for a in acts if isinstance(a, Broadcast)], VoteType.PRECOMMIT) == []
    assert core.counters()["duplicate"] == 2


def test_a_vote_for_a_value_that_has_its_quorum_is_dropped_unverified() -> None:
    """Past a value's quorum in a round, another vote for it meets no new threshold."""
    core = me()
    feed(core, proposal(K[1], 1, 0, A), prevote(K[1], 1, 0, A), prevote(K[2], 1, 0, A))
    # we (K0), K1, K2: 3 of 4, a polka for A; a 4th prevote for A is not even verified
    forged = Vote(VoteType.PREVOTE, 1, 0, hash_of(A), K[3].address, bytes(64))
    assert feed(core, forged) == []
    c = core.counters()
    assert c["past_quorum"] == 1 and "bad_signature" not in c
    # a vote for another value still is verified (a forged one refused, a real one counted)
    feed(core, Vote(VoteType.PREVOTE, 1, 0, None, K[3].address, bytes(64)))
    assert core.counters()["bad_signature"] == 1
    # and so is a second, conflicting vote of a validator that voted: that is evidence
    feed(core, prevote(K[2], 1, 0, None))
    assert [e.offender for e in core.evidence] == [K[2].address]


def test_equivocation_is_recorded_and_counted_once_in_totals() -> None:
    core = me()
    feed(core, proposal(K[1], 1, 0, A))
    first, second = prevote(K[1], 1, 0, A), prevote(K[1], 1, 0, None)
    unanchored = prevote(K[1], 1, 0, B)  # no round-0 proposal names B: evidence, not counted
    acts = feed(core, first, second, second, unanchored, unanchored)
    ev, ev_b = core.evidence  # re-gossiped copies are not new evidence
    assert ev_b.second == unanchored
    assert (ev.first, ev.second, ev.offender) == (first, second, K[1].address)
    assert core.counters()["equivocation"] == 2
    # we + K1 are 2 of 4 validators: K1's two votes must not make "any value" a quorum
    assert not [a for a in acts if isinstance(a, ScheduleTimeout)]
    # a forged "conflicting" vote is not evidence
    feed(core, Vote(VoteType.PREVOTE, 1, 0, hash_of(B), K[1].address, bytes(64)))
    assert len(core.evidence) == 2
    assert core.take_evidence() == [ev, ev_b]
    assert len(core.evidence) == 0


def test_equivocators_votes_count_for_each_value_like_the_paper() -> None:
    """Each signed message counts toward its value, so an equivocator cannot hide a polka."""
    core = me()
    feed(core, proposal(K[1], 1, 0, A), prevote(K[1], 1, 0, A))
    # K1 also prevotes nil; with K2 and K3 that is a nil polka (3 of 4 messages)
    acts = feed(core, prevote(K[1], 1, 0, None), prevote(K[2], 1, 0, None))
    assert votes_of([a for a in acts if isinstance(a, Broadcast)], VoteType.PRECOMMIT) == []
    acts = feed(core, prevote(K[3], 1, 0, None))
    assert votes_of([a for a in acts if isinstance(a, Broadcast)], VoteType.PRECOMMIT) == [
        precommit(K[0], 1, 0, None)
    ]


def test_conflicting_vote_counts_only_once_its_proposal_is_known() -> None:
    core = me()
    feed(core, proposal(K[1], 1, 0, A), prevote(K[1], 1, 0, A))
    k1_b = prevote(K[1], 1, 0, B)
    acts = feed(core, k1_b, prevote(K[2], 1, 0, B), prevote(K[3], 1, 0, B))
    assert core.counters()["conflicting_vote_unanchored"] == 1
    assert votes_of([a for a in acts if isinstance(a, Broadcast)], VoteType.PRECOMMIT) == []
    # K1 equivocated as proposer too: B is a round-0 proposal, so B's polka can now form
    feed(core, proposal(K[1], 1, 0, B))
    acts = feed(core, k1_b)  # re-gossiped by a peer that holds it
    assert votes_of([a for a in acts if isinstance(a, Broadcast)], VoteType.PRECOMMIT) == [
        precommit(K[0], 1, 0, B)
    ]
    assert core.status().locked_round == 0


def test_conflicting_proposals_are_evidence_and_first_wins() -> None:
    core = me()
    acts = feed(core, proposal(K[1], 1, 0, A), proposal(K[1], 1, 0, B), proposal(K[1], 1, 0, B))
    assert [m for m in broadcasts([a for a in acts if isinstance(a, Broadcast)])] == [
        prevote(K[0], 1, 0, A)
    ]
    (ev,) = core.evidence
    assert ev.offender == K[1].address


# --- heights: buffering, staleness, decision finality ----------------------------------------


def test_future_height_messages_are_buffered_and_replayed() -> None:
    core = me()
    b2 = block("B2", height=2)
    prop = VS.proposer(2, 0)
    pk = next(k for k in K if k.address == prop)
    early: list[Proposal | Vote] = [
        proposal(pk, 2, 0, b2),
        *(precommit(k, 2, 0, b2) for k in K[1:]),
    ]
    assert feed(core, *early) == []
    assert core.counters()["buffered"] == 4 and core.status().buffered == 4
    (d,) = decisions(start(core, VS, height=2))
    assert (d.height, d.block) == (2, b2)
    assert core.status().buffered == 0


def test_future_buffer_is_bounded_in_heights_and_count() -> None:
    core = make_core(K[0], max_heights_ahead=2, max_buffered=3)
    start(core, VS)
    msgs = [prevote(k, 2, r, A) for k in K for r in range(2)]
    feed(core, *msgs, prevote(K[1], 4, 0, A), prevote(K[1], 2, 0, A))
    c = core.counters()
    assert c["buffered"] == 3 and c["buffer_full"] == len(msgs) - 3
    assert c["too_far_ahead"] == 1 and c["duplicate"] == 1
    assert core.status().buffered == 3


def test_forged_buffered_copy_does_not_shadow_genuine_message() -> None:
    core = me()
    b2 = block("B2", height=2)
    forged = [Vote(VoteType.PRECOMMIT, 2, 0, hash_of(b2), k.address, bytes(64)) for k in K[1:]]
    genuine = [precommit(k, 2, 0, b2) for k in K[1:]]
    pk = next(k for k in K if k.address == VS.proposer(2, 0))
    feed(core, *forged, *genuine, proposal(pk, 2, 0, b2))
    assert decisions(start(core, VS, height=2))


def test_stale_heights_and_post_decision_messages_are_ignored() -> None:
    core = me()
    feed(core, proposal(K[1], 1, 0, A), *(prevote(k, 1, 0, A) for k in K[1:]))
    assert decisions(core.on_vote(precommit(K[1], 1, 0, A))) == []
    assert decisions(core.on_vote(precommit(K[2], 1, 0, A)))
    assert core.on_vote(precommit(K[3], 1, 0, A)) == []
    assert core.on_timeout(TimeoutKind.PRECOMMIT, 1, 0) == []
    assert core.counters()["after_decision"] == 1
    start(core, VS, height=2)
    assert core.on_vote(prevote(K[1], 1, 0, A)) == []
    assert core.counters()["stale"] == 1
    with pytest.raises(ValueError):
        start(core, VS, height=2)


def test_decides_from_an_earlier_round_quorum_while_in_a_later_round() -> None:
    core = me()
    feed(core, proposal(K[1], 1, 0, A))
    core.on_timeout(TimeoutKind.PROPOSE, 1, 0)  # no-op: already prevoted
    feed(core, *(precommit(k, 1, 2, None) for k in K[1:3]))  # f+1 in round 2: skip there
    assert core.round == 2
    (d,) = decisions(feed(core, *(precommit(k, 1, 0, A) for k in K[1:])))
    assert (d.round, d.block) == (0, A)
    d.certificate.verify(CHAIN, VS)


def test_no_decision_for_an_invalid_block_even_with_a_precommit_quorum() -> None:
    core = me()
    bad = block("bad", valid=False)
    feed(core, proposal(K[1], 1, 0, bad))
    assert decisions(feed(core, *(precommit(k, 1, 0, bad) for k in K[1:]))) == []
    assert core.decision is None


# --- round skip -------------------------------------------------------------------------------


def test_f_plus_one_in_a_higher_round_skips_there() -> None:
    core = me()
    feed(core, prevote(K[2], 1, 3, None))  # 1 of 4 power: not > 1/3
    assert core.round == 0
    acts = feed(core, precommit(K[3], 1, 3, None))  # 2 of 4 > 1/3: skip to round 3
    assert core.round == 3
    (p,) = [
        m
        for m in broadcasts([a for a in acts if isinstance(a, Broadcast)])
        if isinstance(m, Proposal)
    ]
    assert p.round == 3 and p.proposer == K[0].address  # we propose round 3


def test_round_skip_is_stake_weighted() -> None:
    vs = make_set(K, [1, 1, 1, 4])  # total 7: f+1 = 3
    core = make_core(K[0])
    start(core, vs)
    feed(core, prevote(K[1], 1, 5, None), prevote(K[2], 1, 5, None))
    assert core.round == 0  # 2 of 7
    feed(core, prevote(K[3], 1, 7, None))
    assert core.round == 7  # 4 of 7 alone


# --- locking -----------------------------------------------------------------------------------


def _locked_on_a_then_round_1() -> TendermintCore:
    """Round 0: polka for A, we precommit A (lock), others precommit nil; move to round 1."""
    core = me()
    feed(core, proposal(K[1], 1, 0, A), prevote(K[1], 1, 0, A), prevote(K[2], 1, 0, A))
    assert core.status().locked_round == 0
    feed(core, *(precommit(k, 1, 0, None) for k in K[1:]))
    core.on_timeout(TimeoutKind.PRECOMMIT, 1, 0)
    assert core.round == 1
    return core


def test_locked_node_prevotes_nil_for_another_value_without_newer_polka() -> None:
    core = _locked_on_a_then_round_1()
    acts = core.on_proposal(proposal(K[2], 1, 1, B))
    assert votes_of(acts, VoteType.PREVOTE) == [prevote(K[0], 1, 1, None)]


def test_locked_node_prevotes_its_locked_value_again() -> None:
    core = _locked_on_a_then_round_1()
    acts = core.on_proposal(proposal(K[2], 1, 1, A))
    assert votes_of(acts, VoteType.PREVOTE) == [prevote(K[0], 1, 1, A)]


def test_polka_older_than_the_lock_does_not_unlock() -> None:
    core = me()
    # round 0: polka for B, we lock B
    feed(core, proposal(K[1], 1, 0, B), prevote(K[1], 1, 0, B), prevote(K[2], 1, 0, B))
    feed(core, *(precommit(k, 1, 0, None) for k in K[1:]))
    core.on_timeout(TimeoutKind.PRECOMMIT, 1, 0)
    # round 1: A gets a polka; we relock on A at round 1
    feed(core, proposal(K[2], 1, 1, A), *(prevote(k, 1, 1, A) for k in K[1:]))
    assert core.status().locked_round == 1
    feed(core, *(precommit(k, 1, 1, None) for k in K[1:]))
    core.on_timeout(TimeoutKind.PRECOMMIT, 1, 1)
    # round 2: B again, citing its (real but older) round-0 polka: still locked on A
    acts = core.on_proposal(proposal(K[3], 1, 2, B, pol_round=0))
    assert votes_of(acts, VoteType.PREVOTE) == [prevote(K[0], 1, 2, None)]


def test_pol_round_without_a_matching_polka_is_not_honoured() -> None:
    core = _locked_on_a_then_round_1()
    # B claims a POL in round 0, where the polka was for A: wait, then nil on timeout
    assert feed(core, proposal(K[2], 1, 1, B, pol_round=0)) == []
    acts = core.on_timeout(TimeoutKind.PROPOSE, 1, 1)
    assert votes_of(acts, VoteType.PREVOTE) == [prevote(K[0], 1, 1, None)]


def test_newer_polka_unlocks_through_pol_round() -> None:
    core = _locked_on_a_then_round_1()
    feed(core, proposal(K[2], 1, 1, B))  # nil prevote (locked)
    feed(core, *(precommit(k, 1, 1, None) for k in K[1:]))
    core.on_timeout(TimeoutKind.PRECOMMIT, 1, 1)
    assert core.round == 2
    # round 2 re-proposes B citing a polka in round 1 that we have not seen yet: wait
    assert feed(core, proposal(K[3], 1, 2, B, pol_round=1)) == []
    # the round-1 polka for B (round 1 > locked round 0) arrives: now B is acceptable
    acts = feed(core, *(prevote(k, 1, 1, B) for k in K[1:]))
    assert prevote(K[0], 1, 2, B) in broadcasts([a for a in acts if isinstance(a, Broadcast)])


def test_proposer_reproposes_its_valid_value_with_pol_round() -> None:
    core = _locked_on_a_then_round_1()
    for r in (1, 2):
        feed(core, *(precommit(k, 1, r, None) for k in K[1:]))
        core.on_timeout(TimeoutKind.PRECOMMIT, 1, r)
    assert core.round == 3  # our turn
    (p,) = [m for m in core.own_messages(current_round_only=True) if isinstance(m, Proposal)]
    assert (p.block, p.pol_round) == (A, 0)


# --- followers, certificates, restart, gossip --------------------------------------------------


@pytest.mark.parametrize("key", [None, ValidatorKey.from_seed_text("not-a-member")])
def test_follower_never_signs_but_decides(key: ValidatorKey | None) -> None:
    core = make_core(key)
    acts = start(core, VS)
    acts += feed(core, proposal(K[1], 1, 0, A), *(prevote(k, 1, 0, A) for k in K[1:]))
    acts += feed(core, *(precommit(k, 1, 0, A) for k in K[1:]))
    assert not [a for a in acts if isinstance(a, Broadcast)]
    (d,) = decisions(acts)
    assert d.block == A
    assert core.own_messages() == [] and not core.status().is_validator


def test_decide_from_certificate_only_when_it_verifies() -> None:
    core = make_core(None)
    start(core, VS)
    good = CommitCertificate(1, 3, hash_of(A), tuple(precommit(k, 1, 3, A) for k in K[:3]))
    weak = CommitCertificate(1, 3, hash_of(A), good.votes[:2])
    assert core.on_certificate(weak, A) == []
    assert core.on_certificate(good, B) == []  # block does not match
    other_height = CommitCertificate(2, 0, hash_of(A), tuple(precommit(k, 2, 0, A) for k in K[:3]))
    assert core.on_certificate(other_height, A) == []
    c = core.counters()
    assert c["certificate_invalid"] == 1 and c["certificate_block_mismatch"] == 1
    assert c["certificate_not_current"] == 1
    (d,) = decisions(core.on_certificate(good, A))
    assert (d.round, d.block, d.certificate) == (3, A, good)


def test_restart_never_signs_a_conflicting_vote() -> None:
    core = me()
    nil_prevote = votes_of(core.on_timeout(TimeoutKind.PROPOSE, 1, 0), VoteType.PREVOTE)[0]
    wal = core.own_messages()
    restarted = make_core(K[0])
    start(restarted, VS, restore=wal)
    acts = restarted.on_proposal(proposal(K[1], 1, 0, A))  # would have earned an A prevote
    assert votes_of(acts, VoteType.PREVOTE) == [nil_prevote]
    assert restarted.own_messages() == [nil_prevote]


def test_restart_restores_lock_and_round() -> None:
    core = _locked_on_a_then_round_1()
    wal = core.own_messages()
    restarted = make_core(K[0])
    start(restarted, VS, restore=wal)
    assert restarted.status().locked_round == 0
    acts = restarted.on_proposal(proposal(K[1], 1, 0, B))
    assert votes_of(acts, VoteType.PREVOTE) == [prevote(K[0], 1, 0, A)]  # re-sent, not B
    with pytest.raises(ValueError):
        start(make_core(K[0]), VS, restore=[prevote(K[1], 1, 0, A)])


def _restarted_from_wal(core: TendermintCore) -> TendermintCore:
    """What the node's WAL gives back: our messages plus the proposal our precommit named."""
    wal: list[Proposal | Vote] = list(core.own_messages())
    for m in core.own_messages():
        if isinstance(m, Vote) and m.type is VoteType.PRECOMMIT and m.block_hash is not None:
            behind = core.proposal_for(m.round, m.block_hash)
            assert behind is not None
            wal.append(behind)
    restarted = make_core(K[0])
    start(restarted, VS, restore=reversed(wal))  # order must not matter
    return restarted


def test_restart_restores_valid_round_and_reproposes_the_locked_block() -> None:
    restarted = _restarted_from_wal(_locked_on_a_then_round_1())
    status = restarted.status()
    assert (status.locked_round, status.valid_round) == (0, 0)
    assert proposal(K[1], 1, 0, A) in restarted.gossip_messages()  # the polka's block
    acts: list[Action] = []
    for r in range(3):  # rounds 1 and 2 pass without a proposal; K[0] proposes round 3
        acts = restarted.on_timeout(TimeoutKind.PREVOTE, 1, r)
        acts += restarted.on_timeout(TimeoutKind.PRECOMMIT, 1, r)
        if r < 2:
            acts = restarted.on_timeout(TimeoutKind.PROPOSE, 1, r + 1)
    (p,) = [m for m in broadcasts(acts) if isinstance(m, Proposal)]
    assert (p.round, p.block, p.pol_round) == (3, A, 0)


def test_proposal_for_names_only_accepted_proposals() -> None:
    core = _locked_on_a_then_round_1()
    assert core.proposal_for(0, hash_of(A)) == proposal(K[1], 1, 0, A)
    assert core.proposal_for(0, hash_of(B)) is None
    assert core.proposal_for(7, hash_of(A)) is None


def test_restore_without_the_proposal_keeps_the_lock_but_no_valid_block() -> None:
    core = _locked_on_a_then_round_1()
    restarted = make_core(K[0])
    start(restarted, VS, restore=core.own_messages())
    status = restarted.status()
    assert (status.locked_round, status.valid_round) == (0, -1)
    with pytest.raises(ValueError, match="proposals they named"):
        start(make_core(K[0]), VS, restore=[proposal(K[1], 2, 0, A)])  # another height


def test_gossip_relays_polka_and_certificate() -> None:
    core = _locked_on_a_then_round_1()
    gossip = core.gossip_messages()
    assert set(core.own_messages()) <= set(gossip)
    assert {prevote(K[1], 1, 0, A), prevote(K[2], 1, 0, A)} <= set(gossip)
    assert proposal(K[1], 1, 0, A) in gossip  # the block behind our valid round
    assert prevote(K[1], 1, 0, None) not in gossip
    feed(core, proposal(K[2], 1, 1, A))
    feed(core, *(prevote(k, 1, 1, A) for k in K[1:]))
    (d,) = decisions(feed(core, *(precommit(k, 1, 1, A) for k in K[1:3])))
    gossip = core.gossip_messages()
    assert set(d.certificate.votes) <= set(gossip)
    assert any(isinstance(m, Proposal) and m.block_hash == d.block_hash for m in gossip)


def test_status_reports_progress() -> None:
    core = make_core(K[0])
    assert core.status().step is Step.NEW_HEIGHT and core.status().proposer is None
    start(core, VS)
    s = core.status().to_json()
    assert s == {
        "height": 1,
        "round": 0,
        "step": "propose",
        "locked_round": -1,
        "valid_round": -1,
        "is_validator": True,
        "proposer": K[1].address,
        "decided": False,
        "buffered": 0,
    }


def test_same_inputs_give_same_actions() -> None:
    def run() -> list[object]:
        core = make_core(K[0])
        out: list[object] = list(start(core, VS))
        out += feed(core, proposal(K[1], 1, 0, A), *(prevote(k, 1, 0, A) for k in K[1:]))
        out += feed(core, *(precommit(k, 1, 0, A) for k in K[1:]))
        return out

    assert run() == run()


def test_start_height_rejects_genesis() -> None:
    with pytest.raises(ValueError):
        make_core(K[0]).start_height(0, VS, lambda h, r: (hash_of(A), A), is_valid)


def test_validator_set_type_is_used_per_height() -> None:
    # a node in height 1's set but not in height 2's becomes a follower there
    core = me()
    smaller = ValidatorSet({k.address: (k.public_key, 1) for k in K[1:]})
    feed(core, proposal(K[1], 1, 0, A), *(prevote(k, 1, 0, A) for k in K[1:]))
    feed(core, *(precommit(k, 1, 0, A) for k in K[1:]))
    acts = start(core, smaller, height=2)
    assert not core.status().is_validator
    assert not [a for a in acts if isinstance(a, Broadcast)]


def test_gossip_keeps_our_nil_votes_of_past_rounds() -> None:
    """Leaving them out (to send fewer frames) made the simulator find a live-lock after
    GST (powers 1,1,3,1,3 with a crash): a peer still in the earlier round needs them."""
    core = make_core(K[0])
    start(core, VS)
    for kind in (TimeoutKind.PROPOSE, TimeoutKind.PREVOTE):
        core.on_timeout(kind, 1, 0)  # nil prevote, then nil precommit in round 0
    nil_votes = [m for m in core.own_messages() if isinstance(m, Vote)]
    assert [(v.round, v.block_hash) for v in nil_votes] == [(0, None), (0, None)]
    feed(core, *(precommit(k, 1, 0, None) for k in K[1:3]))
    core.on_timeout(TimeoutKind.PRECOMMIT, 1, 0)
    assert core.status().round == 1
    assert set(nil_votes) <= set(core.gossip_messages())
