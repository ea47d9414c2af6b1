//! Epoch evaluation (§8, `PenaltyEvaluator`): rates, the systemic rule, slashes, the
//! capped ejections, statuses and governance weight, and the `ClpEpochResult` it yields.

use serde::{Deserialize, Serialize};

use crate::aggregator::ValidatorCounters;
use crate::types::{Address, ClpConfig, BPS_MAX};

/// A member's status after an epoch is evaluated (§8), serialised in snake case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValidatorStatus {
    /// Passed, not evaluated, or failed in a systemic epoch.
    Active,
    /// Failed, not ejected, epoch not systemic.
    Slashed,
    /// A candidate for ejection held back by the cap.
    EjectionDeferred,
    /// Left the next committee.
    Ejected,
}

impl ValidatorStatus {
    /// The status as served.
    pub fn as_str(&self) -> &'static str {
        match self {
            ValidatorStatus::Active => "active",
            ValidatorStatus::Slashed => "slashed",
            ValidatorStatus::EjectionDeferred => "ejection_deferred",
            ValidatorStatus::Ejected => "ejected",
        }
    }
}

/// One member's line of a [`ClpEpochResult`]; field order is the JSON order of §8.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorEpochOutcome {
    pub address: Address,
    pub challenges: u64,
    pub responses: u64,
    pub rate_bps: u64,
    pub slashed: u64,
    pub status: ValidatorStatus,
    pub consecutive_failures: u64,
    pub stake_after: u64,
    pub governance_weight_bps: u64,
}

/// The result of evaluating epoch `epoch`, stored and served identically by every node
/// (§8); field order is the JSON order of §8.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClpEpochResult {
    pub epoch: u64,
    pub systemic: bool,
    /// The whole committee in address order.
    pub validators: Vec<ValidatorEpochOutcome>,
    pub slashed_total: u64,
    /// In address order.
    pub ejected: Vec<Address>,
    /// `committee(epoch + 1)` in address order.
    pub next_committee: Vec<Address>,
    /// The cumulative burn after this epoch.
    pub burned_total: u64,
    pub governance_weight_total_bps: u64,
}

impl ClpEpochResult {
    /// A member's outcome.
    pub fn outcome(&self, address: &Address) -> Option<&ValidatorEpochOutcome> {
        self.validators.iter().find(|o| &o.address == address)
    }
}

/// A slash that would break conservation (never produced from a valid config).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("slash {slash} of stake {stake} is out of range")]
pub struct SlashError {
    pub stake: u64,
    pub slash: u64,
}

/// A committee member as the evaluator sees it: its snapshot stake and its counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberRecord {
    pub address: Address,
    /// Its stake in the epoch's committee snapshot.
    pub stake: u64,
    /// Its counters at the epoch's end.
    pub counters: ValidatorCounters,
}

/// The penalty rules of §8 for one chain's parameters.
#[derive(Debug, Clone, Copy)]
pub struct PenaltyEvaluator {
    pub config: ClpConfig,
}

impl PenaltyEvaluator {
    pub fn new(config: ClpConfig) -> PenaltyEvaluator {
        PenaltyEvaluator { config }
    }

    /// `min(stake * slash_fraction_bps // 10000, stake)`, checked before it is applied.
    pub fn calculate_slash(&self, stake: u64) -> Result<u64, SlashError> {
        let raw =
            u128::from(stake) * u128::from(self.config.slash_fraction_bps) / u128::from(BPS_MAX);
        let slash = raw.min(u128::from(stake)) as u64;
        if slash > stake {
            return Err(SlashError { stake, slash });
        }
        Ok(slash)
    }

    /// `min((n - 1) // 3, n - min_committee_size)`, never negative.
    pub fn ejection_cap(&self, committee_size: usize) -> usize {
        let n = committee_size as u64;
        let bft = n.saturating_sub(1) / 3;
        let floor = n.saturating_sub(self.config.min_committee_size);
        bft.min(floor) as usize
    }

    /// Systemic iff `failing_stake > 0` and
    /// `failing_stake * 10000 >= committee_stake * systemic_fault_bps`.
    pub fn is_systemic(&self, failing_stake: u64, committee_stake: u64) -> bool {
        failing_stake > 0
            && u128::from(failing_stake) * u128::from(BPS_MAX)
                >= u128::from(committee_stake) * u128::from(self.config.systemic_fault_bps)
    }

    /// Evaluates epoch `epoch` over its committee (`members`, any order) given the burn
    /// before it. The stakes after the epoch are each outcome's `stake_after`.
    pub fn evaluate_epoch(
        &self,
        epoch: u64,
        members: &[MemberRecord],
        burned_before: u64,
    ) -> Result<ClpEpochResult, SlashError> {
        let mut members = members.to_vec();
        members.sort_by_key(|m| m.address);
        let committee_stake: u64 = members.iter().map(|m| m.stake).sum();

        let evaluated = |m: &MemberRecord| m.counters.challenges > 0;
        let fails = |m: &MemberRecord| {
            evaluated(m) && m.counters.rate_bps < self.config.min_response_rate_bps
        };
        let failing_stake: u64 = members.iter().filter(|m| fails(m)).map(|m| m.stake).sum();
        let systemic = self.is_systemic(failing_stake, committee_stake);

        // Slashes (none in a systemic epoch).
        let mut slashed = Vec::with_capacity(members.len());
        for m in &members {
            let s = if !systemic && fails(m) {
                self.calculate_slash(m.stake)?
            } else {
                0
            };
            slashed.push(s);
        }
        let stake_after = |i: usize| members[i].stake - slashed[i];

        // Ejection candidates, ordered and capped (none in a systemic epoch).
        let mut candidates: Vec<usize> = if systemic {
            Vec::new()
        } else {
            (0..members.len())
                .filter(|&i| {
                    let m = &members[i];
                    evaluated(m)
                        && (m.counters.consecutive_failures >= self.config.max_consecutive_failures
                            || stake_after(i) < self.config.min_stake)
                })
                .collect()
        };
        candidates.sort_by_key(|&i| {
            (
                std::cmp::Reverse(members[i].counters.consecutive_failures),
                stake_after(i),
                members[i].address,
            )
        });
        let cap = self.ejection_cap(members.len());
        let ejected_idx: Vec<usize> = candidates.iter().copied().take(cap).collect();
        let deferred_idx: Vec<usize> = candidates.iter().copied().skip(cap).collect();

        let mut validators = Vec::with_capacity(members.len());
        for (i, m) in members.iter().enumerate() {
            let status = if ejected_idx.contains(&i) {
                ValidatorStatus::Ejected
            } else if deferred_idx.contains(&i) {
                ValidatorStatus::EjectionDeferred
            } else if fails(m) && !systemic {
                ValidatorStatus::Slashed
            } else {
                ValidatorStatus::Active
            };
            let governance_weight_bps = if status == ValidatorStatus::Ejected {
                0
            } else {
                m.counters.rate_bps
            };
            validators.push(ValidatorEpochOutcome {
                address: m.address,
                challenges: m.counters.challenges,
                responses: m.counters.responses,
                rate_bps: m.counters.rate_bps,
                slashed: slashed[i],
                status,
                consecutive_failures: m.counters.consecutive_failures,
                stake_after: stake_after(i),
                governance_weight_bps,
            });
        }
        let slashed_total: u64 = slashed.iter().sum();
        let ejected: Vec<Address> = validators
            .iter()
            .filter(|o| o.status == ValidatorStatus::Ejected)
            .map(|o| o.address)
            .collect();
        let next_committee: Vec<Address> = validators
            .iter()
            .filter(|o| o.status != ValidatorStatus::Ejected)
            .map(|o| o.address)
            .collect();
        let governance_weight_total_bps = validators.iter().map(|o| o.governance_weight_bps).sum();
        Ok(ClpEpochResult {
            epoch,
            systemic,
            validators,
            slashed_total,
            ejected,
            next_committee,
            burned_total: burned_before + slashed_total,
            governance_weight_total_bps,
        })
    }
}
