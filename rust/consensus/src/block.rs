//! The block of §9.1: its JSON as served, its hash, and the checks that need no chain
//! state (the caller's [`crate::Application::validate`] judges the rest: parent, time,
//! proposer membership, response validity).

use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};
use serde::{Deserialize, Serialize};

use crate::{Address, BlockHash, ClpResponse};

/// The domain tag that starts the block hash preimage (§9.1).
pub const BLOCK_HASH_TAG: &[u8] = b"clp.block.v1";

/// A block exactly as served by `GET /alpha/chain/block/{h}` (field order included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// The chain id of genesis.
    pub chain_id: String,
    /// The height, `>= 1`.
    pub height: u64,
    /// Milliseconds since the Unix epoch; never decreases along the chain.
    pub time_ms: u64,
    /// The hash of block `height - 1` (the genesis hash for block 1).
    pub parent_hash: BlockHash,
    /// The validator that built the block (a re-proposed block keeps its builder).
    pub proposer: Address,
    /// The included CLP responses, sorted by `(challenge_height, validator)`.
    pub responses: Vec<ClpResponse>,
    /// `BLAKE2b-256` of [`Block::hash_preimage`].
    pub hash: BlockHash,
}

/// A block that fails a check needing no chain state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// `hash` is not the hash of the other fields.
    #[error("block hash {claimed} does not match its contents ({computed})")]
    HashMismatch {
        claimed: BlockHash,
        computed: BlockHash,
    },
    /// Another chain's block.
    #[error("block chain_id {got:?} is not {expected:?}")]
    ChainId { expected: String, got: String },
    /// Height 0 is genesis, never a block.
    #[error("block height 0 (genesis is not a block)")]
    HeightZero,
    /// The chain id is longer than its u16 length prefix can say.
    #[error("chain_id longer than 65535 bytes")]
    ChainIdTooLong,
    /// More responses than the u32 count can say.
    #[error("more than 2^32-1 responses")]
    TooManyResponses,
    /// Responses out of `(challenge_height, validator)` order or repeated (§5).
    #[error("responses not strictly sorted by (challenge_height, validator) at index {index}")]
    ResponsesUnsorted { index: usize },
}

impl Block {
    /// Builds a block and fills in its hash.
    pub fn new(
        chain_id: impl Into<String>,
        height: u64,
        time_ms: u64,
        parent_hash: BlockHash,
        proposer: Address,
        responses: Vec<ClpResponse>,
    ) -> Result<Block, BlockError> {
        let mut block = Block {
            chain_id: chain_id.into(),
            height,
            time_ms,
            parent_hash,
            proposer,
            responses,
            hash: BlockHash::from([0u8; 32]),
        };
        block.hash = block.compute_hash()?;
        Ok(block)
    }

    /// The §9.1 preimage: `"clp.block.v1" || u16be(len(chain_id)) || chain_id ||
    /// u64be(height) || u64be(time_ms) || parent_hash || proposer || u32be(len(responses))
    /// || for each: u64be(challenge_height) || validator || signature`.
    pub fn hash_preimage(&self) -> Result<Vec<u8>, BlockError> {
        let chain_id = self.chain_id.as_bytes();
        let chain_len = u16::try_from(chain_id.len()).map_err(|_| BlockError::ChainIdTooLong)?;
        let count =
            u32::try_from(self.responses.len()).map_err(|_| BlockError::TooManyResponses)?;
        let mut out = Vec::with_capacity(
            BLOCK_HASH_TAG.len()
                + 2
                + chain_id.len()
                + 8
                + 8
                + 32
                + 20
                + 4
                + self.responses.len() * (8 + 20 + 64),
        );
        out.extend_from_slice(BLOCK_HASH_TAG);
        out.extend_from_slice(&chain_len.to_be_bytes());
        out.extend_from_slice(chain_id);
        out.extend_from_slice(&self.height.to_be_bytes());
        out.extend_from_slice(&self.time_ms.to_be_bytes());
        out.extend_from_slice(self.parent_hash.as_bytes());
        out.extend_from_slice(self.proposer.as_bytes());
        out.extend_from_slice(&count.to_be_bytes());
        for r in &self.responses {
            out.extend_from_slice(&r.challenge_height.to_be_bytes());
            out.extend_from_slice(r.validator.as_bytes());
            out.extend_from_slice(r.signature.as_bytes());
        }
        Ok(out)
    }

    /// The hash of the block's contents (ignores the `hash` field).
    pub fn compute_hash(&self) -> Result<BlockHash, BlockError> {
        let mut h = Blake2b::<U32>::new();
        h.update(self.hash_preimage()?);
        let digest: [u8; 32] = h.finalize().into();
        Ok(BlockHash::from(digest))
    }

    /// The checks that need no chain state, first failure reported: chain id, height >= 1,
    /// responses strictly sorted by `(challenge_height, validator)`, hash matches.
    pub fn check_stateless(&self, chain_id: &str) -> Result<(), BlockError> {
        if self.chain_id != chain_id {
            return Err(BlockError::ChainId {
                expected: chain_id.to_owned(),
                got: self.chain_id.clone(),
            });
        }
        if self.height == 0 {
            return Err(BlockError::HeightZero);
        }
        for (index, pair) in self.responses.windows(2).enumerate() {
            if pair[0].key() >= pair[1].key() {
                return Err(BlockError::ResponsesUnsorted { index: index + 1 });
            }
        }
        let computed = self.compute_hash()?;
        if computed != self.hash {
            return Err(BlockError::HashMismatch {
                claimed: self.hash,
                computed,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::CHAIN;
    use crate::Signature;

    fn response(h: u64, v: u8) -> ClpResponse {
        ClpResponse {
            challenge_height: h,
            validator: Address::from([v; 20]),
            signature: Signature::from([0xab; 64]),
        }
    }

    fn sample() -> Block {
        Block::new(
            CHAIN,
            7,
            1_764_620_000_123,
            BlockHash::from([0x11; 32]),
            Address::from([0x22; 20]),
            vec![response(6, 0x33)],
        )
        .unwrap()
    }

    #[test]
    fn preimage_is_the_section_9_1_layout_byte_for_byte() {
        let expected = [
            hex::encode("clp.block.v1"),
            "000b".into(),
            hex::encode("clp-testnet"),
            "0000000000000007".into(),
            format!("{:016x}", 1_764_620_000_123u64),
            "11".repeat(32),
            "22".repeat(20),
            "00000001".into(),
            "0000000000000006".into(),
            "33".repeat(20),
            "ab".repeat(64),
        ]
        .concat();
        assert_eq!(hex::encode(sample().hash_preimage().unwrap()), expected);
    }

    #[test]
    fn hash_is_blake2b_256_of_the_preimage() {
        let block = sample();
        let digest = clp::blake2b_256(&block.hash_preimage().unwrap());
        assert_eq!(block.hash, BlockHash::from(digest));
        assert_eq!(block.compute_hash().unwrap(), block.hash);
    }

    #[test]
    fn json_is_the_served_shape_in_order_and_round_trips() {
        let block = sample();
        let text = serde_json::to_string(&block).unwrap();
        let keys = [
            "chain_id",
            "height",
            "time_ms",
            "parent_hash",
            "proposer",
            "responses",
            "hash",
        ];
        let positions: Vec<usize> = keys
            .iter()
            .map(|k| text.find(&format!("\"{k}\":")).unwrap())
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
        assert!(text.contains(&format!("\"hash\":\"{}\"", block.hash.to_hex())));
        let back: Block = serde_json::from_str(&text).unwrap();
        assert_eq!(back, block);
    }

    #[test]
    fn stateless_checks_report_the_first_failure() {
        let good = sample();
        assert_eq!(good.check_stateless(CHAIN), Ok(()));
        assert!(matches!(
            good.check_stateless("other"),
            Err(BlockError::ChainId { .. })
        ));
        let mut tampered = good.clone();
        tampered.time_ms += 1;
        assert!(matches!(
            tampered.check_stateless(CHAIN),
            Err(BlockError::HashMismatch { .. })
        ));
        let zero = Block::new(CHAIN, 0, 0, good.parent_hash, good.proposer, vec![]).unwrap();
        assert_eq!(zero.check_stateless(CHAIN), Err(BlockError::HeightZero));
        for responses in [
            vec![response(6, 2), response(6, 1)],
            vec![response(6, 1), response(6, 1)],
            vec![response(4, 1), response(6, 1), response(5, 9)],
        ] {
            let n = responses.len();
            let b = Block::new(CHAIN, 7, 0, good.parent_hash, good.proposer, responses).unwrap();
            assert_eq!(
                b.check_stateless(CHAIN),
                Err(BlockError::ResponsesUnsorted { index: n - 1 })
            );
        }
        let sorted = vec![response(4, 9), response(6, 1), response(6, 2)];
        let b = Block::new(CHAIN, 7, 0, good.parent_hash, good.proposer, sorted).unwrap();
        assert_eq!(b.check_stateless(CHAIN), Ok(()));
    }
}
