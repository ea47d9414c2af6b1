//! The pure CLP core (docs/protocol.md §2–§8): parameters, challenges, responses,
//! aggregation, epoch evaluation and the state machine a node drives with finalized
//! blocks. No I/O, no clock, no randomness: every node computes the same results.

pub mod aggregator;
pub mod challenge;
pub mod manager;
pub mod penalty;
pub mod response;
pub mod types;

pub use aggregator::{rate_bps, FinalizedChallenge, ResponseAggregator, ValidatorCounters};
pub use challenge::{challenge_preimage, challenge_value, should_generate, ClpChallenge};
pub use manager::{
    ApplyError, BlockOutcome, ClpManager, Committee, CommitteeMember, GenesisError, ValidatorInfo,
};
pub use penalty::{
    ClpEpochResult, MemberRecord, PenaltyEvaluator, SlashError, ValidatorEpochOutcome,
    ValidatorStatus,
};
pub use response::{
    response_digest, response_preimage, verify_signature, ClpResponse, RejectReason,
};
pub use types::{
    blake2b_256, Address, ClpConfig, ConfigError, GenesisValidator, Hash32, HexError, PublicKey,
    Signature, BPS_MAX,
};
