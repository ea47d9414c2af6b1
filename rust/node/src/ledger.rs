//! The votes and own answers a node keeps for `GET /alpha/consensus/votes` and
//! `GET /alpha/clp/answers` (docs/protocol.md §11): every signed prevote and precommit it
//! holds, its own and received, each once, and the challenges it answered with when it
//! first sent each answer. Votes are kept for the heights of the current and previous
//! epoch, answers the last [`ANSWERS_KEPT`] (a whole run's, for the harness); for one
//! (height, round, type, validator) at most the first two distinct votes (an equivocation's
//! evidence), and at most [`VOTES_PER_VALIDATOR`] for one (height, validator), so a
//! flood of signed votes for ever higher rounds cannot grow it either.

use std::collections::BTreeMap;

use clp::{Address, Hash32};
use clp_consensus::Vote;

/// A vote's place in the served order: (height, round, type byte, validator, block hash).
type VoteKey = (u64, u64, u8, Address, Option<Hash32>);

/// At most this many distinct votes per (height, round, type, validator).
pub const VOTES_PER_SLOT: usize = 2;

/// How many of its newest answers a node keeps (as the reference).
pub const ANSWERS_KEPT: usize = 4096;

/// At most this many votes of one validator at one height: two types over many rounds
/// (an honest validator reaches round 100 only after minutes without a decision).
pub const VOTES_PER_VALIDATOR: usize = 256;

#[derive(Debug, Default, Clone)]
pub struct Ledger {
    votes: BTreeMap<VoteKey, Vote>,
    /// How many votes each (height, validator) has in `votes`.
    per_validator: BTreeMap<(u64, Address), usize>,
    /// challenge height → when this node first sent its answer (its clock, Unix ms).
    answers: BTreeMap<u64, u64>,
    /// The lowest height still held (nothing below it is kept).
    oldest: u64,
    /// The lowest height held completely: after a restart, the heights before it and the
    /// one the node was deciding when it stopped lost the votes it had received.
    complete_from: u64,
}

fn key(v: &Vote) -> VoteKey {
    (
        v.height,
        v.round,
        v.vote_type.sign_byte(),
        v.validator,
        v.block_hash,
    )
}

/// The lowest height kept at head `head` with epochs of `epoch_length`: the first height
/// of the previous epoch's worth of blocks, `head - 2E + 1`, or 1.
pub fn window_floor(head: u64, epoch_length: u64) -> u64 {
    (head + 1)
        .saturating_sub(epoch_length.saturating_mul(2))
        .max(1)
}

impl Ledger {
    pub fn new() -> Self {
        Self {
            oldest: 1,
            ..Self::default()
        }
    }

    /// `oldest` of §11: the lowest height whose votes are held completely.
    pub fn oldest(&self) -> u64 {
        self.oldest.max(self.complete_from).max(1)
    }

    /// Declares that nothing received below `height` is held (a restart).
    pub fn complete_from(&mut self, height: u64) {
        self.complete_from = self.complete_from.max(height);
    }

    /// Keeps `vote` (whose signature the caller verified); false when it is held already,
    /// below the window, a third distinct vote for its slot, or over the validator's
    /// bound at its height.
    pub fn record_vote(&mut self, vote: &Vote) -> bool {
        if vote.height < self.oldest.max(1) {
            return false;
        }
        let k = key(vote);
        if self.votes.contains_key(&k) {
            return false;
        }
        let slot_start = (k.0, k.1, k.2, k.3, None);
        let slot_end = (k.0, k.1, k.2, k.3, Some(Hash32([0xff; 32])));
        if self.votes.range(slot_start..=slot_end).count() >= VOTES_PER_SLOT {
            return false;
        }
        let count = self.per_validator.entry((k.0, k.3)).or_default();
        if *count >= VOTES_PER_VALIDATOR {
            return false;
        }
        *count += 1;
        self.votes.insert(k, vote.clone());
        true
    }

    /// Whether exactly this vote is held.
    pub fn holds(&self, vote: &Vote) -> bool {
        self.votes.get(&key(vote)) == Some(vote)
    }

    /// Notes that this node sent its answer to the challenge of height `h` at `sent_at_ms`
    /// (the first sending counts); the oldest answer goes beyond [`ANSWERS_KEPT`].
    pub fn record_answer(&mut self, h: u64, sent_at_ms: u64) {
        self.answers.entry(h).or_insert(sent_at_ms);
        while self.answers.len() > ANSWERS_KEPT {
            self.answers.pop_first();
        }
    }

    /// The challenge heights of the oldest and newest answer kept.
    pub fn answer_span(&self) -> Option<(u64, u64)> {
        Some((
            *self.answers.keys().next()?,
            *self.answers.keys().next_back()?,
        ))
    }

    /// Forgets the votes below height `oldest`.
    pub fn prune(&mut self, oldest: u64) {
        if oldest <= self.oldest {
            return;
        }
        self.oldest = oldest;
        self.votes = self
            .votes
            .split_off(&(oldest, 0, 0, Address([0; 20]), None));
        self.per_validator = self.per_validator.split_off(&(oldest, Address([0; 20])));
    }

    /// The votes of heights `from..=to` in the served order.
    pub fn votes(&self, from: u64, to: u64) -> Vec<Vote> {
        if from > to {
            return Vec::new();
        }
        self.votes
            .range((from, 0, 0, Address([0; 20]), None)..)
            .take_while(|(k, _)| k.0 <= to)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// `(challenge_height, sent_at_ms)` of the answers to challenges `from..=to`.
    pub fn answers(&self, from: u64, to: u64) -> Vec<(u64, u64)> {
        if from > to {
            return Vec::new();
        }
        self.answers
            .range(from..=to)
            .map(|(h, t)| (*h, *t))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clp_consensus::VoteType;
    use ed25519_dalek::SigningKey;

    fn vote(t: VoteType, h: u64, r: u64, hash: Option<u8>, key: u8) -> Vote {
        let sk = SigningKey::from_bytes(&[key; 32]);
        let pk = clp::PublicKey(sk.verifying_key().to_bytes());
        Vote::sign(
            "c",
            t,
            h,
            r,
            hash.map(|b| Hash32([b; 32])),
            Address::from_public_key(&pk),
            &sk,
        )
    }

    #[test]
    fn votes_come_back_once_in_order() {
        let mut l = Ledger::new();
        let pc = vote(VoteType::Precommit, 2, 0, Some(1), 1);
        let pv = vote(VoteType::Prevote, 2, 0, Some(1), 1);
        let late = vote(VoteType::Prevote, 1, 3, None, 2);
        assert!(l.record_vote(&pc));
        assert!(l.record_vote(&pv));
        assert!(l.record_vote(&late));
        assert!(!l.record_vote(&pc), "held once");
        assert_eq!(l.votes(1, 2), vec![late.clone(), pv.clone(), pc.clone()]);
        assert_eq!(l.votes(2, 2), vec![pv, pc]);
        assert_eq!(l.votes(3, 9), vec![]);
        assert_eq!(l.votes(2, 1), vec![]);
    }

    #[test]
    fn an_equivocation_keeps_its_first_two_votes_only() {
        let mut l = Ledger::new();
        let a = vote(VoteType::Prevote, 5, 1, Some(1), 7);
        let b = vote(VoteType::Prevote, 5, 1, None, 7);
        let c = vote(VoteType::Prevote, 5, 1, Some(2), 7);
        assert!(l.record_vote(&a) && l.record_vote(&b));
        assert!(!l.record_vote(&c));
        assert_eq!(l.votes(5, 5).len(), 2);
        // Another validator's slot is its own.
        assert!(l.record_vote(&vote(VoteType::Prevote, 5, 1, Some(2), 8)));
    }

    #[test]
    fn pruning_forgets_below_the_window() {
        let mut l = Ledger::new();
        for h in 1..=50 {
            assert!(l.record_vote(&vote(VoteType::Precommit, h, 0, Some(1), 1)));
            l.record_answer(h, 1000 + h);
        }
        l.record_answer(10, 1);
        assert_eq!(
            l.answers(10, 10),
            vec![(10, 1010)],
            "the first sending counts"
        );
        l.prune(window_floor(50, 20));
        assert_eq!(l.oldest(), 11);
        assert_eq!(l.votes(1, 100).first().map(|v| v.height), Some(11));
        assert_eq!(
            l.answers(1, 100).len(),
            50,
            "answers are not pruned with votes"
        );
        assert_eq!(l.answer_span(), Some((1, 50)));
        assert!(!l.record_vote(&vote(VoteType::Prevote, 10, 0, None, 1)));
        l.prune(5);
        assert_eq!(l.oldest(), 11, "the window never moves back");
    }

    #[test]
    fn the_newest_answers_are_kept() {
        let mut l = Ledger::new();
        assert_eq!(l.answer_span(), None);
        for h in 1..=ANSWERS_KEPT as u64 + 10 {
            l.record_answer(h, h);
        }
        assert_eq!(l.answer_span(), Some((11, ANSWERS_KEPT as u64 + 10)));
    }

    #[test]
    fn one_validator_cannot_flood_a_height() {
        let mut l = Ledger::new();
        let mut kept = 0;
        for r in 0..VOTES_PER_VALIDATOR as u64 {
            kept += usize::from(l.record_vote(&vote(VoteType::Prevote, 3, r, None, 1)));
        }
        assert_eq!(kept, VOTES_PER_VALIDATOR);
        let over = vote(VoteType::Precommit, 3, 0, None, 1);
        assert!(!l.record_vote(&over));
        assert!(!l.holds(&over));
        // Another validator, or the next height, has its own bound.
        assert!(l.record_vote(&vote(VoteType::Precommit, 3, 0, None, 2)));
        assert!(l.record_vote(&vote(VoteType::Precommit, 4, 0, None, 1)));
        l.prune(4);
        assert!(l.votes(1, 3).is_empty());
    }

    #[test]
    fn a_restart_says_which_heights_are_complete() {
        let mut l = Ledger::new();
        l.complete_from(8);
        assert_eq!(l.oldest(), 8);
        // The own votes of the height it was deciding are still kept and served.
        let own = vote(VoteType::Prevote, 7, 0, Some(1), 1);
        assert!(l.record_vote(&own));
        assert_eq!(l.votes(7, 7), vec![own]);
        l.prune(5);
        assert_eq!(l.oldest(), 8, "pruning below it does not lower it");
        l.prune(9);
        assert_eq!(l.oldest(), 9);
    }

    #[test]
    fn the_window_is_two_epochs_or_from_height_one() {
        assert_eq!(window_floor(0, 20), 1);
        assert_eq!(window_floor(40, 20), 1);
        assert_eq!(window_floor(41, 20), 2);
        assert_eq!(window_floor(100, 20), 61);
    }
}
