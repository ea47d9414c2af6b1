//! Prevotes and precommits with the §9.2 sign bytes.

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::{Address, BlockHash, Signature};

/// The domain tag that starts a vote's sign bytes (§9.2).
pub const VOTE_SIGN_TAG: &[u8] = b"clp.vote.v1";

/// Prevote or precommit; JSON `"prevote"` / `"precommit"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VoteType {
    /// First voting step of a round.
    Prevote,
    /// Second voting step; +2/3 of them for one block at one round decide it.
    Precommit,
}

impl VoteType {
    /// The type byte of the sign bytes: `0x01` prevote, `0x02` precommit.
    pub fn sign_byte(self) -> u8 {
        match self {
            VoteType::Prevote => 0x01,
            VoteType::Precommit => 0x02,
        }
    }
}

/// A signed vote; JSON as in a §9.2 certificate, with `"block_hash": null` for nil.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Vote {
    /// Prevote or precommit.
    #[serde(rename = "type")]
    pub vote_type: VoteType,
    /// The height voted on.
    pub height: u64,
    /// The round voted in.
    pub round: u64,
    /// The block voted for; `None` is a nil vote.
    pub block_hash: Option<BlockHash>,
    /// The voter.
    pub validator: Address,
    /// Ed25519 over [`vote_sign_bytes`].
    pub signature: Signature,
}

/// The bytes a vote signs (§9.2): `"clp.vote.v1" || u16be(len(chain_id)) || chain_id ||
/// type || u64be(height) || u64be(round) || (0x01 || u16be(32) || hash | 0x00 || u16be(0))`.
///
/// A chain id longer than 65535 bytes cannot be written; genesis limits it to 64.
pub fn vote_sign_bytes(
    chain_id: &str,
    vote_type: VoteType,
    height: u64,
    round: u64,
    block_hash: Option<&BlockHash>,
) -> Vec<u8> {
    let chain = chain_id.as_bytes();
    let chain_len = u16::try_from(chain.len()).expect("chain_id at most 65535 bytes");
    let mut out = Vec::with_capacity(VOTE_SIGN_TAG.len() + 2 + chain.len() + 1 + 16 + 3 + 32);
    out.extend_from_slice(VOTE_SIGN_TAG);
    out.extend_from_slice(&chain_len.to_be_bytes());
    out.extend_from_slice(chain);
    out.push(vote_type.sign_byte());
    out.extend_from_slice(&height.to_be_bytes());
    out.extend_from_slice(&round.to_be_bytes());
    match block_hash {
        Some(hash) => {
            out.push(0x01);
            out.extend_from_slice(&32u16.to_be_bytes());
            out.extend_from_slice(hash.as_bytes());
        }
        None => {
            out.push(0x00);
            out.extend_from_slice(&0u16.to_be_bytes());
        }
    }
    out
}

/// A vote whose signature does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad signature on {vote_type:?} by {validator} at height {height} round {round}")]
pub struct BadVoteSignature {
    /// The claimed voter.
    pub validator: Address,
    /// The vote's type.
    pub vote_type: VoteType,
    /// The vote's height.
    pub height: u64,
    /// The vote's round.
    pub round: u64,
}

impl Vote {
    /// Signs a vote with the validator's key; `validator` is the key's address.
    pub fn sign(
        chain_id: &str,
        vote_type: VoteType,
        height: u64,
        round: u64,
        block_hash: Option<BlockHash>,
        validator: Address,
        key: &SigningKey,
    ) -> Vote {
        let bytes = vote_sign_bytes(chain_id, vote_type, height, round, block_hash.as_ref());
        Vote {
            vote_type,
            height,
            round,
            block_hash,
            validator,
            signature: Signature::from(key.sign(&bytes).to_bytes()),
        }
    }

    /// This vote's sign bytes.
    pub fn sign_bytes(&self, chain_id: &str) -> Vec<u8> {
        vote_sign_bytes(
            chain_id,
            self.vote_type,
            self.height,
            self.round,
            self.block_hash.as_ref(),
        )
    }

    /// Verifies the signature under `key` (strict RFC 8032 verification, as libsodium).
    pub fn verify(&self, chain_id: &str, key: &VerifyingKey) -> Result<(), BadVoteSignature> {
        let sig = ed25519_dalek::Signature::from_bytes(self.signature.as_bytes());
        key.verify_strict(&self.sign_bytes(chain_id), &sig)
            .map_err(|_| BadVoteSignature {
                validator: self.validator,
                vote_type: self.vote_type,
                height: self.height,
                round: self.round,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{address_of, CHAIN};

    fn hash_0_to_31() -> BlockHash {
        let mut b = [0u8; 32];
        for (i, x) in b.iter_mut().enumerate() {
            *x = i as u8;
        }
        BlockHash::from(b)
    }

    #[test]
    fn prevote_sign_bytes_match_the_section_16_9_vector() {
        let expected = "636c702e766f74652e7631000b636c702d746573746e6574010000000000000007\
                        0000000000000000010020000102030405060708090a0b0c0d0e0f10111213141516\
                        1718191a1b1c1d1e1f";
        let bytes = vote_sign_bytes(CHAIN, VoteType::Prevote, 7, 0, Some(&hash_0_to_31()));
        assert_eq!(hex::encode(bytes), expected);
    }

    #[test]
    fn precommit_and_nil_sign_bytes_follow_section_9_2() {
        let head = [
            hex::encode("clp.vote.v1"),
            "000b".into(),
            hex::encode(CHAIN),
        ]
        .concat();
        let h = BlockHash::from([0xcd; 32]);
        let precommit = vote_sign_bytes(CHAIN, VoteType::Precommit, 9, 3, Some(&h));
        assert_eq!(
            hex::encode(precommit),
            format!(
                "{head}02000000000000000900000000000000030100 20{}",
                "cd".repeat(32)
            )
            .replace(' ', "")
        );
        let nil = vote_sign_bytes(CHAIN, VoteType::Prevote, 9, 3, None);
        assert_eq!(
            hex::encode(nil),
            format!("{head}010000000000000009000000000000000300 0000").replace(' ', "")
        );
    }

    #[test]
    fn the_section_16_9_prevote_signature_and_frame_text() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let me = address_of(&key);
        assert_eq!(me.to_hex(), "8d2d1c260127c74476b27136c5e38c003b66b889");
        let vote = Vote::sign(
            CHAIN,
            VoteType::Prevote,
            7,
            0,
            Some(hash_0_to_31()),
            me,
            &key,
        );
        assert_eq!(
            vote.signature.to_hex(),
            "429db2682d5c94d054a2fe1ebb35efdb64b3fdd7845dff9bd6f2df9a4f769666\
             45617f658ca4775f06333b40d1a7678a9ed766ff592b249df0a3e7d487dfc009"
        );
        // The frame's `msg` object, exactly.
        let inner = serde_json::to_string(&crate::ConsensusMessage::Vote(vote)).unwrap();
        assert_eq!(
            inner,
            "{\"kind\":\"vote\",\"type\":\"prevote\",\"height\":7,\"round\":0,\
             \"block_hash\":\"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\",\
             \"validator\":\"8d2d1c260127c74476b27136c5e38c003b66b889\",\
             \"signature\":\"429db2682d5c94d054a2fe1ebb35efdb64b3fdd7845dff9bd6f2df9a4f76966645617f658ca4775f06333b40d1a7678a9ed766ff592b249df0a3e7d487dfc009\"}"
        );
    }

    #[test]
    fn a_signed_vote_verifies_and_any_change_breaks_it() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let vote = Vote::sign(
            CHAIN,
            VoteType::Precommit,
            5,
            2,
            Some(BlockHash::from([1; 32])),
            address_of(&key),
            &key,
        );
        assert_eq!(vote.verify(CHAIN, &key.verifying_key()), Ok(()));
        assert!(vote.verify("other-chain", &key.verifying_key()).is_err());
        let other = SigningKey::from_bytes(&[4; 32]).verifying_key();
        assert!(vote.verify(CHAIN, &other).is_err());
        let mutations: [fn(&mut Vote); 4] = [
            |v| v.round += 1,
            |v| v.height += 1,
            |v| v.block_hash = None,
            |v| v.vote_type = VoteType::Prevote,
        ];
        for mutate in mutations {
            let mut changed = vote.clone();
            mutate(&mut changed);
            assert!(changed.verify(CHAIN, &key.verifying_key()).is_err());
        }
    }

    #[test]
    fn nil_is_json_null_and_round_trips() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let vote = Vote::sign(CHAIN, VoteType::Prevote, 5, 2, None, address_of(&key), &key);
        let text = serde_json::to_string(&vote).unwrap();
        assert!(
            text.starts_with("{\"type\":\"prevote\",\"height\":5,\"round\":2,\"block_hash\":null,")
        );
        assert_eq!(serde_json::from_str::<Vote>(&text).unwrap(), vote);
    }
}
