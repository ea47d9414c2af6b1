//! One test per rule of Algorithm 1 (line numbers of the paper), plus restart, sync,
//! buffering and evidence. Four validators of stake 1 unless said: a quorum is 3, f+1 is 2.
//! At height 1 the proposer of round r is validator `(1 + r) % 4`; "me" is validator 0,
//! which proposes only in round 3.

use std::collections::BTreeSet;

use super::*;
use crate::test_support::{block, Net, CHAIN};
use crate::{BlockHash, VoteType};

const H: u64 = 1;

fn timeouts() -> TimeoutConfig {
    TimeoutConfig {
        propose_ms: 600,
        prevote_ms: 300,
        precommit_ms: 300,
        delta_ms: 200,
    }
}

/// The node side: blocks it refuses, blocks it finds untimely, and what it builds.
#[derive(Default)]
struct TestApp {
    invalid: BTreeSet<BlockHash>,
    untimely: BTreeSet<BlockHash>,
    validated: Vec<BlockHash>,
    me: Option<Address>,
    builds: bool,
}

impl Application for TestApp {
    fn validate(&mut self, block: &Block) -> Result<(), String> {
        self.validated.push(block.hash);
        if self.invalid.contains(&block.hash) {
            Err("invalid".into())
        } else {
            Ok(())
        }
    }

    fn is_timely(&mut self, block: &Block) -> bool {
        !self.untimely.contains(&block.hash)
    }

    fn build_block(&mut self, height: u64, round: u64) -> Option<Block> {
        match (self.builds, self.me) {
            (true, Some(me)) => Some(block(height, 100 + round, me)),
            _ => None,
        }
    }
}

struct Fixture {
    net: Net,
    me: usize,
    core: Consensus,
    app: TestApp,
}

impl Fixture {
    /// Validator `me` of a net with `stakes` starts height `H`; returns the actions.
    fn start(stakes: &[u64], me: usize) -> (Fixture, Vec<Action>) {
        Fixture::restart(stakes, me, Recorded::default())
    }

    fn restart(stakes: &[u64], me: usize, recorded: Recorded) -> (Fixture, Vec<Action>) {
        let net = Net::new(stakes);
        let mut app = TestApp {
            me: Some(net.addrs[me]),
            builds: true,
            ..TestApp::default()
        };
        let mut core = Consensus::new(CHAIN, timeouts());
        let key = net.keys[me].clone();
        let actions = core.start_height(H, net.set.clone(), Some(key), recorded, &mut app);
        (Fixture { net, me, core, app }, actions)
    }

    fn vote(&self, i: usize, t: VoteType, round: u64, value: Option<BlockHash>) -> Vote {
        Vote::sign(
            CHAIN,
            t,
            H,
            round,
            value,
            self.net.addrs[i],
            &self.net.keys[i],
        )
    }

    /// The block validator `tag` would build (distinct per tag).
    fn block(&self, tag: u64) -> Block {
        block(
            H,
            tag,
            self.net.addrs[(tag as usize) % self.net.addrs.len()],
        )
    }

    /// The proposal of round `round` for `b`, signed by that round's proposer.
    fn proposal(&self, round: u64, b: &Block, pol_round: Option<u64>) -> Proposal {
        let i = self.net.index(&self.net.set.proposer(H, round).address);
        Proposal::sign(
            CHAIN,
            round,
            b.clone(),
            pol_round,
            self.net.addrs[i],
            &self.net.keys[i],
        )
    }

    fn propose(&mut self, round: u64, b: &Block, pol_round: Option<u64>) -> Vec<Action> {
        let p = self.proposal(round, b, pol_round);
        self.core.on_proposal(p, &mut self.app).expect("accepted")
    }

    fn votes(
        &mut self,
        who: &[usize],
        t: VoteType,
        round: u64,
        value: Option<BlockHash>,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        for &i in who {
            let v = self.vote(i, t, round, value);
            out.extend(self.core.on_vote(v, &mut self.app).expect("accepted"));
        }
        out
    }

    fn timeout(&mut self, kind: TimeoutKind, round: u64) -> Vec<Action> {
        self.core.on_timeout(kind, H, round, &mut self.app)
    }

    fn status(&self) -> Status {
        self.core.status().expect("started")
    }

    /// Locks me on `b` in round 0: its proposal and prevotes of 1, 2 (mine makes 3).
    fn lock_in_round_0(&mut self, b: &Block) {
        self.propose(0, b, None);
        let actions = self.votes(&[1, 2], VoteType::Prevote, 0, Some(b.hash));
        assert_eq!(
            signed(&actions),
            vec![(VoteType::Precommit, 0, Some(b.hash))]
        );
        assert_eq!(self.status().locked_round, Some(0));
    }

    /// Moves from round `round` to the next through nil precommits and the timeout.
    fn next_round(&mut self, round: u64) -> Vec<Action> {
        self.votes(&[1, 2, 3], VoteType::Precommit, round, None);
        self.timeout(TimeoutKind::Precommit, round)
    }
}

/// The own votes in `actions`, as (type, round, value).
fn signed(actions: &[Action]) -> Vec<(VoteType, u64, Option<BlockHash>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::SignedVote(v) => Some((v.vote_type, v.round, v.block_hash)),
            _ => None,
        })
        .collect()
}

fn timeouts_in(actions: &[Action]) -> Vec<(TimeoutKind, u64, u64)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::ScheduleTimeout(t) => Some((t.kind, t.round, t.duration_ms)),
            _ => None,
        })
        .collect()
}

fn proposals_in(actions: &[Action]) -> Vec<Proposal> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::SignedProposal(p) => Some(p.clone()),
            _ => None,
        })
        .collect()
}

fn decisions_in(actions: &[Action]) -> Vec<Decision> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Decide(d) => Some(d.clone()),
            _ => None,
        })
        .collect()
}

// ---- StartRound (lines 11-21) and timeouts' lengths ----

#[test]
fn a_non_proposer_starts_round_0_with_the_propose_timeout() {
    let (f, actions) = Fixture::start(&[1, 1, 1, 1], 0);
    assert_eq!(
        actions,
        vec![Action::ScheduleTimeout(Timeout {
            kind: TimeoutKind::Propose,
            height: H,
            round: 0,
            duration_ms: 600
        })]
    );
    assert_eq!(f.status().step, Step::Propose);
    assert_eq!(f.status().proposer, f.net.addrs[1]);
}

#[test]
fn the_proposer_proposes_a_new_block_then_prevotes_it() {
    let (f, actions) = Fixture::start(&[1, 1, 1, 1], 1);
    let proposals = proposals_in(&actions);
    assert_eq!(proposals.len(), 1);
    let p = &proposals[0];
    assert_eq!(
        (p.height, p.round, p.pol_round, p.proposer),
        (H, 0, None, f.net.addrs[1])
    );
    assert_eq!(p.block, block(H, 100, f.net.addrs[1]));
    assert_eq!(p.verify(CHAIN, &f.net.keys[1].verifying_key()), Ok(()));
    assert!(
        matches!(actions[0], Action::SignedProposal(_)),
        "proposal first"
    );
    assert_eq!(
        signed(&actions),
        vec![(VoteType::Prevote, 0, Some(p.block.hash))]
    );
    assert!(timeouts_in(&actions).is_empty());
    assert_eq!(f.core.own_messages().0, proposals);
}

#[test]
fn a_proposer_with_nothing_to_propose_waits_out_the_propose_timeout() {
    let net = Net::new(&[1, 1, 1, 1]);
    let mut app = TestApp::default();
    let mut core = Consensus::new(CHAIN, timeouts());
    let actions = core.start_height(
        H,
        net.set.clone(),
        Some(net.keys[1].clone()),
        Recorded::default(),
        &mut app,
    );
    assert!(proposals_in(&actions).is_empty());
    assert_eq!(timeouts_in(&actions), vec![(TimeoutKind::Propose, 0, 600)]);
}

#[test]
fn timeouts_grow_by_delta_per_round() {
    let (mut f, _) = Fixture::start(&[1, 1, 1, 1], 0);
    let actions = f.next_round(0);
    assert_eq!(timeouts_in(&actions), vec![(TimeoutKind::Propose, 1, 800)]);
    let actions = f.next_round(1);
    assert_eq!(timeouts_in(&actions), vec![(TimeoutKind::Propose, 2, 1000)]);
    let b = f.block(3);
    f.propose(2, &b, None);
    let actions = f.votes(&[1, 2], VoteType::Prevote, 2, None);
    assert_eq!(timeouts_in(&actions), vec![(TimeoutKind::Prevote, 2, 700)]);
    let t = timeouts();
    assert_eq!(t.duration_ms(TimeoutKind::Precommit, 5), 1300);
    assert_eq!(
        t.duration_ms(TimeoutKind::Propose, u64::MAX),
        u64::MAX,
        "saturates"
    );
}

// ---- Line 22: a fresh proposal ----

#[test]
fn line_22_a_valid_proposal_is_prevoted() {
    let (mut f, _) = Fixture::start(&[1, 1, 1, 1], 0);
    let b = f.block(1);
    let actions = f.propose(0, &b, None);
    assert_eq!(signed(&actions), vec![(VoteType::Prevote, 0, Some(b.hash))]);
    assert_eq!(f.status().step, Step::Prevote);
    assert_eq!(f.app.validated, vec![b.hash]);
}

#[test]
fn line_22_an_invalid_or_untimely_proposal_gets_a_nil_prevote() {
    for untimely in [false, true] {
        let (mut f, _) = Fixture::start(&[1, 1, 1, 1], 0);
        let b = f.block(1);
        if untimely {
            f.app.untimely.insert(b.hash);
        } else {
            f.app.invalid.insert(b.hash);
        }
        let actions = f.propose(0, &b, None);
        assert_eq!(signed(&actions), vec![(VoteType::Prevote, 0, None)]);
        assert_eq!(f.status().step, Step::Prevote);
    }
}

#[test]
fn line_22_a_validator_locked_on_another_block_prevotes_nil() {
    let (mut f, _) = Fixture::start(&[1, 1, 1, 1], 0);
    let v = f.block(1);
    f.lock_in_round_0(&v);
    f.next_round(0);
    let w = f.block(2);
    let actions = f.propose(1, &w, None);
    assert_eq!(signed(&actions), vec![(VoteType::Prevote, 1, None)]);
    // Its own locked block proposed afresh is prevoted.
    let (mut f, _) = Fixture::start(&[1, 1, 1, 1], 0);
    f.lock_in_round_0(&v);
    f.next_round(0);
    let actions = f.propose(1, &v, None);
    assert_eq!(signed(&actions), vec![(VoteType::Prevote, 1, Some(v.hash))]);
}

// ---- Line 28: a re-proposal backed by a polka ----

#[test]
fn line_28_prevotes_a_re_proposal_when_the_lock_is_not_newer_than_its_polka() {
    let (mut f, _) = Fixture::start(&[1, 1, 1, 1], 0);
    let v = f.block(1);
    let w = f.block(2);
    f.lock_in_round_0(&v);
    // Round 1: "me" times out on the proposal and prevotes nil; others prevote w.
    f.next_round(0);
    let actions = f.timeout(TimeoutKind::Propose, 1);
    assert_eq!(signed(&actions), vec![(VoteType::Prevote, 1, None)]);
    // Nil precommits move everyone to round 2 before the w prevotes reach "me".
    f.timeout(TimeoutKind::Prevote, 1);
    f.next_round(1);
    assert_eq!(f.status().round, 2);
    let actions = f.propose(2, &w, Some(1));
    assert!(signed(&actions).is_empty(), "no polka for w known yet");
    let actions = f.votes(&[1, 2, 3], VoteType::Prevote, 1, Some(w.hash));
    assert_eq!(signed(&actions), vec![(VoteType::Prevote, 2, Some(w.hash))]);
    assert_eq!(
        f.status().locked_round,
        Some(0),
        "prevoting does not move the lock"
    );
}

#[test]
fn line_28_a_lock_newer_than_the_polka_prevotes_nil() {
    let (mut f, _) = Fixture::start(&[1, 1, 1, 1], 0);
    let v = f.block(1);
    let w = f.block(2);
    // A polka for w in round 0 that "me" sees only late; "me" locks on v in round 1.
    f.timeout(TimeoutKind::Propose, 0);
    f.votes(&[1, 2, 3], VoteType::Precommit, 0, None);
    f.timeout(TimeoutKind::Precommit, 0);
    f.propose(1, &v, None);
    let actions = f.votes(&[1, 2], VoteType::Prevote, 1, Some(v.hash));
    assert_eq!(
        signed(&actions),
        vec![(VoteType::Precommit, 1, Some(v.hash))]
    );
    f.votes(&[1, 2, 3], VoteType::Prevote, 0, Some(w.hash));
    f.votes(&[1, 2, 3], VoteType::Precommit, 1, None);
    f.timeout(TimeoutKind::Precommit, 1);
    let actions = f.propose(2, &w, Some(0));
    assert_eq!(signed(&actions), vec![(VoteType::Prevote, 2, None)]);
    // ... but a re-proposal of the locked block itself is prevoted.
    let (mut g, _) = Fixture::start(&[1, 1, 1, 1], 0);
    g.timeout(TimeoutKind::Propose, 0);
    g.votes(&[1, 2, 3], VoteType::Precommit, 0, None);
    g.timeout(TimeoutKind::Precommit, 0);
    g.propose(1, &v, None);
    g.votes(&[1, 2], VoteType::Prevote, 1, Some(v.hash));
    g.votes(&[1, 2, 3], VoteType::Precommit, 1, None);
    g.timeout(TimeoutKind::Precommit, 1);
    g.votes(&[2, 3], VoteType::Prevote, 0, Some(v.hash));
    g.votes(&[1], VoteType::Prevote, 0, Some(v.hash));
    let actions = g.propose(2, &v, Some(0));
    assert_eq!(signed(&actions), vec![(VoteType::Prevote, 2, Some(v.hash))]);
}

#[test]
fn line_28_a_re_proposal_is_not_asked_to_be_timely_but_must_be_valid() {
    let (mut f, _) = Fixture::start(&[1, 1, 1, 1], 0);
    let w = f.block(2);
    f.timeout(TimeoutKind::Propose, 0);
    f.votes(&[1, 2, 3], VoteType::Precommit, 0, None);
    f.timeout(TimeoutKind::Precommit, 0);
    f.votes(&[1, 2, 3], VoteType::Prevote, 0, Some(w.hash));
    f.app.untimely.insert(w.hash);
    let actions = f.propose(1, &w, Some(0));
    assert_eq!(signed(&actions), vec![(VoteType::Prevote, 1, Some(w.hash))]);

    let (mut f, _) = Fixture::start(&[1, 1, 1, 1], 0);
    f.timeout(TimeoutKind::Propose, 0);
    f.votes(&[1, 2, 3], VoteType::Precommit, 0, None);
    f.timeout(TimeoutKind::Precommit, 0);
    f.votes(&[1, 2, 3], VoteType::Prevote, 0, Some(w.hash));
    f.app.invalid.insert(w.hash);
    let actions = f.propose(1, &w, Some(0));
    assert_eq!(signed(&actions), vec![(VoteType::Prevote, 1, None)]);
}

// ---- Line 34: +2/3 prevotes of any values ----

#[test]
fn line_34_any_quorum_of_prevotes_schedules_the_prevote_timeout_once() {
    let (mut f, _) = Fixture::start(&[1, 1, 1, 1], 0);
    let b = f.block(1);
    f.propose(0, &b, None);
    let actions = f.votes(&[1], VoteType::Prevote, 0, None);
    assert!(timeouts_in(&actions).is_empty(), "2 of 4 is no quorum");
    let c = f.block(2);
    let actions = f.votes(&[2], VoteType::Prevote, 0, Some(c.hash));
    assert_eq!(timeouts_in(&actions), vec![(TimeoutKind::Prevote, 0, 300)]);
    assert!(signed(&actions).is_empty(), "no polka for one value");
    let actions = f.votes(&[3], VoteType::Prevote, 0, Some(c.hash));
    assert!(timeouts_in(&actions).is_empty(), "only the first time");
}

// ---- Line 36: a polka for the round's proposal ----

#[test]
fn line_36_a_polka_locks_and_precommits_and_sets_the_valid_value() {
    let (mut f, _) = Fixture::start(&[1, 1, 1, 1], 0);
    let b = f.block(1);
    f.lock_in_round_0(&b);
    let s = f.status();
    assert_eq!((s.locked_round, s.locked_hash), (Some(0), Some(b.hash)));
    assert_eq!((s.valid_round, s.valid_hash), (Some(0), Some(b.hash)));
    assert_eq!(s.step, Step::Precommit);
    // The fourth prevote changes nothing.
    let actions = f.votes(&[3], VoteType::Prevote, 0, Some(b.hash));
    assert!(signed(&actions).is_empty());
}

#[test]
fn line_36_after_precommitting_nil_a_late_polka_only_sets_the_valid_value() {
    let (mut f, _) = Fixture::start(&[1, 1, 1, 1], 0);
    let b = f.block(1);
    f.propose(0, &b, None);
    f.votes(&[1], VoteType::Prevote, 0, None);
    f.votes(&[2], VoteType::Prevote, 0, Some(b.hash));
    let actions = f.timeout(TimeoutKind::Prevote, 0);
    assert_eq!(signed(&actions), vec![(VoteType::Precommit, 0, None)]);
    let actions = f.votes(&[3], VoteType::Prevote, 0, Some(b.hash));
    assert!(signed(&actions).is_empty());
    let s = f.status();
    assert_eq!(s.locked_round, None);
    assert_eq!((s.valid_round, s.valid_hash), (Some(0), Some(b.hash)));
}

#[test]
fn line_36_a_polka_for_an_invalid_block_is_ignored() {
    let (mut f, _) = Fixture::start(&[1, 1, 1, 1], 0);
    let b = f.block(1);
    f.app.invalid.insert(b.hash);
    f.propose(0, &b, None);
    let actions = f.votes(&[1, 2, 3], VoteType::Prevote, 0, Some(b.hash));
    assert!(signed(&actions).is_empty());
    assert_eq!(f.status().locked_round, None);
    assert_eq!(f.status().valid_round, None);
}

#[test]
fn a_proposer_re_proposes_its_valid_value_with_its_valid_round() {
    // "me" (0) proposes in round 3: get a valid value in round 2 first.
    let (mut f, _) = Fixture::start(&[1, 1, 1, 1], 0);
    f.next_round(0);
    f.next_round(1);
    let b = f.block(1);
    f.propose(2, &b, None);
    f.votes(&[1, 2], VoteType::Prevote, 2, Some(b.hash));
    let actions = f.next_round(2);
    let proposals = proposals_in(&actions);
    assert_eq!(proposals.len(), 1);
    assert_eq!((proposals[0].round, proposals[0].pol_round), (3, Some(2)));
    assert_eq!(
        proposals[0].block, b,
        "the block keeps its original proposer"
    );
    assert_eq!(signed(&actions), vec![(VoteType::Prevote, 3, Some(b.hash))]);
}

// ---- Line 44: +2/3 nil prevotes ----

#[test]
fn line_44_a_nil_polka_precommits_nil() {
    let (mut f, _) = Fixture::start(&[1, 1, 1, 1], 0);
    f.timeout(TimeoutKind::Propose, 0);
    let actions = f.votes(&[1, 2], VoteType::Prevote, 0, None);
    assert_eq!(signed(&actions), vec![(VoteType::Precommit, 0, None)]);
    assert_eq!(f.status().step, Step::Precommit);
}

// ---- Line 47: +2/3 precommits of any values ----

#[test]
fn line_47_any_quorum_of_precommits_schedules_the_precommit_timeout_once() {
    let (mut f, _) = Fixture::start(&[1, 1, 1, 1], 0);
    let b = f.block(1);
    f.votes(&[1], VoteType::Precommit, 0, None);
    f.votes(&[2], VoteType::Precommit, 0, Some(b.hash));
    let actions = f.votes(&[3], VoteType::Precommit, 0, None);
    assert_eq!(
        timeouts_in(&actions),
        vec![(TimeoutKind::Precommit, 0, 300)]
    );
    let actions = f.timeout(TimeoutKind::Propose, 0);
    assert_eq!(signed(&actions), vec![(VoteType::Prevote, 0, None)]);
    assert!(timeouts_in(&actions).is_empty());
    let actions = f.timeout(TimeoutKind::Precommit, 0);
    assert_eq!(f.status().round, 1);
    assert_eq!(timeouts_in(&actions), vec![(TimeoutKind::Propose, 1, 800)]);
}

// ---- Line 49: +2/3 precommits for a block decide it ----

#[test]
fn line_49_a_precommit_quorum_decides_with_a_verifying_certificate() {
    let (mut f, _) = Fixture::start(&[1, 1, 1, 1], 0);
    let b = f.block(1);
    f.lock_in_round_0(&b);
    let actions = f.votes(&[1, 2], VoteType::Precommit, 0, Some(b.hash));
    let decisions = decisions_in(&actions);
    assert_eq!(decisions.len(), 1);
    let d = &decisions[0];
    assert_eq!(d.block, b);
    assert_eq!((d.certificate.height, d.certificate.round), (H, 0));
    assert_eq!(d.certificate.votes.len(), 3);
    let addrs: Vec<_> = d.certificate.votes.iter().map(|v| v.validator).collect();
    assert!(addrs.windows(2).all(|w| w[0] < w[1]), "sorted by address");
    assert_eq!(d.certificate.verify(CHAIN, H, &b.hash, &f.net.set), Ok(()));
    assert_eq!(f.status().step, Step::Decided);
    assert_eq!(f.core.decision(), Some(d));
    // Nothing more happens at this height.
    let actions = f.votes(&[3], VoteType::Precommit, 0, Some(b.hash));
    assert!(actions.is_empty());
    assert!(f.timeout(TimeoutKind::Precommit, 0).is_empty());
}

#[test]
fn line_49_decides_from_a_later_rounds_precommits_once_the_block_is_known() {
    let (mut f, _) = Fixture::start(&[1, 1, 1, 1], 0);
    let b = f.block(1);
    let actions = f.votes(&[1, 2, 3], VoteType::Precommit, 2, Some(b.hash));
    assert!(decisions_in(&actions).is_empty(), "block unknown");
    let actions = f.propose(2, &b, None);
    let decisions = decisions_in(&actions);
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0].certificate.round, 2);
    assert_eq!(decisions[0].block, b);
}

#[test]
fn line_49_an_invalid_block_is_not_decided() {
    let (mut f, _) = Fixture::start(&[1, 1, 1, 1], 0);
    let b = f.block(1);
    f.app.invalid.insert(b.hash);
    f.propose(0, &b, None);
    let actions = f.votes(&[1, 2, 3], VoteType::Precommit, 0, Some(b.hash));
    assert!(decisions_in(&actions).is_empty());
}

// ---- Line 55: f+1 messages of a higher round ----

#[test]
fn line_55_more_than_a_third_in_a_higher_round_skips_to_it() {
    let (mut f, _) = Fixture::start(&[1, 1, 1, 1], 0);
    let actions = f.votes(&[2], VoteType::Prevote, 3, None);
    assert!(actions.is_empty(), "one of four is not more than a third");
    assert_eq!(f.status().round, 0);
    let actions = f.votes(&[3], VoteType::Precommit, 3, None);
    assert_eq!(f.status().round, 3);
    // Round 3 is "me"'s to propose.
    assert_eq!(proposals_in(&actions).len(), 1);
}

#[test]
fn line_55_counts_stake_and_proposals() {
    // Stakes 1, 1, 1, 4 (total 7): validator 3 alone holds more than a third.
    let (mut f, _) = Fixture::start(&[1, 1, 1, 4], 0);
    let b = f.block(9);
    // The proposer of round 2 is validator 3.
    assert_eq!(f.net.set.proposer(H, 2).address, f.net.addrs[3]);
    f.propose(2, &b, None);
    assert_eq!(f.status().round, 2);
}

#[test]
fn rounds_more_than_1000_ahead_are_dropped() {
    let (mut f, _) = Fixture::start(&[1, 1, 1, 1], 0);
    f.votes(&[1, 2, 3], VoteType::Prevote, 1001, None);
    assert_eq!(f.status().round, 0);
    f.votes(&[1, 2], VoteType::Prevote, 1000, None);
    assert_eq!(f.status().round, 1000);
}

// ---- Timeouts (lines 57-65) ----

#[test]
fn timeouts_act_only_in_their_round_and_step() {
    let (mut f, _) = Fixture::start(&[1, 1, 1, 1], 0);
    assert!(f
        .core
        .on_timeout(TimeoutKind::Propose, H + 1, 0, &mut f.app)
        .is_empty());
    assert!(f.timeout(TimeoutKind::Propose, 1).is_empty());
    assert!(
        f.timeout(TimeoutKind::Prevote, 0).is_empty(),
        "still in propose"
    );
    let actions = f.timeout(TimeoutKind::Propose, 0);
    assert_eq!(signed(&actions), vec![(VoteType::Prevote, 0, None)]);
    assert!(
        f.timeout(TimeoutKind::Propose, 0).is_empty(),
        "already prevoted"
    );
    let actions = f.timeout(TimeoutKind::Prevote, 0);
    assert_eq!(signed(&actions), vec![(VoteType::Precommit, 0, None)]);
    assert!(f.timeout(TimeoutKind::Prevote, 0).is_empty());
    let actions = f.timeout(TimeoutKind::Precommit, 0);
    assert_eq!(f.status().round, 1);
    assert_eq!(f.status().step, Step::Propose);
    assert_eq!(timeouts_in(&actions), vec![(TimeoutKind::Propose, 1, 800)]);
    assert!(
        f.timeout(TimeoutKind::Precommit, 0).is_empty(),
        "stale round"
    );
    assert_eq!(f.status().round, 1);
}

// ---- Vote dedup and equivocation ----

#[test]
fn duplicates_are_ignored_and_equivocation_is_kept_as_evidence() {
    let (mut f, _) = Fixture::start(&[1, 1, 1, 1], 0);
    let a = f.block(1);
    let b = f.block(2);
    f.propose(0, &b, None); // "me" prevotes b
    let first = f.vote(1, VoteType::Prevote, 0, Some(a.hash));
    let second = f.vote(1, VoteType::Prevote, 0, Some(b.hash));
    f.core.on_vote(first.clone(), &mut f.app).unwrap();
    assert!(f
        .core
        .on_vote(first.clone(), &mut f.app)
        .unwrap()
        .is_empty());
    let actions = f.core.on_vote(second.clone(), &mut f.app).unwrap();
    let evidence = Equivocation {
        first: first.clone(),
        second: second.clone(),
    };
    assert_eq!(actions, vec![Action::Equivocation(evidence.clone())]);
    assert_eq!(f.core.evidence(), &[evidence]);
    // The conflicting vote is not counted: me + 2 for b is still no polka.
    let actions = f.votes(&[2], VoteType::Prevote, 0, Some(b.hash));
    assert!(signed(&actions).is_empty());
    // Sent again, the evidence is not repeated.
    assert!(f.core.on_vote(second, &mut f.app).unwrap().is_empty());
    let actions = f.votes(&[3], VoteType::Prevote, 0, Some(b.hash));
    assert_eq!(
        signed(&actions),
        vec![(VoteType::Precommit, 0, Some(b.hash))]
    );
}

#[test]
fn held_votes_are_the_counted_ones_then_the_evidence() {
    let (mut f, _) = Fixture::start(&[1, 1, 1, 1], 0);
    let a = f.block(1);
    let b = f.block(2);
    f.propose(0, &b, None); // "me" prevotes b
    let mine = f.core.own_messages().1;
    assert_eq!(mine.len(), 1);
    let first = f.vote(1, VoteType::Prevote, 0, Some(a.hash));
    let second = f.vote(1, VoteType::Prevote, 0, Some(b.hash));
    let precommit = f.vote(2, VoteType::Precommit, 0, None);
    assert!(!f.core.holds_vote(&first));
    for v in [&first, &second, &precommit] {
        f.core.on_vote(v.clone(), &mut f.app).unwrap();
    }
    assert!(f.core.holds_vote(&first) && f.core.holds_vote(&mine[0]));
    assert!(!f.core.holds_vote(&second), "evidence, not counted");
    let mut held = f.core.held_votes();
    assert_eq!(held.pop(), Some(second));
    held.sort_by_key(|v| (v.round, v.vote_type, v.validator));
    let mut want = vec![mine[0].clone(), first.clone(), precommit];
    want.sort_by_key(|v| (v.round, v.vote_type, v.validator));
    assert_eq!(held, want);
    // A vote of another height, or round far ahead (dropped unchecked), is not held.
    let far = f.vote(3, VoteType::Prevote, 5000, None);
    f.core.on_vote(far.clone(), &mut f.app).unwrap();
    assert!(!f.core.holds_vote(&far));
}

#[test]
fn a_restart_from_two_conflicting_own_prevotes_goes_on_with_the_first() {
    let (mut f, _) = Fixture::start(&[1, 1, 1, 1], 0);
    let b = f.block(1);
    f.propose(0, &b, None);
    let first = f.core.own_messages().1[0].clone();
    let second = f.vote(0, VoteType::Prevote, 0, None);
    let recorded = Recorded {
        proposals: vec![],
        votes: vec![first.clone(), second],
    };
    let (g, actions) = Fixture::restart(&[1, 1, 1, 1], 0, recorded);
    assert_eq!(signed(&actions), vec![(VoteType::Prevote, 0, Some(b.hash))]);
    assert_eq!(g.core.own_messages().1, vec![first]);
}

#[test]
fn prevotes_and_precommits_are_separate_kinds_of_vote() {
    let (mut f, _) = Fixture::start(&[1, 1, 1, 1], 0);
    let b = f.block(1);
    f.votes(&[1], VoteType::Prevote, 0, Some(b.hash));
    let actions = f.votes(&[1], VoteType::Precommit, 0, None);
    assert!(actions.is_empty());
    assert!(f.core.evidence().is_empty());
}

// ---- Who may vote and propose ----

#[test]
fn bad_messages_are_rejected_with_a_reason() {
    let (mut f, _) = Fixture::start(&[1, 1, 1, 1], 0);
    let b = f.block(1);
    let wrong = Proposal::sign(CHAIN, 0, b.clone(), None, f.net.addrs[2], &f.net.keys[2]);
    assert!(matches!(
        f.core.on_proposal(wrong, &mut f.app),
        Err(Rejected::WrongProposer { round: 0, .. })
    ));
    let mut forged = f.proposal(0, &b, None);
    forged.signature = clp::Signature::from([1; 64]);
    assert!(matches!(
        f.core.on_proposal(forged, &mut f.app),
        Err(Rejected::BadSignature(_))
    ));
    // A proposal for height 1 whose block is of height 2.
    let mut p = Proposal::sign(
        CHAIN,
        0,
        block(H + 1, 1, f.net.addrs[1]),
        None,
        f.net.addrs[1],
        &f.net.keys[1],
    );
    p.height = H;
    let sig = ed25519_dalek::Signer::sign(&f.net.keys[1], &p.sign_bytes(CHAIN));
    p.signature = clp::Signature::from(sig.to_bytes());
    assert!(matches!(
        f.core.on_proposal(p, &mut f.app),
        Err(Rejected::Malformed(_))
    ));
    let mut bad_hash = f.block(1);
    bad_hash.time_ms += 1;
    let p = f.proposal(0, &bad_hash, None);
    assert!(matches!(
        f.core.on_proposal(p, &mut f.app),
        Err(Rejected::Malformed(_))
    ));
    let mut v = f.vote(1, VoteType::Prevote, 0, None);
    v.round = 1;
    assert!(matches!(
        f.core.on_vote(v, &mut f.app),
        Err(Rejected::BadSignature(_))
    ));
    let stranger = ed25519_dalek::SigningKey::from_bytes(&[77; 32]);
    let addr = crate::test_support::address_of(&stranger);
    let v = Vote::sign(CHAIN, VoteType::Prevote, H, 0, None, addr, &stranger);
    assert_eq!(f.core.on_vote(v, &mut f.app), Err(Rejected::NoPower(addr)));
    assert_eq!(f.status().step, Step::Propose, "nothing was counted");
}

#[test]
fn a_zero_stake_member_neither_votes_nor_proposes() {
    // Validator 1 has stake 0: it is skipped as proposer and its votes are refused.
    let (mut f, _) = Fixture::start(&[1, 0, 1, 1], 0);
    let v = f.vote(1, VoteType::Prevote, 0, None);
    assert_eq!(
        f.core.on_vote(v, &mut f.app),
        Err(Rejected::NoPower(f.net.addrs[1]))
    );
    assert!(f
        .net
        .set
        .members()
        .iter()
        .all(|m| m.address != f.net.addrs[1]));
    // Quorum over 3 validators of stake 1 is 3: 0, 2 and 3 decide.
    let b = f.block(2);
    let proposer = f.net.set.proposer(H, 0).address;
    let i = f.net.index(&proposer);
    let p = Proposal::sign(CHAIN, 0, b.clone(), None, proposer, &f.net.keys[i]);
    f.core.on_proposal(p, &mut f.app).unwrap();
    f.votes(&[2, 3], VoteType::Prevote, 0, Some(b.hash));
    let actions = f.votes(&[2, 3], VoteType::Precommit, 0, Some(b.hash));
    assert_eq!(decisions_in(&actions).len(), 1);

    // Its own node only follows.
    let (mut z, actions) = Fixture::start(&[1, 0, 1, 1], 1);
    assert_eq!(timeouts_in(&actions), vec![(TimeoutKind::Propose, 0, 600)]);
    assert!(z.timeout(TimeoutKind::Propose, 0).is_empty());
    assert_eq!(z.status().step, Step::Prevote);
    assert!(z.core.own_messages().1.is_empty());
}

#[test]
fn a_follower_without_a_key_decides_without_signing() {
    let net = Net::new(&[1, 1, 1, 1]);
    let mut app = TestApp::default();
    let mut core = Consensus::new(CHAIN, timeouts());
    core.start_height(H, net.set.clone(), None, Recorded::default(), &mut app);
    let b = block(H, 1, net.addrs[1]);
    let p = Proposal::sign(CHAIN, 0, b.clone(), None, net.addrs[1], &net.keys[1]);
    let mut all = core.on_proposal(p, &mut app).unwrap();
    for i in 1..4 {
        for t in [VoteType::Prevote, VoteType::Precommit] {
            let v = Vote::sign(CHAIN, t, H, 0, Some(b.hash), net.addrs[i], &net.keys[i]);
            all.extend(core.on_vote(v, &mut app).unwrap());
        }
    }
    assert!(signed(&all).is_empty());
    assert_eq!(decisions_in(&all).len(), 1);
}

// ---- Restart from recorded own messages ----

#[test]
fn a_restarted_validator_never_signs_a_conflicting_vote() {
    let (mut f, _) = Fixture::start(&[1, 1, 1, 1], 0);
    let b = f.block(1);
    let actions = f.propose(0, &b, None);
    let recorded = Recorded {
        proposals: vec![],
        votes: f.core.own_messages().1,
    };
    assert_eq!(signed(&actions), vec![(VoteType::Prevote, 0, Some(b.hash))]);
    let (mut g, actions) = Fixture::restart(&[1, 1, 1, 1], 0, recorded);
    // The recorded prevote is sent again, and the step is after it.
    assert_eq!(signed(&actions), vec![(VoteType::Prevote, 0, Some(b.hash))]);
    assert_eq!(g.status().step, Step::Prevote);
    // A propose timeout or another proposal does not produce a second prevote.
    assert!(signed(&g.timeout(TimeoutKind::Propose, 0)).is_empty());
    // A nil polka leads to a precommit nil (a different vote type: allowed).
    let actions = g.votes(&[1, 2, 3], VoteType::Prevote, 0, None);
    assert_eq!(signed(&actions), vec![(VoteType::Precommit, 0, None)]);
}

#[test]
fn a_restarted_validator_keeps_its_lock() {
    let (mut f, _) = Fixture::start(&[1, 1, 1, 1], 0);
    let v = f.block(1);
    f.lock_in_round_0(&v);
    let recorded = Recorded {
        proposals: vec![],
        votes: f.core.own_messages().1,
    };
    let (mut g, actions) = Fixture::restart(&[1, 1, 1, 1], 0, recorded);
    assert_eq!(
        signed(&actions),
        vec![
            (VoteType::Prevote, 0, Some(v.hash)),
            (VoteType::Precommit, 0, Some(v.hash))
        ]
    );
    let s = g.status();
    assert_eq!((s.round, s.step), (0, Step::Precommit));
    assert_eq!((s.locked_round, s.locked_hash), (Some(0), Some(v.hash)));
    g.next_round(0);
    let w = g.block(2);
    let actions = g.propose(1, &w, None);
    assert_eq!(signed(&actions), vec![(VoteType::Prevote, 1, None)]);
}

#[test]
fn a_restarted_validator_resumes_at_its_highest_round() {
    let (mut f, _) = Fixture::start(&[1, 1, 1, 1], 0);
    f.next_round(0);
    f.next_round(1);
    f.timeout(TimeoutKind::Propose, 2);
    let recorded = Recorded {
        proposals: vec![],
        votes: f.core.own_messages().1,
    };
    assert_eq!(recorded.votes.len(), 1);
    let (g, _) = Fixture::restart(&[1, 1, 1, 1], 0, recorded);
    assert_eq!((g.status().round, g.status().step), (2, Step::Prevote));
}

#[test]
fn a_restarted_proposer_re_sends_its_proposal_not_a_new_one() {
    let (_, actions) = Fixture::start(&[1, 1, 1, 1], 1);
    let proposal = proposals_in(&actions)[0].clone();
    let net = Net::new(&[1, 1, 1, 1]);
    // Asked to build, this node would now build another block.
    let mut app = TestApp {
        me: Some(net.addrs[2]),
        builds: true,
        ..TestApp::default()
    };
    let mut core = Consensus::new(CHAIN, timeouts());
    let recorded = Recorded {
        proposals: vec![proposal.clone()],
        votes: vec![],
    };
    let actions = core.start_height(
        H,
        net.set.clone(),
        Some(net.keys[1].clone()),
        recorded,
        &mut app,
    );
    assert_eq!(proposals_in(&actions), vec![proposal.clone()]);
    assert_eq!(
        signed(&actions),
        vec![(VoteType::Prevote, 0, Some(proposal.block.hash))]
    );
}

// ---- Sync, buffering, relaying ----

#[test]
fn a_valid_certificate_decides_and_a_bad_one_is_refused() {
    let (mut f, _) = Fixture::start(&[1, 1, 1, 1], 0);
    let b = f.block(1);
    let votes: Vec<Vote> = [1, 2, 3]
        .iter()
        .map(|i| f.vote(*i, VoteType::Precommit, 4, Some(b.hash)))
        .collect();
    let cert = CommitCertificate {
        height: H,
        round: 4,
        block_hash: b.hash,
        votes,
    };
    let mut short = cert.clone();
    short.votes.pop();
    assert!(matches!(
        f.core.on_certificate(b.clone(), short),
        Err(Rejected::Certificate(_))
    ));
    let mut tampered = b.clone();
    tampered.time_ms += 1;
    assert!(matches!(
        f.core.on_certificate(tampered, cert.clone()),
        Err(Rejected::Certificate(_))
    ));
    f.app.invalid.insert(b.hash); // a certificate does not ask for validity
    let actions = f.core.on_certificate(b.clone(), cert.clone()).unwrap();
    assert_eq!(
        decisions_in(&actions),
        vec![Decision {
            block: b.clone(),
            certificate: cert.clone()
        }]
    );
    assert!(
        f.core.on_certificate(b, cert).unwrap().is_empty(),
        "already decided"
    );
}

#[test]
fn messages_for_the_next_heights_are_buffered_and_replayed() {
    let (mut f, _) = Fixture::start(&[1, 1, 1, 1], 0);
    // Height 2's round-0 proposer is validator 2.
    let b2 = block(H + 1, 5, f.net.addrs[2]);
    let p2 = Proposal::sign(CHAIN, 0, b2.clone(), None, f.net.addrs[2], &f.net.keys[2]);
    assert!(f.core.on_proposal(p2, &mut f.app).unwrap().is_empty());
    let far = Vote::sign(
        CHAIN,
        VoteType::Prevote,
        H + 5,
        0,
        None,
        f.net.addrs[1],
        &f.net.keys[1],
    );
    assert!(f.core.on_vote(far, &mut f.app).unwrap().is_empty());
    let key = f.net.keys[0].clone();
    let actions = f.core.start_height(
        H + 1,
        f.net.set.clone(),
        Some(key),
        Recorded::default(),
        &mut f.app,
    );
    assert_eq!(
        signed(&actions),
        vec![(VoteType::Prevote, 0, Some(b2.hash))]
    );
    // Stale messages are ignored without error.
    let old = f.vote(1, VoteType::Prevote, 0, None);
    assert!(f.core.on_vote(old, &mut f.app).unwrap().is_empty());
    assert_eq!(f.core.height(), H + 1);
}

#[test]
fn relay_messages_are_the_polka_then_the_decision() {
    let (mut f, _) = Fixture::start(&[1, 1, 1, 1], 0);
    assert_eq!(f.core.relay_messages(), (vec![], vec![]));
    let b = f.block(1);
    f.lock_in_round_0(&b);
    let (proposals, votes) = f.core.relay_messages();
    assert_eq!(proposals, vec![f.proposal(0, &b, None)]);
    assert_eq!(votes.len(), 3);
    assert!(votes
        .iter()
        .all(|v| v.vote_type == VoteType::Prevote && v.block_hash == Some(b.hash)));
    let actions = f.votes(&[1, 2], VoteType::Precommit, 0, Some(b.hash));
    let d = decisions_in(&actions).remove(0);
    let (proposals, votes) = f.core.relay_messages();
    assert_eq!(proposals, vec![f.proposal(0, &b, None)]);
    assert_eq!(votes, d.certificate.votes);
}

#[test]
fn own_messages_are_the_signed_ones_of_the_height() {
    let (mut f, _) = Fixture::start(&[1, 1, 1, 1], 0);
    let b = f.block(1);
    f.lock_in_round_0(&b);
    let (p, v) = f.core.own_messages();
    assert!(p.is_empty());
    assert_eq!(v.len(), 2);
    assert!(v.iter().all(|v| v.validator == f.net.addrs[f.me]));
}

#[test]
fn inputs_before_the_first_height_or_for_a_later_height_are_refused() {
    let net = Net::new(&[1, 1, 1, 1]);
    let mut app = TestApp::default();
    let mut core = Consensus::new(CHAIN, timeouts());
    let v = Vote::sign(
        CHAIN,
        VoteType::Prevote,
        H,
        0,
        None,
        net.addrs[1],
        &net.keys[1],
    );
    assert_eq!(core.on_vote(v, &mut app), Err(Rejected::NotStarted));
    assert!(core
        .on_timeout(TimeoutKind::Propose, H, 0, &mut app)
        .is_empty());
    assert_eq!(core.status(), None);
    assert_eq!(core.height(), 0);

    let (mut f, _) = Fixture::start(&[1, 1, 1, 1], 0);
    let later = block(H + 1, 1, f.net.addrs[1]);
    let cert = CommitCertificate {
        height: H + 1,
        round: 0,
        block_hash: later.hash,
        votes: vec![],
    };
    assert!(matches!(
        f.core.on_certificate(later, cert),
        Err(Rejected::Certificate(_))
    ));
}

#[test]
fn a_vote_past_a_quorum_is_dropped_unchecked_unless_it_is_evidence() {
    let (mut f, _) = Fixture::start(&[1, 1, 1, 1, 1], 0); // quorum: 4 of 5
    let b = f.block(1);
    let other = f.block(2);
    f.propose(0, &b, None); // "me" prevotes b
    let forged = |f: &Fixture, i: usize, value: Option<BlockHash>| {
        let mut v = f.vote(i, VoteType::Prevote, 0, value);
        v.signature = clp::Signature::from([9; 64]);
        v
    };
    // Before the quorum a forged vote is checked and refused.
    assert!(matches!(
        f.core.on_vote(forged(&f, 4, Some(b.hash)), &mut f.app),
        Err(Rejected::BadSignature(_))
    ));
    f.votes(&[1, 2, 3], VoteType::Prevote, 0, Some(b.hash)); // 4 of 5: a polka for b
                                                             // Past it, a vote for b from a validator with no vote here changes nothing: dropped
                                                             // unchecked, not held.
    let late = forged(&f, 4, Some(b.hash));
    assert_eq!(f.core.on_vote(late.clone(), &mut f.app), Ok(vec![]));
    assert!(!f.core.holds_vote(&late));
    // A vote for another value is still checked (no quorum for it) ...
    assert!(matches!(
        f.core.on_vote(forged(&f, 4, Some(other.hash)), &mut f.app),
        Err(Rejected::BadSignature(_))
    ));
    // ... and so is one for b from a validator that voted otherwise: evidence.
    let (mut g, _) = Fixture::start(&[1, 1, 1, 1, 1], 0);
    g.propose(0, &b, None);
    g.votes(&[4], VoteType::Prevote, 0, Some(other.hash));
    g.votes(&[1, 2, 3], VoteType::Prevote, 0, Some(b.hash));
    assert!(matches!(
        g.core.on_vote(forged(&g, 4, Some(b.hash)), &mut g.app),
        Err(Rejected::BadSignature(_))
    ));
    let second = g.vote(4, VoteType::Prevote, 0, Some(b.hash));
    let actions = g.core.on_vote(second.clone(), &mut g.app).unwrap();
    assert!(actions
        .iter()
        .any(|a| matches!(a, Action::Equivocation(e) if e.second == second)));
}

#[test]
fn relays_leave_out_what_a_peer_signed_or_its_votes_show_it_holds() {
    let (mut f, _) = Fixture::start(&[1, 1, 1, 1], 0);
    let b = f.block(1);
    f.propose(0, &b, None); // "me" prevotes b
    f.votes(&[1, 2], VoteType::Prevote, 0, Some(b.hash)); // the polka; "me" precommits
    let (proposals, votes) = f.core.relay_messages();
    assert_eq!(proposals.len(), 1);
    let voters = |votes: &[Vote]| votes.iter().map(|v| v.validator).collect::<Vec<_>>();
    let mut all = voters(&votes);
    all.sort();
    let mut want = vec![f.net.addrs[0], f.net.addrs[1], f.net.addrs[2]];
    want.sort();
    assert_eq!(all, want);
    let proposer = proposals[0].proposer;
    // Peer 3 voted nothing: everything but what it signed itself.
    let (p3, v3) = f.core.relay_messages_for(&f.net.addrs[3]);
    assert_eq!(p3.len(), usize::from(proposer != f.net.addrs[3]));
    assert_eq!(v3.len(), 3);
    // Peer 1 prevoted b: it has the proposal, and its own prevote is not sent back.
    let (p1, v1) = f.core.relay_messages_for(&f.net.addrs[1]);
    assert!(p1.is_empty());
    assert!(!voters(&v1).contains(&f.net.addrs[1]) && v1.len() == 2);
    // Peer 2 precommitted b: it has the polka too.
    f.votes(&[2], VoteType::Precommit, 0, Some(b.hash));
    let (p2, v2) = f.core.relay_messages_for(&f.net.addrs[2]);
    assert!(p2.is_empty() && v2.is_empty());
}
