//! The commit certificate of §9.2 and its verification against a block's committee.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::{Address, BlockHash, ValidatorSet, Vote, VoteType};

/// Precommits of more than 2/3 of the committee's stake for one block at one round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitCertificate {
    /// The block's height.
    pub height: u64,
    /// The round the precommits were cast in.
    pub round: u64,
    /// The committed block.
    pub block_hash: BlockHash,
    /// The precommits.
    pub votes: Vec<Vote>,
}

/// Why a certificate does not prove its block (the first failing rule, votes in order).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// The certificate is for another height than the block.
    #[error("certificate height {got} is not the block's height {expected}")]
    Height { expected: u64, got: u64 },
    /// The certificate is for another block.
    #[error("certificate block_hash {got} is not the block's hash {expected}")]
    BlockHash { expected: BlockHash, got: BlockHash },
    /// A vote is a prevote.
    #[error("vote {index} is not a precommit")]
    NotPrecommit { index: usize },
    /// A vote is for another height or round than the certificate.
    #[error("vote {index} is for height {height} round {round}, not the certificate's")]
    VoteHeightRound {
        index: usize,
        height: u64,
        round: u64,
    },
    /// A vote is nil or for another block.
    #[error("vote {index} is not for the certificate's block")]
    VoteBlock { index: usize },
    /// A vote's validator is not in the committee.
    #[error("vote {index} is by {validator}, not a committee member")]
    NotMember { index: usize, validator: Address },
    /// A second vote by one validator.
    #[error("vote {index} repeats validator {validator}")]
    DuplicateValidator { index: usize, validator: Address },
    /// A signature does not verify.
    #[error("vote {index} by {validator} has a bad signature")]
    BadSignature { index: usize, validator: Address },
    /// The votes hold 2/3 of the stake or less.
    #[error("votes hold {power} of {total} stake, not more than 2/3")]
    InsufficientStake { power: u128, total: u128 },
}

impl CommitCertificate {
    /// Verifies that this certificate commits the block `(height, block_hash)` under
    /// `committee` (the committee of the block's epoch): precommits for this block,
    /// height and round, from distinct members, with valid signatures, holding more than
    /// 2/3 of the committee's stake. `committee` is the validator set of the block's
    /// height (§16.5: stake-0 members left out, so their votes are non-members').
    pub fn verify(
        &self,
        chain_id: &str,
        height: u64,
        block_hash: &BlockHash,
        committee: &ValidatorSet,
    ) -> Result<(), CertificateError> {
        if self.height != height {
            return Err(CertificateError::Height {
                expected: height,
                got: self.height,
            });
        }
        if self.block_hash != *block_hash {
            return Err(CertificateError::BlockHash {
                expected: *block_hash,
                got: self.block_hash,
            });
        }
        let mut seen = BTreeSet::new();
        let mut power: u128 = 0;
        for (index, vote) in self.votes.iter().enumerate() {
            if vote.vote_type != VoteType::Precommit {
                return Err(CertificateError::NotPrecommit { index });
            }
            if vote.height != self.height || vote.round != self.round {
                return Err(CertificateError::VoteHeightRound {
                    index,
                    height: vote.height,
                    round: vote.round,
                });
            }
            if vote.block_hash != Some(self.block_hash) {
                return Err(CertificateError::VoteBlock { index });
            }
            let validator = vote.validator;
            let Some(member) = committee.get(&validator) else {
                return Err(CertificateError::NotMember { index, validator });
            };
            if !seen.insert(validator) {
                return Err(CertificateError::DuplicateValidator { index, validator });
            }
            if vote.verify(chain_id, &member.public_key).is_err() {
                return Err(CertificateError::BadSignature { index, validator });
            }
            power += u128::from(member.stake);
        }
        if !committee.is_quorum(power) {
            return Err(CertificateError::InsufficientStake {
                power,
                total: committee.total_power(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{Net, CHAIN};

    fn precommit(net: &Net, i: usize, height: u64, round: u64, hash: Option<BlockHash>) -> Vote {
        Vote::sign(
            CHAIN,
            VoteType::Precommit,
            height,
            round,
            hash,
            net.addrs[i],
            &net.keys[i],
        )
    }

    /// A certificate for `H` at height 5 round 1 by the validators `who`.
    fn cert(net: &Net, who: &[usize]) -> CommitCertificate {
        CommitCertificate {
            height: 5,
            round: 1,
            block_hash: H,
            votes: who
                .iter()
                .map(|i| precommit(net, *i, 5, 1, Some(H)))
                .collect(),
        }
    }

    const H: BlockHash = clp::Hash32([9; 32]);

    #[test]
    fn more_than_two_thirds_of_the_stake_verifies() {
        let net = Net::new(&[1, 1, 1, 1]);
        assert_eq!(
            cert(&net, &[0, 1, 2]).verify(CHAIN, 5, &H, &net.set),
            Ok(())
        );
        assert_eq!(
            cert(&net, &[3, 1, 0, 2]).verify(CHAIN, 5, &H, &net.set),
            Ok(())
        );
        // Stake, not head count: one heavy validator holds more than 2/3.
        let net = Net::new(&[1, 10, 1, 1]);
        assert_eq!(cert(&net, &[1]).verify(CHAIN, 5, &H, &net.set), Ok(()));
    }

    #[test]
    fn two_thirds_exactly_is_not_enough() {
        let net = Net::new(&[1, 1, 1]);
        assert_eq!(
            cert(&net, &[0, 1]).verify(CHAIN, 5, &H, &net.set),
            Err(CertificateError::InsufficientStake { power: 2, total: 3 })
        );
        assert!(matches!(
            cert(&net, &[]).verify(CHAIN, 5, &H, &net.set),
            Err(CertificateError::InsufficientStake { power: 0, .. })
        ));
    }

    #[test]
    fn each_failure_has_its_reason() {
        let net = Net::new(&[1, 1, 1, 1]);
        let good = cert(&net, &[0, 1, 2]);
        assert_eq!(
            good.verify(CHAIN, 6, &H, &net.set),
            Err(CertificateError::Height {
                expected: 6,
                got: 5
            })
        );
        let other = BlockHash::from([8; 32]);
        assert_eq!(
            good.verify(CHAIN, 5, &other, &net.set),
            Err(CertificateError::BlockHash {
                expected: other,
                got: H
            })
        );

        let mut c = good.clone();
        c.votes[1] = Vote::sign(
            CHAIN,
            VoteType::Prevote,
            5,
            1,
            Some(H),
            net.addrs[1],
            &net.keys[1],
        );
        assert_eq!(
            c.verify(CHAIN, 5, &H, &net.set),
            Err(CertificateError::NotPrecommit { index: 1 })
        );

        let mut c = good.clone();
        c.votes[2] = precommit(&net, 2, 5, 0, Some(H));
        assert_eq!(
            c.verify(CHAIN, 5, &H, &net.set),
            Err(CertificateError::VoteHeightRound {
                index: 2,
                height: 5,
                round: 0
            })
        );
        let mut c = good.clone();
        c.votes[2] = precommit(&net, 2, 4, 1, Some(H));
        assert!(matches!(
            c.verify(CHAIN, 5, &H, &net.set),
            Err(CertificateError::VoteHeightRound {
                index: 2,
                height: 4,
                ..
            })
        ));

        for value in [None, Some(other)] {
            let mut c = good.clone();
            c.votes[0] = precommit(&net, 0, 5, 1, value);
            assert_eq!(
                c.verify(CHAIN, 5, &H, &net.set),
                Err(CertificateError::VoteBlock { index: 0 })
            );
        }

        let stranger = ed25519_dalek::SigningKey::from_bytes(&[99; 32]);
        let stranger_addr = crate::test_support::address_of(&stranger);
        let mut c = good.clone();
        c.votes.push(Vote::sign(
            CHAIN,
            VoteType::Precommit,
            5,
            1,
            Some(H),
            stranger_addr,
            &stranger,
        ));
        assert_eq!(
            c.verify(CHAIN, 5, &H, &net.set),
            Err(CertificateError::NotMember {
                index: 3,
                validator: stranger_addr
            })
        );

        let mut c = good.clone();
        c.votes.push(c.votes[0].clone());
        assert_eq!(
            c.verify(CHAIN, 5, &H, &net.set),
            Err(CertificateError::DuplicateValidator {
                index: 3,
                validator: net.addrs[0]
            })
        );

        let mut c = good.clone();
        c.votes[1].signature = c.votes[0].signature;
        assert_eq!(
            c.verify(CHAIN, 5, &H, &net.set),
            Err(CertificateError::BadSignature {
                index: 1,
                validator: net.addrs[1]
            })
        );
        let mut c = good.clone();
        c.votes[1] = Vote::sign(
            CHAIN,
            VoteType::Precommit,
            5,
            1,
            Some(H),
            net.addrs[1],
            &net.keys[2],
        );
        assert!(matches!(
            c.verify(CHAIN, 5, &H, &net.set),
            Err(CertificateError::BadSignature { index: 1, .. })
        ));
        assert!(matches!(
            good.verify("other-chain", 5, &H, &net.set),
            Err(CertificateError::BadSignature { index: 0, .. })
        ));
    }

    #[test]
    fn a_zero_stake_members_vote_is_a_non_members() {
        let net = Net::new(&[1, 0, 1, 1]);
        assert_eq!(
            cert(&net, &[0, 1, 2, 3]).verify(CHAIN, 5, &H, &net.set),
            Err(CertificateError::NotMember {
                index: 1,
                validator: net.addrs[1]
            })
        );
        assert_eq!(
            cert(&net, &[0, 2, 3]).verify(CHAIN, 5, &H, &net.set),
            Ok(())
        );
    }

    #[test]
    fn json_is_the_section_9_2_shape() {
        let net = Net::new(&[1, 1, 1, 1]);
        let c = cert(&net, &[0]);
        let text = serde_json::to_string(&c).unwrap();
        assert!(text.starts_with(&format!(
            "{{\"height\":5,\"round\":1,\"block_hash\":\"{H}\",\"votes\":[{{\"type\":\"precommit\",\"height\":5,"
        )));
        assert_eq!(serde_json::from_str::<CommitCertificate>(&text).unwrap(), c);
    }
}
