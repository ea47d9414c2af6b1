//! A round's proposal: the block, the round of the polka that justifies re-proposing it
//! (`pol_round`, Algorithm 1's `validRound`), signed by the round's proposer.

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::{Address, Block, BlockHash, Signature};

/// The domain tag that starts a proposal's sign bytes.
pub const PROPOSAL_SIGN_TAG: &[u8] = b"clp.proposal.v1";

/// A signed proposal. JSON as on the wire (§16.4): `{"height", "round", "block_hash",
/// "block", "pol_round" (-1 for none), "proposer", "signature"}`; reading refuses a
/// `block_hash` that is not the block's `hash` and a `pol_round` not in `-1..round`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ProposalJson", into = "ProposalJson")]
pub struct Proposal {
    /// The height proposed for.
    pub height: u64,
    /// The round proposed in.
    pub round: u64,
    /// The proposed block (its own `proposer` is the builder, which for a re-proposal
    /// can be an earlier round's proposer).
    pub block: Block,
    /// `None` for a fresh value, else the earlier round with +2/3 prevotes for it.
    pub pol_round: Option<u64>,
    /// The proposer of `(height, round)`.
    pub proposer: Address,
    /// Ed25519 over [`proposal_sign_bytes`].
    pub signature: Signature,
}

/// The bytes a proposal signs (§16.4): `"clp.proposal.v1" || u16be(len(chain_id)) ||
/// chain_id || u64be(height) || u64be(round) || 0x01 || u16be(32) || block_hash ||
/// (0x01 || u64be(pol_round) | 0x00 || u64be(0))`.
pub fn proposal_sign_bytes(
    chain_id: &str,
    height: u64,
    round: u64,
    pol_round: Option<u64>,
    block_hash: &BlockHash,
) -> Vec<u8> {
    let chain = chain_id.as_bytes();
    let chain_len = u16::try_from(chain.len()).expect("chain_id at most 65535 bytes");
    let mut out = Vec::with_capacity(PROPOSAL_SIGN_TAG.len() + 2 + chain.len() + 16 + 35 + 9);
    out.extend_from_slice(PROPOSAL_SIGN_TAG);
    out.extend_from_slice(&chain_len.to_be_bytes());
    out.extend_from_slice(chain);
    out.extend_from_slice(&height.to_be_bytes());
    out.extend_from_slice(&round.to_be_bytes());
    out.push(0x01);
    out.extend_from_slice(&32u16.to_be_bytes());
    out.extend_from_slice(block_hash.as_bytes());
    let (flag, pol) = match pol_round {
        Some(r) => (0x01, r),
        None => (0x00, 0),
    };
    out.push(flag);
    out.extend_from_slice(&pol.to_be_bytes());
    out
}

/// A proposal whose signature does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad signature on proposal by {proposer} at height {height} round {round}")]
pub struct BadProposalSignature {
    /// The claimed proposer.
    pub proposer: Address,
    /// The proposal's height.
    pub height: u64,
    /// The proposal's round.
    pub round: u64,
}

impl Proposal {
    /// Signs a proposal of `block` with the proposer's key; `proposer` is its address.
    pub fn sign(
        chain_id: &str,
        round: u64,
        block: Block,
        pol_round: Option<u64>,
        proposer: Address,
        key: &SigningKey,
    ) -> Proposal {
        let height = block.height;
        let bytes = proposal_sign_bytes(chain_id, height, round, pol_round, &block.hash);
        Proposal {
            height,
            round,
            block,
            pol_round,
            proposer,
            signature: Signature::from(key.sign(&bytes).to_bytes()),
        }
    }

    /// This proposal's sign bytes (they bind the block through its `hash` field; check the
    /// block's hash with [`Block::check_stateless`] before trusting it).
    pub fn sign_bytes(&self, chain_id: &str) -> Vec<u8> {
        proposal_sign_bytes(
            chain_id,
            self.height,
            self.round,
            self.pol_round,
            &self.block.hash,
        )
    }

    /// Verifies the signature under `key`.
    pub fn verify(&self, chain_id: &str, key: &VerifyingKey) -> Result<(), BadProposalSignature> {
        let sig = ed25519_dalek::Signature::from_bytes(self.signature.as_bytes());
        key.verify_strict(&self.sign_bytes(chain_id), &sig)
            .map_err(|_| BadProposalSignature {
                proposer: self.proposer,
                height: self.height,
                round: self.round,
            })
    }
}

/// The wire form of a proposal (field order as §16.4 gives it).
#[derive(Serialize, Deserialize)]
struct ProposalJson {
    height: u64,
    round: u64,
    block_hash: BlockHash,
    block: Block,
    pol_round: i64,
    proposer: Address,
    signature: Signature,
}

impl From<Proposal> for ProposalJson {
    fn from(p: Proposal) -> ProposalJson {
        ProposalJson {
            height: p.height,
            round: p.round,
            block_hash: p.block.hash,
            pol_round: p
                .pol_round
                .map_or(-1, |r| i64::try_from(r).unwrap_or(i64::MAX)),
            block: p.block,
            proposer: p.proposer,
            signature: p.signature,
        }
    }
}

impl TryFrom<ProposalJson> for Proposal {
    type Error = String;

    fn try_from(j: ProposalJson) -> Result<Proposal, String> {
        if j.block_hash != j.block.hash {
            return Err(format!(
                "block_hash {} is not the block's hash {}",
                j.block_hash, j.block.hash
            ));
        }
        let pol_round = match j.pol_round {
            -1 => None,
            r if r >= 0 && (r as u64) < j.round => Some(r as u64),
            r => {
                return Err(format!(
                    "pol_round {r} is neither -1 nor below round {}",
                    j.round
                ))
            }
        };
        Ok(Proposal {
            height: j.height,
            round: j.round,
            block: j.block,
            pol_round,
            proposer: j.proposer,
            signature: j.signature,
        })
    }
}

/// A consensus message as carried in a `consensus` frame's `msg` (§16.4): the vote or
/// proposal object with `"kind": "vote" | "proposal"` first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ConsensusMessage {
    /// A prevote or precommit.
    Vote(crate::Vote),
    /// A proposal.
    Proposal(Proposal),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{address_of, block, CHAIN};

    #[test]
    fn sign_bytes_match_the_section_16_9_vector() {
        let mut h = [0u8; 32];
        for (i, x) in h.iter_mut().enumerate() {
            *x = i as u8;
        }
        let expected = "636c702e70726f706f73616c2e7631000b636c702d746573746e65740000000000000007\
                        0000000000000001010020000102030405060708090a0b0c0d0e0f101112131415161718\
                        191a1b1c1d1e1f010000000000000000";
        let bytes = proposal_sign_bytes(CHAIN, 7, 1, Some(0), &BlockHash::from(h));
        assert_eq!(hex::encode(bytes), expected);
        let none = proposal_sign_bytes(CHAIN, 7, 1, None, &BlockHash::from(h));
        assert!(hex::encode(none).ends_with("1f000000000000000000"));
    }

    #[test]
    fn signed_proposal_verifies_and_json_is_the_wire_shape() {
        let key = SigningKey::from_bytes(&[5; 32]);
        let me = address_of(&key);
        let p = Proposal::sign(CHAIN, 2, block(3, 0, me), Some(1), me, &key);
        assert_eq!(p.verify(CHAIN, &key.verifying_key()), Ok(()));
        let mut moved = p.clone();
        moved.pol_round = None;
        assert!(moved.verify(CHAIN, &key.verifying_key()).is_err());

        let text = serde_json::to_string(&ConsensusMessage::Proposal(p.clone())).unwrap();
        let prefix = format!(
            "{{\"kind\":\"proposal\",\"height\":3,\"round\":2,\"block_hash\":\"{}\",\"block\":{{",
            p.block.hash
        );
        assert!(text.starts_with(&prefix), "{text}");
        assert!(text.contains(&format!(
            "\"pol_round\":1,\"proposer\":\"{me}\",\"signature\":\"{}\"}}",
            p.signature
        )));
        let back: ConsensusMessage = serde_json::from_str(&text).unwrap();
        assert_eq!(back, ConsensusMessage::Proposal(p.clone()));

        let fresh = Proposal::sign(CHAIN, 0, block(3, 0, me), None, me, &key);
        let text = serde_json::to_string(&fresh).unwrap();
        assert!(text.contains("\"pol_round\":-1,"));
        assert_eq!(serde_json::from_str::<Proposal>(&text).unwrap(), fresh);
    }

    #[test]
    fn reading_refuses_a_mismatched_block_hash_or_pol_round() {
        let key = SigningKey::from_bytes(&[5; 32]);
        let me = address_of(&key);
        let p = Proposal::sign(CHAIN, 2, block(3, 0, me), Some(1), me, &key);
        let mut json = serde_json::to_value(&p).unwrap();
        json["block_hash"] = serde_json::json!("00".repeat(32));
        assert!(serde_json::from_value::<Proposal>(json).is_err());
        for bad in [2, 3, -2] {
            let mut json = serde_json::to_value(&p).unwrap();
            json["pol_round"] = serde_json::json!(bad);
            assert!(serde_json::from_value::<Proposal>(json).is_err(), "{bad}");
        }
    }
}
