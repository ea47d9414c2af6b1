//! The node's finalized head and the chain rules that need it: block validity (§16.8) and
//! the validator set of a height (§16.6). Pure functions over a [`ClpManager`].

use std::collections::BTreeSet;

use clp::{Address, ClpManager, Hash32};
use clp_consensus::validators::proposer_index;
use clp_consensus::{Block, Validator, ValidatorSet, ValidatorSetError};
use ed25519_dalek::VerifyingKey;

/// The last finalized block as the chain rules need it (genesis: height 0, the genesis
/// hash, time 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainHead {
    pub height: u64,
    pub hash: Hash32,
    pub time_ms: u64,
}

impl ChainHead {
    /// The head before block 1.
    pub fn genesis(genesis_hash: Hash32) -> Self {
        ChainHead {
            height: 0,
            hash: genesis_hash,
            time_ms: 0,
        }
    }

    /// The head once `block` is finalized.
    pub fn of(block: &Block) -> Self {
        ChainHead {
            height: block.height,
            hash: block.hash,
            time_ms: block.time_ms,
        }
    }
}

/// Why a block does not extend the head; the codes are §16.8's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidBlock {
    #[error("WRONG_CHAIN: chain_id {0:?}")]
    WrongChain(String),
    #[error("WRONG_HEIGHT: height {got}, expected {expected}")]
    WrongHeight { expected: u64, got: u64 },
    #[error("WRONG_PARENT: parent {0} is not the head")]
    WrongParent(Hash32),
    #[error("TIME_NOT_MONOTONIC: time_ms {got} is before the head's {head}")]
    TimeNotMonotonic { head: u64, got: u64 },
    #[error("BAD_PROPOSER: {0} is not in the committee of the block's epoch")]
    BadProposer(clp::Address),
    #[error("UNSORTED_RESPONSES: at index {0}")]
    UnsortedResponses(usize),
    #[error("INVALID_RESPONSE: response {index}: {reason}")]
    InvalidResponse {
        index: usize,
        reason: clp::RejectReason,
    },
}

/// §16.8: does `block` extend `head`, with `manager` at the head's height? (The block's
/// own hash is checked when it is decoded.)
pub fn check_block(
    manager: &ClpManager,
    head: &ChainHead,
    block: &Block,
) -> Result<(), InvalidBlock> {
    if block.chain_id != manager.chain_id() {
        return Err(InvalidBlock::WrongChain(block.chain_id.clone()));
    }
    if block.height != head.height + 1 {
        return Err(InvalidBlock::WrongHeight {
            expected: head.height + 1,
            got: block.height,
        });
    }
    if block.parent_hash != head.hash {
        return Err(InvalidBlock::WrongParent(block.parent_hash));
    }
    if block.time_ms < head.time_ms {
        return Err(InvalidBlock::TimeNotMonotonic {
            head: head.time_ms,
            got: block.time_ms,
        });
    }
    let epoch = manager.config().epoch(block.height);
    if !manager
        .committee(epoch)
        .is_some_and(|c| c.contains(&block.proposer))
    {
        return Err(InvalidBlock::BadProposer(block.proposer));
    }
    if let Some(i) = block
        .responses
        .windows(2)
        .position(|w| w[0].key() >= w[1].key())
    {
        return Err(InvalidBlock::UnsortedResponses(i + 1));
    }
    for (index, r) in block.responses.iter().enumerate() {
        manager
            .check_response(block.height, r, &block.responses[..index])
            .map_err(|reason| InvalidBlock::InvalidResponse { index, reason })?;
    }
    Ok(())
}

/// Why no validator set exists for a height.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoValidatorSet {
    #[error("committee of epoch {0} is not known yet")]
    UnknownEpoch(u64),
    #[error("a genesis public key is not an Ed25519 point")]
    BadKey,
    #[error(transparent)]
    Set(#[from] ValidatorSetError),
}

/// The validator set of `height` (§16.6): the members of `committee(epoch(height))` with
/// stake > 0, power = stake. Known once the epoch before it is evaluated.
pub fn validator_set(manager: &ClpManager, height: u64) -> Result<ValidatorSet, NoValidatorSet> {
    let epoch = manager.config().epoch(height);
    let committee = manager
        .committee(epoch)
        .ok_or(NoValidatorSet::UnknownEpoch(epoch))?;
    let members = committee
        .members
        .iter()
        .map(|m| {
            Ok(Validator {
                address: m.address,
                public_key: VerifyingKey::from_bytes(&m.public_key.0)
                    .map_err(|_| NoValidatorSet::BadKey)?,
                stake: m.stake,
            })
        })
        .collect::<Result<Vec<_>, NoValidatorSet>>()?;
    Ok(ValidatorSet::new(members)?)
}

/// The round-0 proposers (§16.6) of the `count` heights after `head`, each from its own
/// epoch's committee (an epoch not derived yet adds none): who may include a pending
/// response next, and so whom §16.7's relay of someone else's response is for.
pub fn next_proposers(manager: &ClpManager, head: u64, count: u64) -> BTreeSet<Address> {
    let mut proposers = BTreeSet::new();
    for h in head.saturating_add(1)..=head.saturating_add(count) {
        let Some(committee) = manager.committee(manager.config().epoch(h)) else {
            continue;
        };
        let mut members: Vec<Address> = committee
            .members
            .iter()
            .filter(|m| m.stake > 0)
            .map(|m| m.address)
            .collect();
        if members.is_empty() {
            continue;
        }
        members.sort();
        proposers.insert(members[proposer_index(h, 0, members.len())]);
    }
    proposers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::testkit::{genesis_chain, Chain};

    #[test]
    fn the_next_proposers_are_those_of_the_validator_sets() {
        let Chain { manager, .. } = genesis_chain(4);
        let next = next_proposers(&manager, 0, 3);
        let want: BTreeSet<Address> = (1..=3)
            .map(|h| validator_set(&manager, h).unwrap().proposer(h, 0).address)
            .collect();
        assert_eq!(next, want);
        assert_eq!(next.len(), 3);
        assert_eq!(next_proposers(&manager, 0, 8).len(), 4);
        assert!(next_proposers(&manager, 0, 0).is_empty());
    }

    #[test]
    fn a_proposed_block_of_the_chain_is_valid_and_each_broken_rule_is_named() {
        let Chain {
            manager,
            head,
            keys,
            ..
        } = genesis_chain(4);
        let me = keys[0].address;
        let good = Block::new(manager.chain_id(), 1, 10, head.hash, me, vec![]).unwrap();
        assert_eq!(check_block(&manager, &head, &good), Ok(()));

        let other = Block::new("other", 1, 10, head.hash, me, vec![]).unwrap();
        assert!(matches!(
            check_block(&manager, &head, &other),
            Err(InvalidBlock::WrongChain(_))
        ));
        let high = Block::new(manager.chain_id(), 2, 10, head.hash, me, vec![]).unwrap();
        assert!(matches!(
            check_block(&manager, &head, &high),
            Err(InvalidBlock::WrongHeight {
                expected: 1,
                got: 2
            })
        ));
        let orphan = Block::new(manager.chain_id(), 1, 10, Hash32([9; 32]), me, vec![]).unwrap();
        assert!(matches!(
            check_block(&manager, &head, &orphan),
            Err(InvalidBlock::WrongParent(_))
        ));
        let later = ChainHead {
            time_ms: 11,
            ..head
        };
        assert!(matches!(
            check_block(&manager, &later, &good),
            Err(InvalidBlock::TimeNotMonotonic { head: 11, got: 10 })
        ));
        let stranger = clp::Address([1; 20]);
        let foreign = Block::new(manager.chain_id(), 1, 10, head.hash, stranger, vec![]).unwrap();
        assert_eq!(
            check_block(&manager, &head, &foreign),
            Err(InvalidBlock::BadProposer(stranger))
        );
    }

    #[test]
    fn responses_must_be_sorted_and_valid() {
        let mut chain = genesis_chain(4);
        // Heights 1 and 2: height 2 is a challenge (K = 2).
        chain.extend(vec![]);
        let challenge = chain.extend(vec![]).expect("challenge at 2");
        let r: Vec<clp::ClpResponse> = chain
            .keys
            .iter()
            .map(|k| chain.respond(&challenge, k))
            .collect();
        let (m, head) = (&chain.manager, &chain.head);
        let block = |rs: Vec<clp::ClpResponse>| chain.next_block(rs);
        assert_eq!(check_block(m, head, &block(r.clone())), Ok(()));
        let mut reversed = r.clone();
        reversed.reverse();
        assert_eq!(
            check_block(m, head, &block(reversed)),
            Err(InvalidBlock::UnsortedResponses(1))
        );
        let mut forged = r[0].clone();
        forged.signature = clp::Signature([0; 64]);
        assert_eq!(
            check_block(m, head, &block(vec![forged])),
            Err(InvalidBlock::InvalidResponse {
                index: 0,
                reason: clp::RejectReason::BadSignature
            })
        );
    }

    #[test]
    fn the_validator_set_leaves_out_members_without_stake() {
        let chain = genesis_chain(4);
        let set = validator_set(&chain.manager, 1).unwrap();
        assert_eq!(set.members().len(), 4);
        assert!(matches!(
            validator_set(&chain.manager, 21),
            Err(NoValidatorSet::UnknownEpoch(1))
        ));
    }
}
