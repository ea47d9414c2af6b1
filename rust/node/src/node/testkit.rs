//! Test helpers: a chain of n validators (test profile) that tests extend block by block.

use clp::{
    Address, ClpChallenge, ClpConfig, ClpManager, ClpResponse, GenesisValidator, Hash32, PublicKey,
};
use clp_consensus::Block;
use ed25519_dalek::SigningKey;

use super::chain::ChainHead;

pub const CHAIN_ID: &str = "clp-testnet";

/// A validator's key and address.
#[derive(Clone)]
pub struct TestKey {
    pub seed: [u8; 32],
    pub address: Address,
}

impl TestKey {
    pub fn new(i: u8) -> Self {
        let seed = [i + 1; 32];
        let public = SigningKey::from_bytes(&seed).verifying_key().to_bytes();
        TestKey {
            seed,
            address: Address::from_public_key(&PublicKey(public)),
        }
    }

    pub fn signing_key(&self) -> SigningKey {
        SigningKey::from_bytes(&self.seed)
    }
}

/// A manager with its head; keys sorted by address.
pub struct Chain {
    pub manager: ClpManager,
    pub head: ChainHead,
    pub keys: Vec<TestKey>,
}

pub fn genesis_chain(n: u8) -> Chain {
    let mut keys: Vec<TestKey> = (0..n).map(TestKey::new).collect();
    keys.sort_by_key(|k| k.address);
    let validators = keys
        .iter()
        .enumerate()
        .map(|(i, k)| GenesisValidator {
            name: format!("v{i}"),
            address: k.address,
            public_key: PublicKey(k.signing_key().verifying_key().to_bytes()),
            stake: 100_000,
        })
        .collect();
    let manager = ClpManager::new(CHAIN_ID, ClpConfig::test_profile(), validators).unwrap();
    Chain {
        manager,
        head: ChainHead::genesis(Hash32([7; 32])),
        keys,
    }
}

impl Chain {
    /// The next block with these responses (proposed by the first key).
    pub fn next_block(&self, responses: Vec<ClpResponse>) -> Block {
        Block::new(
            CHAIN_ID,
            self.head.height + 1,
            self.head.time_ms + 200,
            self.head.hash,
            self.keys[0].address,
            responses,
        )
        .unwrap()
    }

    /// Finalizes the next block; the challenge it derives, if any.
    pub fn extend(&mut self, responses: Vec<ClpResponse>) -> Option<ClpChallenge> {
        let block = self.next_block(responses);
        let outcome = self
            .manager
            .apply_block(block.height, &block.hash, &block.responses)
            .unwrap();
        self.head = ChainHead::of(&block);
        outcome.challenge
    }

    pub fn respond(&self, challenge: &ClpChallenge, key: &TestKey) -> ClpResponse {
        ClpResponse::sign(CHAIN_ID, challenge.height, &challenge.value, &key.seed)
    }
}
