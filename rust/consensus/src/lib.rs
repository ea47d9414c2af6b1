//! Consensus for the CLP chain (docs/protocol.md §9, §16.6): blocks, votes, proposals,
//! commit certificates, the stake-weighted validator set and Tendermint (Buchman, Kwon,
//! Milosevic 2018, Algorithm 1) as a pure state machine. No I/O, no clock, no
//! randomness: the node is the shell around it.
//!
//! # Using the core
//!
//! ```text
//! let mut core = Consensus::new(chain_id, timeouts);          // genesis timeouts (§2)
//! actions = core.start_height(h, validator_set(h), Some(key), recorded_own_msgs(h), &mut app);
//! loop {
//!     actions = match input {
//!         proposal from a peer  => core.on_proposal(p, &mut app)?,   // Err: log, drop
//!         vote from a peer      => core.on_vote(v, &mut app)?,
//!         timeout fired         => core.on_timeout(kind, height, round, &mut app),
//!         block + cert (sync)   => core.on_certificate(block, cert)?,
//!         gossip tick (§16.7)   => re-send core.own_messages() and core.relay_messages(),
//!     };
//!     for action in actions {          // in order
//!         SignedProposal(p) / SignedVote(v) => record durably, THEN broadcast
//!         ScheduleTimeout(t)               => timer calling on_timeout(t.kind, t.height, t.round)
//!         Decide(d)                        => apply d.block, store d.certificate, wait
//!                                             block_interval_ms, start_height(h + 1, ...)
//!         Equivocation(e)                  => log / keep as evidence
//!     }
//! }
//! ```
//!
//! The node implements [`Application`]: `validate` (§16.8: is this block valid on my
//! chain), `is_timely` (§16.6 clock drift, for fresh proposals) and `build_block` (the
//! block I propose). Own signed messages must be persisted before they are sent and
//! handed back in [`Recorded`] when a height is (re)started, so a restarted validator
//! never signs a conflicting vote; recording the same message twice must be harmless (a
//! restart re-emits them). Messages for the next 4 heights are buffered by the core and
//! replayed by `start_height`. On the wire a vote or proposal is a [`ConsensusMessage`]
//! (`{"kind": "vote"|"proposal", ...}`, §16.4); a certificate's votes are plain [`Vote`]s.

pub mod block;
pub mod certificate;
pub mod core;
pub mod proposal;
#[cfg(test)]
mod test_support;
pub mod validators;
pub mod vote;

pub use clp::{Address, ClpResponse, Hash32, Signature};

/// A block hash (§9.1) is a 32-byte digest.
pub type BlockHash = Hash32;

pub use block::{Block, BlockError};
pub use certificate::{CertificateError, CommitCertificate};
pub use core::{
    Action, Application, Consensus, Decision, Equivocation, Recorded, Rejected, Status, Step,
    Timeout, TimeoutConfig, TimeoutKind,
};
pub use proposal::{proposal_sign_bytes, BadProposalSignature, ConsensusMessage, Proposal};
pub use validators::{Validator, ValidatorSet, ValidatorSetError};
pub use vote::{vote_sign_bytes, BadVoteSignature, Vote, VoteType};
