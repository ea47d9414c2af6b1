//! What signatures alone cost a testnet per block, on this machine: the floor under the
//! bench figures of docs/scale.md.
//!
//!     cargo run --release --example verify_cost -p clp-consensus
//!
//! Times `Vote::sign` and `Vote::verify` (strict Ed25519 over the §9.2 sign bytes, as the
//! node checks every vote it counts), then prints, per validator count, the checks one
//! block needs at least: each node verifies a quorum of prevotes and of precommits less
//! its own, and the proposal (CLP responses come on top). Divided into the cores of the
//! machine, that is the block rate signatures alone would allow.

use std::time::Instant;

use clp::Address;
use clp_consensus::{Vote, VoteType};
use ed25519_dalek::SigningKey;

const CHAIN: &str = "clp-testnet";
const VOTES: usize = 20_000;

fn main() {
    let keys: Vec<SigningKey> = (1..=64u8)
        .map(|i| SigningKey::from_bytes(&[i; 32]))
        .collect();
    let started = Instant::now();
    let votes: Vec<Vote> = (0..VOTES)
        .map(|i| {
            let key = &keys[i % keys.len()];
            let hash = clp::Hash32(clp::blake2b_256(&i.to_be_bytes()));
            Vote::sign(
                CHAIN,
                VoteType::Prevote,
                i as u64 + 1,
                0,
                Some(hash),
                Address([0; 20]),
                key,
            )
        })
        .collect();
    let sign_us = started.elapsed().as_secs_f64() * 1e6 / VOTES as f64;
    let verifying: Vec<_> = keys.iter().map(SigningKey::verifying_key).collect();
    let started = Instant::now();
    for (i, vote) in votes.iter().enumerate() {
        vote.verify(CHAIN, &verifying[i % keys.len()])
            .expect("a vote signed here verifies");
    }
    let verify_us = started.elapsed().as_secs_f64() * 1e6 / VOTES as f64;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    println!("sign a vote:   {sign_us:.1} us");
    println!("verify a vote: {verify_us:.1} us");
    println!("{cores} cores");
    println!("validators | checks per block and node | CPU ms per block (all nodes) | blocks/s signatures alone allow");
    for n in [5u64, 32, 64, 128] {
        let quorum = n * 2 / 3 + 1;
        let checks = 2 * (quorum - 1) + 1;
        let ms = (n * checks) as f64 * verify_us / 1000.0 + (n * 2) as f64 * sign_us / 1000.0;
        let rate = cores as f64 * 1000.0 / ms;
        println!("{n} | {checks} | {ms:.0} | {rate:.1}");
    }
}
