//! Challenges (§4): when a finalized height carries one and the value derived from its
//! block hash.

use serde::{Deserialize, Serialize};

use crate::types::{blake2b_256, Address, ClpConfig, Hash32};

/// The domain tag of the challenge preimage.
pub const CHALLENGE_TAG: &[u8; 24] = b"alphaos.clp.challenge.v1";

/// `should_generate(h)` ⇔ `h >= 1 and h % K == 0 and epoch(h) == epoch(h + W)`: the
/// whole response window lies in one epoch, so the challenge's committee never changes.
pub fn should_generate(config: &ClpConfig, height: u64) -> bool {
    height >= 1
        && height % config.challenge_interval == 0
        && config.epoch(height) == config.epoch(height.saturating_add(config.response_window))
}

/// `u16be(len(chain_id_utf8)) || chain_id`, shared by both preimages.
pub(crate) fn encode_chain_id(out: &mut Vec<u8>, chain_id: &str) {
    let bytes = chain_id.as_bytes();
    let len = u16::try_from(bytes.len()).expect("chain id longer than 65535 bytes");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

/// The challenge preimage of §4: tag, chain id, `u64be(h)`, block hash.
pub fn challenge_preimage(chain_id: &str, height: u64, block_hash: &Hash32) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + 2 + chain_id.len() + 8 + 32);
    out.extend_from_slice(CHALLENGE_TAG);
    encode_chain_id(&mut out, chain_id);
    out.extend_from_slice(&height.to_be_bytes());
    out.extend_from_slice(&block_hash.0);
    out
}

/// `challenge_value(chain_id, h, block_hash) = BLAKE2b-256(preimage)`.
pub fn challenge_value(chain_id: &str, height: u64, block_hash: &Hash32) -> Hash32 {
    Hash32(blake2b_256(&challenge_preimage(
        chain_id, height, block_hash,
    )))
}

/// A challenge as derived by every node when block `height` is finalized; serialises to
/// the JSON of §11: `{"height", "epoch", "value", "deadline", "expected"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClpChallenge {
    /// The challenge block's height h.
    pub height: u64,
    /// `epoch(h)`.
    pub epoch: u64,
    /// `challenge_value(chain_id, h, hash of block h)`.
    pub value: Hash32,
    /// `h + W`: the last height whose block may include a response.
    pub deadline: u64,
    /// `committee(epoch(h))` sorted by address.
    pub expected: Vec<Address>,
}

impl ClpChallenge {
    /// Derives the challenge of block `height`; `committee` need not be sorted.
    pub fn derive(
        config: &ClpConfig,
        chain_id: &str,
        height: u64,
        block_hash: &Hash32,
        committee: impl IntoIterator<Item = Address>,
    ) -> ClpChallenge {
        let mut expected: Vec<Address> = committee.into_iter().collect();
        expected.sort();
        expected.dedup();
        ClpChallenge {
            height,
            epoch: config.epoch(height),
            value: challenge_value(chain_id, height, block_hash),
            deadline: height.saturating_add(config.response_window),
            expected,
        }
    }
}
