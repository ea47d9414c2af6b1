//! The votes of one (height, round, type): one per validator, power per value, and
//! equivocation detection.

use std::collections::BTreeMap;

use crate::{Address, BlockHash, Vote};

/// What adding a vote did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Added {
    /// A new vote, counted.
    New,
    /// The same vote again: ignored.
    Duplicate,
    /// A different vote from a validator that already voted: not counted; the first.
    Conflict(Box<Vote>),
}

/// Votes of one type in one round, with the power behind each value (`None` = nil).
#[derive(Debug, Clone, Default)]
pub(crate) struct VoteSet {
    votes: BTreeMap<Address, Vote>,
    power_by_value: BTreeMap<Option<BlockHash>, u128>,
    total: u128,
}

impl VoteSet {
    /// Adds a verified vote of a validator with `power`.
    pub(crate) fn add(&mut self, vote: Vote, power: u64) -> Added {
        if let Some(first) = self.votes.get(&vote.validator) {
            // The same value again is a resend, whatever its signature bytes.
            return if first.block_hash == vote.block_hash {
                Added::Duplicate
            } else {
                Added::Conflict(Box::new(first.clone()))
            };
        }
        *self.power_by_value.entry(vote.block_hash).or_default() += u128::from(power);
        self.total += u128::from(power);
        self.votes.insert(vote.validator, vote);
        Added::New
    }

    /// Whether exactly this vote (signature included) is already counted: a re-sent copy
    /// needs no second signature check.
    pub(crate) fn contains(&self, vote: &Vote) -> bool {
        self.votes.get(&vote.validator) == Some(vote)
    }

    /// The counted vote of `validator`, if any.
    pub(crate) fn of(&self, validator: &Address) -> Option<&Vote> {
        self.votes.get(validator)
    }

    /// The power voting for `value`.
    pub(crate) fn power_for(&self, value: Option<BlockHash>) -> u128 {
        self.power_by_value.get(&value).copied().unwrap_or(0)
    }

    /// The power of all votes, any value.
    pub(crate) fn total(&self) -> u128 {
        self.total
    }

    /// The values with their power, nil first then by hash.
    pub(crate) fn values(&self) -> impl Iterator<Item = (Option<BlockHash>, u128)> + '_ {
        self.power_by_value.iter().map(|(v, p)| (*v, *p))
    }

    /// Every counted vote, in validator address order.
    pub(crate) fn all(&self) -> impl Iterator<Item = &Vote> + '_ {
        self.votes.values()
    }

    /// The votes for `value`, in validator address order.
    pub(crate) fn votes_for(&self, value: Option<BlockHash>) -> Vec<Vote> {
        self.votes
            .values()
            .filter(|v| v.block_hash == value)
            .cloned()
            .collect()
    }
}
