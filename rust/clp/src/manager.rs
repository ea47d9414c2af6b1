//! `ClpManager`: the CLP state machine a node drives by applying finalized blocks in
//! order (§3–§8). It owns the stakes, the burn, every epoch's committee snapshot, the open
//! challenges and the epoch results. A node restarts by replaying its blocks into a fresh
//! manager, so there is no snapshot format.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::aggregator::{FinalizedChallenge, ResponseAggregator, ValidatorCounters};
use crate::challenge::{should_generate, ClpChallenge};
use crate::penalty::{ClpEpochResult, MemberRecord, PenaltyEvaluator, SlashError, ValidatorStatus};
use crate::response::{response_digest, verify_signature, ClpResponse, RejectReason};
use crate::types::{Address, ClpConfig, GenesisValidator, Hash32, PublicKey, Signature, BPS_MAX};

/// A member of an epoch's committee snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommitteeMember {
    pub address: Address,
    pub name: String,
    pub public_key: PublicKey,
    /// Its stake when the epoch began (after the previous epoch's slashes): its voting
    /// power. A member may have stake 0 (slashed to nothing, ejection deferred).
    pub stake: u64,
}

/// `committee(e)`: the members in address order with their snapshot stakes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Committee {
    pub epoch: u64,
    /// In address order.
    pub members: Vec<CommitteeMember>,
    /// The sum of the members' stakes.
    pub total_stake: u64,
}

impl Committee {
    /// The member with this address.
    pub fn member(&self, address: &Address) -> Option<&CommitteeMember> {
        self.members
            .binary_search_by_key(address, |m| m.address)
            .ok()
            .map(|i| &self.members[i])
    }

    /// Whether `address` is a member.
    pub fn contains(&self, address: &Address) -> bool {
        self.member(address).is_some()
    }

    /// The members' addresses in address order.
    pub fn addresses(&self) -> Vec<Address> {
        self.members.iter().map(|m| m.address).collect()
    }
}

/// What applying one finalized block did, in the §7 step order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlockOutcome {
    pub height: u64,
    /// Step (2): the challenge whose deadline was this height.
    pub challenge_finalized: Option<FinalizedChallenge>,
    /// Step (3): the result of the epoch this height closed.
    pub epoch_result: Option<ClpEpochResult>,
    /// Step (4): the challenge derived from this block.
    pub challenge: Option<ClpChallenge>,
}

/// The `/alpha/clp/validator/{address}` record (§11).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidatorInfo {
    pub address: Address,
    /// The current epoch's rate in basis points (10000 with no challenge yet, or when
    /// the validator is not in the current committee).
    pub response_rate: u64,
    /// The running streak (0 when not in the current committee).
    pub consecutive_failures: u64,
    /// `ejected` once ejected; else its status in the last epoch it was evaluated in;
    /// `active` before any.
    pub status: ValidatorStatus,
    /// Its stake now.
    pub stake: u64,
    /// Everything ever slashed from it.
    pub slashed_total: u64,
    /// Whether it is in the current (next block's) epoch's committee.
    pub in_committee: bool,
    /// The epoch whose evaluation ejected it.
    pub ejected_at_epoch: Option<u64>,
    /// Its weight in the last epoch it was evaluated in; 10000 before any.
    pub governance_weight_bps: u64,
}

/// A genesis the manager cannot start from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    #[error("chain_id: must be 1-64 printable ASCII characters")]
    ChainId,
    #[error("validators: empty")]
    NoValidators,
    #[error("validators: {0} is listed twice")]
    DuplicateAddress(Address),
    #[error("validators: {0} is not the address of its public_key")]
    AddressMismatch(Address),
    #[error("validators: {0} has stake 0 (stakes are positive)")]
    ZeroStake(Address),
    #[error("validators: the total stake overflows")]
    StakeOverflow,
    #[error("clp.{0}")]
    Config(#[from] crate::types::ConfigError),
}

/// A block the manager refuses (nothing of it is applied).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    #[error("block height {got} applied, expected {expected}")]
    WrongHeight { expected: u64, got: u64 },
    #[error("response {index} of block {height} is invalid: {reason}")]
    InvalidResponse {
        height: u64,
        index: usize,
        reason: RejectReason,
    },
    #[error("epoch evaluation: {0}")]
    Slash(#[from] SlashError),
}

/// Responses whose signature verified here, by (challenge height, validator, signature).
/// A response is judged on arrival, for every proposal that may carry it and when its
/// block is applied; with the chain id and the challenge of that height fixed, one
/// verification (a key decompression and a strict check) answers them all. A memo of a
/// fact about bytes, not state: clones share it, and it forgets expired challenges.
#[derive(Debug, Clone, Default)]
struct VerifiedResponses(Arc<Mutex<BTreeSet<(u64, Address, Signature)>>>);

impl VerifiedResponses {
    fn check(&self, key: (u64, Address, Signature), verify: impl FnOnce() -> bool) -> bool {
        if self.0.lock().expect("memo lock").contains(&key) {
            return true;
        }
        let ok = verify();
        if ok {
            self.0.lock().expect("memo lock").insert(key);
        }
        ok
    }

    /// Forgets the responses to challenges below `height`.
    fn forget_below(&self, height: u64) {
        self.0
            .lock()
            .expect("memo lock")
            .retain(|(h, _, _)| *h >= height);
    }

    fn len(&self) -> usize {
        self.0.lock().expect("memo lock").len()
    }
}

/// The CLP state machine; see the module documentation.
#[derive(Debug, Clone)]
pub struct ClpManager {
    chain_id: String,
    config: ClpConfig,
    penalty: PenaltyEvaluator,
    validators: BTreeMap<Address, GenesisValidator>,
    stakes: BTreeMap<Address, u64>,
    burned: u64,
    genesis_total: u64,
    height: u64,
    /// `committees[e]` is `committee(e)`.
    committees: Vec<Committee>,
    aggregator: ResponseAggregator,
    /// `results[e]` is the result of epoch e.
    results: Vec<ClpEpochResult>,
    slashed_totals: BTreeMap<Address, u64>,
    ejected_at: BTreeMap<Address, u64>,
    verified: VerifiedResponses,
}

impl ClpManager {
    /// A manager at height 0 from the genesis `chain_id`, `clp` parameters and validators.
    pub fn new(
        chain_id: &str,
        config: ClpConfig,
        validators: Vec<GenesisValidator>,
    ) -> Result<ClpManager, GenesisError> {
        if chain_id.is_empty()
            || chain_id.len() > 64
            || !chain_id.bytes().all(|c| (0x20..0x7f).contains(&c))
        {
            return Err(GenesisError::ChainId);
        }
        config.validate()?;
        if validators.is_empty() {
            return Err(GenesisError::NoValidators);
        }
        let mut by_address = BTreeMap::new();
        let mut total: u64 = 0;
        for v in validators {
            if Address::from_public_key(&v.public_key) != v.address {
                return Err(GenesisError::AddressMismatch(v.address));
            }
            if v.stake == 0 {
                return Err(GenesisError::ZeroStake(v.address));
            }
            total = total
                .checked_add(v.stake)
                .ok_or(GenesisError::StakeOverflow)?;
            let address = v.address;
            if by_address.insert(address, v).is_some() {
                return Err(GenesisError::DuplicateAddress(address));
            }
        }
        let stakes: BTreeMap<Address, u64> =
            by_address.values().map(|v| (v.address, v.stake)).collect();
        let mut m = ClpManager {
            chain_id: chain_id.to_string(),
            config,
            penalty: PenaltyEvaluator::new(config),
            validators: by_address,
            stakes,
            burned: 0,
            genesis_total: total,
            height: 0,
            committees: Vec::new(),
            aggregator: ResponseAggregator::default(),
            results: Vec::new(),
            slashed_totals: BTreeMap::new(),
            ejected_at: BTreeMap::new(),
            verified: VerifiedResponses::default(),
        };
        let genesis: Vec<Address> = m.validators.keys().copied().collect();
        m.push_committee(0, &genesis);
        m.aggregator.start_epoch(genesis);
        Ok(m)
    }

    fn push_committee(&mut self, epoch: u64, addresses: &[Address]) {
        let members: Vec<CommitteeMember> = addresses
            .iter()
            .map(|a| {
                let v = &self.validators[a];
                CommitteeMember {
                    address: *a,
                    name: v.name.clone(),
                    public_key: v.public_key,
                    stake: self.stakes[a],
                }
            })
            .collect();
        let total_stake = members.iter().map(|m| m.stake).sum();
        debug_assert_eq!(self.committees.len() as u64, epoch);
        self.committees.push(Committee {
            epoch,
            members,
            total_stake,
        });
    }

    /// The chain id responses are signed for.
    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }

    /// The frozen parameters.
    pub fn config(&self) -> &ClpConfig {
        &self.config
    }

    /// The last applied (finalized) height; 0 at genesis.
    pub fn height(&self) -> u64 {
        self.height
    }

    /// `epoch(height)`, the head's epoch of `/alpha/chain/head`; 0 at height 0 (§3).
    /// The "current epoch" of the committee and CLP status endpoints is
    /// [`ClpManager::next_block_epoch`].
    pub fn current_epoch(&self) -> u64 {
        self.config.epoch(self.height)
    }

    /// `epoch(height + 1)`: the epoch of the next block, whose committee is in force (§11's
    /// current epoch of `/alpha/committee` and `/alpha/clp/status`).
    pub fn next_block_epoch(&self) -> u64 {
        self.config.epoch(self.height + 1)
    }

    /// Judges `response` for inclusion in the block at height `block_height` (normally
    /// `height() + 1`) by the §5 rules in order, given the responses earlier in that
    /// block (or, for a POSTed response, the ones already pending). `MALFORMED` is
    /// the caller's, from a failed parse: a parsed [`ClpResponse`] is well formed.
    pub fn check_response(
        &self,
        block_height: u64,
        response: &ClpResponse,
        earlier: &[ClpResponse],
    ) -> Result<(), RejectReason> {
        let h = response.challenge_height;
        let b = block_height;
        // 2. UNKNOWN_CHALLENGE
        if !should_generate(&self.config, h) || h >= b {
            return Err(RejectReason::UnknownChallenge);
        }
        // 3. EXPIRED
        if b > h.saturating_add(self.config.response_window) {
            return Err(RejectReason::Expired);
        }
        // The challenge of h was derived when block h was applied; judging a block more
        // than one past the head leaves it unknown here.
        let Some(challenge) = self.aggregator.challenge(h) else {
            return Err(RejectReason::UnknownChallenge);
        };
        // 4. NOT_IN_COMMITTEE
        let in_committee = self
            .committee(self.config.epoch(h))
            .is_some_and(|c| c.contains(&response.validator));
        if !in_committee {
            return Err(RejectReason::NotInCommittee);
        }
        // 5. DUPLICATE
        if self.aggregator.has_response(h, &response.validator)
            || earlier.iter().any(|r| r.key() == response.key())
        {
            return Err(RejectReason::Duplicate);
        }
        // 6. BAD_SIGNATURE
        let key = &self.validators[&response.validator].public_key;
        let verified = self
            .verified
            .check((h, response.validator, response.signature), || {
                let digest =
                    response_digest(&self.chain_id, h, &challenge.value, &response.validator);
                verify_signature(key, &digest, &response.signature)
            });
        if !verified {
            return Err(RejectReason::BadSignature);
        }
        Ok(())
    }

    /// How many verified responses the manager remembers (they expire with their
    /// challenges' windows).
    pub fn verified_responses(&self) -> usize {
        self.verified.len()
    }

    /// Applies finalized block `height` (must be `height() + 1`) with hash `block_hash`
    /// and its responses, in the §7 step order. Every response is judged first; an
    /// invalid one refuses the whole block and changes nothing.
    pub fn apply_block(
        &mut self,
        height: u64,
        block_hash: &Hash32,
        responses: &[ClpResponse],
    ) -> Result<BlockOutcome, ApplyError> {
        let expected = self.height + 1;
        if height != expected {
            return Err(ApplyError::WrongHeight {
                expected,
                got: height,
            });
        }
        for (index, r) in responses.iter().enumerate() {
            self.check_response(height, r, &responses[..index])
                .map_err(|reason| ApplyError::InvalidResponse {
                    height,
                    index,
                    reason,
                })?;
        }
        // A block that closes an epoch is applied to a copy, so that an evaluation error
        // (impossible with a validated config) leaves the manager untouched.
        let closes = self.config.closes_epoch(height);
        if closes.is_some() {
            let mut next = self.clone();
            let outcome = next.apply_valid(height, block_hash, responses, closes)?;
            *self = next;
            return Ok(outcome);
        }
        self.apply_valid(height, block_hash, responses, None)
    }

    /// Steps (1)-(4) for a block whose responses are valid.
    fn apply_valid(
        &mut self,
        height: u64,
        block_hash: &Hash32,
        responses: &[ClpResponse],
        closes: Option<u64>,
    ) -> Result<BlockOutcome, ApplyError> {
        // (1) record the block's responses
        for r in responses {
            self.aggregator
                .record_response(r.challenge_height, r.validator);
        }
        // (2) finalize the challenge whose deadline is this height
        let challenge_finalized = self.aggregator.finalize_due(height);
        // (3) evaluate the epoch this height closes
        let epoch_result = match closes {
            Some(e) => Some(self.close_epoch(e)?),
            None => None,
        };
        self.height = height;
        // The next block takes responses to challenges from height + 1 - W on.
        self.verified
            .forget_below((height + 1).saturating_sub(self.config.response_window));
        // (4) derive the challenge of this block
        let challenge = if should_generate(&self.config, height) {
            let committee = self.committees[self.config.epoch(height) as usize].addresses();
            let c =
                ClpChallenge::derive(&self.config, &self.chain_id, height, block_hash, committee);
            self.aggregator.register_challenge(c.clone());
            Some(c)
        } else {
            None
        };
        Ok(BlockOutcome {
            height,
            challenge_finalized,
            epoch_result,
            challenge,
        })
    }

    /// Step (3): evaluates epoch `e`, applies slashes and ejections, and starts
    /// `committee(e+1)`.
    fn close_epoch(&mut self, e: u64) -> Result<ClpEpochResult, SlashError> {
        let committee = &self.committees[e as usize];
        let members: Vec<MemberRecord> = committee
            .members
            .iter()
            .map(|m| MemberRecord {
                address: m.address,
                stake: m.stake,
                counters: self
                    .aggregator
                    .counters(&m.address)
                    .copied()
                    .unwrap_or_else(|| ValidatorCounters::new(m.address, 0)),
            })
            .collect();
        let result = self.penalty.evaluate_epoch(e, &members, self.burned)?;
        for o in &result.validators {
            let stake = self.stakes.get_mut(&o.address).expect("member has a stake");
            *stake -= o.slashed;
            *self.slashed_totals.entry(o.address).or_insert(0) += o.slashed;
        }
        self.burned = result.burned_total;
        for a in &result.ejected {
            self.ejected_at.insert(*a, e);
        }
        self.push_committee(e + 1, &result.next_committee);
        self.aggregator
            .start_epoch(result.next_committee.iter().copied());
        self.results.push(result.clone());
        Ok(result)
    }

    /// `committee(e)`, once known (epoch 0 from genesis, e+1 once e is evaluated).
    pub fn committee(&self, epoch: u64) -> Option<&Committee> {
        self.committees.get(usize::try_from(epoch).ok()?)
    }

    /// The committee of the next block's epoch (`epoch(height() + 1)`): the voting set.
    pub fn next_block_committee(&self) -> &Committee {
        let e = self.next_block_epoch() as usize;
        &self.committees[e.min(self.committees.len() - 1)]
    }

    /// Every genesis validator, by address.
    pub fn validators(&self) -> &BTreeMap<Address, GenesisValidator> {
        &self.validators
    }

    /// A genesis validator's public key.
    pub fn public_key(&self, address: &Address) -> Option<&PublicKey> {
        self.validators.get(address).map(|v| &v.public_key)
    }

    /// The stake of every genesis validator now (ejected ones included).
    pub fn stakes(&self) -> &BTreeMap<Address, u64> {
        &self.stakes
    }

    /// Everything burned by slashes so far.
    pub fn burned(&self) -> u64 {
        self.burned
    }

    /// The genesis total stake: `sum(stakes) + burned` at every height.
    pub fn genesis_total(&self) -> u64 {
        self.genesis_total
    }

    /// The `validator_statuses` of `/alpha/clp/status`: the counters of the committee in
    /// force (the next block's; fresh ones right after an epoch closes).
    pub fn validator_statuses(&self) -> &BTreeMap<Address, ValidatorCounters> {
        self.aggregator.all_counters()
    }

    /// The `/alpha/clp/validator/{address}` record of a genesis validator.
    pub fn validator_info(&self, address: &Address) -> Option<ValidatorInfo> {
        let stake = *self.stakes.get(address)?;
        let in_committee = self.next_block_committee().contains(address);
        let counters = self.aggregator.counters(address).filter(|_| in_committee);
        let last = self.results.iter().rev().find_map(|r| r.outcome(address));
        let ejected_at_epoch = self.ejected_at.get(address).copied();
        let status = if ejected_at_epoch.is_some() {
            ValidatorStatus::Ejected
        } else {
            last.map_or(ValidatorStatus::Active, |o| o.status)
        };
        Some(ValidatorInfo {
            address: *address,
            response_rate: counters.map_or(BPS_MAX, |c| c.rate_bps),
            consecutive_failures: counters.map_or(0, |c| c.consecutive_failures),
            status,
            stake,
            slashed_total: self.slashed_totals.get(address).copied().unwrap_or(0),
            in_committee,
            ejected_at_epoch,
            governance_weight_bps: last.map_or(BPS_MAX, |o| o.governance_weight_bps),
        })
    }

    /// Open challenges (derived, deadline not yet applied) in height order.
    pub fn active_challenges(&self) -> Vec<ClpChallenge> {
        self.aggregator.open_challenges()
    }

    /// The open challenge of height `h`.
    pub fn challenge(&self, height: u64) -> Option<&ClpChallenge> {
        self.aggregator.challenge(height)
    }

    /// The result of epoch `e`, once evaluated.
    pub fn epoch_result(&self, epoch: u64) -> Option<&ClpEpochResult> {
        self.results.get(usize::try_from(epoch).ok()?)
    }

    /// The most recent epoch result.
    pub fn last_epoch_result(&self) -> Option<&ClpEpochResult> {
        self.results.last()
    }

    /// Every ejected validator and the epoch whose evaluation ejected it.
    pub fn ejected(&self) -> &BTreeMap<Address, u64> {
        &self.ejected_at
    }

    /// Addresses ever ejected (never slashed again: they are in no later committee).
    pub fn ejected_set(&self) -> BTreeSet<Address> {
        self.ejected_at.keys().copied().collect()
    }
}
