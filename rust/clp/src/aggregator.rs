//! Aggregation (§7, `ResponseAggregator`): which responses each open challenge got, and
//! the per-validator counters a challenge's deadline updates.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::challenge::ClpChallenge;
use crate::types::{Address, BPS_MAX};

/// A committee member's CLP record: counters of the current epoch plus the running streak
/// of missed challenges. Serialises to a `validator_statuses` entry of `/alpha/clp/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ValidatorCounters {
    /// The member.
    pub address: Address,
    /// Challenges of this epoch finalized so far that expected this member.
    pub challenges: u64,
    /// Of those, the ones it answered in time.
    pub responses: u64,
    /// Of those, the ones it missed.
    pub missed: u64,
    /// Challenges missed in a row; carries across epoch boundaries.
    pub consecutive_failures: u64,
    /// `responses * 10000 // challenges`, 10000 with no challenge.
    pub rate_bps: u64,
}

impl ValidatorCounters {
    /// A member with nothing counted yet and the given streak.
    pub fn new(address: Address, consecutive_failures: u64) -> ValidatorCounters {
        ValidatorCounters {
            address,
            challenges: 0,
            responses: 0,
            missed: 0,
            consecutive_failures,
            rate_bps: BPS_MAX,
        }
    }

    fn count(&mut self, responded: bool) {
        self.challenges += 1;
        if responded {
            self.responses += 1;
            self.consecutive_failures = 0;
        } else {
            self.missed += 1;
            self.consecutive_failures += 1;
        }
        self.rate_bps = rate_bps(self.responses, self.challenges);
    }
}

/// `responses * 10000 // challenges`; 10000 when there was no challenge (§8).
pub fn rate_bps(responses: u64, challenges: u64) -> u64 {
    if challenges == 0 {
        BPS_MAX
    } else {
        (u128::from(responses) * u128::from(BPS_MAX) / u128::from(challenges)) as u64
    }
}

/// What the deadline of one challenge decided, in address order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FinalizedChallenge {
    /// The challenge's height h.
    pub height: u64,
    /// Expected members whose response was included by `h + W`.
    pub responded: Vec<Address>,
    /// Expected members whose response was not.
    pub missed: Vec<Address>,
}

/// An open challenge and the members whose responses are on chain.
#[derive(Debug, Clone)]
struct OpenChallenge {
    challenge: ClpChallenge,
    responded: BTreeSet<Address>,
}

/// Open challenges and the counters of the current committee (§7).
#[derive(Debug, Clone, Default)]
pub struct ResponseAggregator {
    counters: BTreeMap<Address, ValidatorCounters>,
    open: BTreeMap<u64, OpenChallenge>,
}

impl ResponseAggregator {
    /// An aggregator for the committee of epoch 0 (all streaks 0).
    pub fn new(committee: impl IntoIterator<Item = Address>) -> ResponseAggregator {
        let mut a = ResponseAggregator::default();
        a.start_epoch(committee);
        a
    }

    /// Starts a new epoch's counters at 0 for every member of `committee`; a member's
    /// `consecutive_failures` carries over, members no longer in the committee are dropped.
    pub fn start_epoch(&mut self, committee: impl IntoIterator<Item = Address>) {
        let old = std::mem::take(&mut self.counters);
        for a in committee {
            let streak = old.get(&a).map_or(0, |c| c.consecutive_failures);
            self.counters.insert(a, ValidatorCounters::new(a, streak));
        }
    }

    /// Opens a freshly derived challenge.
    pub fn register_challenge(&mut self, challenge: ClpChallenge) {
        self.open.insert(
            challenge.height,
            OpenChallenge {
                challenge,
                responded: BTreeSet::new(),
            },
        );
    }

    /// The open challenge of height `h`, if any.
    pub fn challenge(&self, height: u64) -> Option<&ClpChallenge> {
        self.open.get(&height).map(|o| &o.challenge)
    }

    /// Open challenges in height order.
    pub fn open_challenges(&self) -> Vec<ClpChallenge> {
        self.open.values().map(|o| o.challenge.clone()).collect()
    }

    /// Whether a response for `(h, validator)` is on chain.
    pub fn has_response(&self, height: u64, validator: &Address) -> bool {
        self.open
            .get(&height)
            .is_some_and(|o| o.responded.contains(validator))
    }

    /// Step (1): records an included response; false when its challenge is not open or
    /// the response is a duplicate (a valid block never gives either).
    pub fn record_response(&mut self, height: u64, validator: Address) -> bool {
        match self.open.get_mut(&height) {
            Some(o) if o.challenge.expected.contains(&validator) => o.responded.insert(validator),
            _ => false,
        }
    }

    /// Step (2): finalizes the challenge whose deadline is `block_height`, if any: each
    /// expected member in address order gets `challenges += 1` and either a response
    /// (streak reset) or a miss (streak + 1).
    pub fn finalize_due(&mut self, block_height: u64) -> Option<FinalizedChallenge> {
        let h = self
            .open
            .iter()
            .find(|(_, o)| o.challenge.deadline == block_height)
            .map(|(h, _)| *h)?;
        let o = self.open.remove(&h)?;
        let mut out = FinalizedChallenge {
            height: h,
            responded: Vec::new(),
            missed: Vec::new(),
        };
        for v in &o.challenge.expected {
            let responded = o.responded.contains(v);
            if let Some(c) = self.counters.get_mut(v) {
                c.count(responded);
            }
            if responded {
                out.responded.push(*v);
            } else {
                out.missed.push(*v);
            }
        }
        Some(out)
    }

    /// The counters of a current committee member.
    pub fn counters(&self, address: &Address) -> Option<&ValidatorCounters> {
        self.counters.get(address)
    }

    /// Every current member's counters, by address.
    pub fn all_counters(&self) -> &BTreeMap<Address, ValidatorCounters> {
        &self.counters
    }
}
