//! Shared helpers for the clp tests: deterministic keys, a genesis, and a chain driver
//! that builds blocks whose responses come from a chosen answering pattern.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use clp::{
    blake2b_256, Address, BlockOutcome, ClpChallenge, ClpConfig, ClpManager, ClpResponse,
    GenesisValidator, Hash32, PublicKey,
};
use ed25519_dalek::SigningKey;

pub const CHAIN_ID: &str = "clp-test";

/// A small config: E=10, K=2, W=3 (challenges at 2, 4, 6; 8 would cross the epoch).
pub fn small_config() -> ClpConfig {
    ClpConfig {
        epoch_length: 10,
        challenge_interval: 2,
        response_window: 3,
        min_response_rate_bps: 5000,
        slash_fraction_bps: 1000,
        max_consecutive_failures: 3,
        min_stake: 1000,
        min_committee_size: 4,
        systemic_fault_bps: 3334,
    }
}

/// The 32-byte seed of test key `i`.
pub fn seed(i: u8) -> [u8; 32] {
    [i.wrapping_add(100); 32]
}

pub fn public_key(seed: &[u8; 32]) -> PublicKey {
    PublicKey(SigningKey::from_bytes(seed).verifying_key().to_bytes())
}

pub fn address(seed: &[u8; 32]) -> Address {
    Address::from_public_key(&public_key(seed))
}

/// Validators with the given stakes; index i of the result is the i-th address in order.
pub fn genesis(stakes: &[u64]) -> (Vec<GenesisValidator>, Vec<[u8; 32]>) {
    let mut seeds: Vec<[u8; 32]> = (0..stakes.len() as u8).map(seed).collect();
    seeds.sort_by_key(address);
    let validators = seeds
        .iter()
        .zip(stakes)
        .enumerate()
        .map(|(i, (s, stake))| GenesisValidator {
            name: format!("v{i}"),
            address: address(s),
            public_key: public_key(s),
            stake: *stake,
        })
        .collect();
    (validators, seeds)
}

/// The hash of test block `h`.
pub fn block_hash(h: u64) -> Hash32 {
    Hash32(blake2b_256(&h.to_be_bytes()))
}

/// A manager and the keys of its validators, driven block by block.
pub struct Chain {
    pub m: ClpManager,
    pub seeds: BTreeMap<Address, [u8; 32]>,
    pub addrs: Vec<Address>,
    pub outcomes: Vec<BlockOutcome>,
    /// `(h, validator)` of the responses `step` included.
    pub answered: BTreeSet<(u64, Address)>,
}

impl Chain {
    pub fn new(config: ClpConfig, stakes: &[u64]) -> Chain {
        let (validators, seeds) = genesis(stakes);
        let addrs: Vec<Address> = validators.iter().map(|v| v.address).collect();
        Chain {
            m: ClpManager::new(CHAIN_ID, config, validators).expect("valid genesis"),
            seeds: addrs.iter().copied().zip(seeds).collect(),
            addrs,
            outcomes: Vec::new(),
            answered: BTreeSet::new(),
        }
    }

    /// A correctly signed response of `v` to the open challenge of height `h`.
    pub fn respond(&self, v: Address, h: u64) -> ClpResponse {
        let c = self.m.challenge(h).expect("open challenge");
        ClpResponse::sign(CHAIN_ID, h, &c.value, &self.seeds[&v])
    }

    /// Applies the next block with exactly these responses.
    pub fn apply(&mut self, responses: &[ClpResponse]) -> BlockOutcome {
        let b = self.m.height() + 1;
        let out = self
            .m
            .apply_block(b, &block_hash(b), responses)
            .expect("valid block");
        self.outcomes.push(out.clone());
        out
    }

    /// Applies the next block holding a response from every expected member of every open
    /// challenge for which `answers(challenge, member)` is true and that has none yet.
    pub fn step(&mut self, answers: impl Fn(&ClpChallenge, Address) -> bool) -> BlockOutcome {
        let mut rs = Vec::new();
        for c in self.m.active_challenges() {
            for v in &c.expected {
                if answers(&c, *v) && self.answered.insert((c.height, *v)) {
                    rs.push(self.respond(*v, c.height));
                }
            }
        }
        self.apply(&rs)
    }

    /// `n` blocks with the same pattern.
    pub fn run(&mut self, n: u64, answers: impl Fn(&ClpChallenge, Address) -> bool) {
        for _ in 0..n {
            self.step(&answers);
        }
    }

    /// Runs to the end of the current epoch and returns its result.
    pub fn finish_epoch(
        &mut self,
        answers: impl Fn(&ClpChallenge, Address) -> bool,
    ) -> clp::ClpEpochResult {
        loop {
            if let Some(r) = self.step(&answers).epoch_result {
                return r;
            }
        }
    }
}
