//! Property tests of the invariants of §7–§8 over generated chains: conservation, no
//! stake below zero, the ejection cap and committee floor, rates within 0..=10000,
//! determinism, no slash after ejection, and no penalty in a systemic epoch.

mod common;

use std::collections::BTreeSet;

use clp::{blake2b_256, Address, ClpChallenge, ClpConfig, ClpEpochResult, BPS_MAX};
use common::*;
use proptest::prelude::*;

fn configs() -> impl Strategy<Value = ClpConfig> {
    (1u64..=3, 2u64..=4, 0u64..=6)
        .prop_flat_map(|(k, w, extra)| {
            (
                Just((k, w, k + w + extra)),
                0u64..=BPS_MAX,
                prop_oneof![Just(0u64), Just(BPS_MAX), 0u64..=BPS_MAX],
                1u64..=6,
                prop_oneof![Just(0u64), 0u64..=60_000],
                3u64..=6,
                prop_oneof![Just(0u64), Just(3334u64), Just(BPS_MAX), 0u64..=BPS_MAX],
            )
        })
        .prop_map(
            |((k, w, e), rate, slash, maxf, min_stake, min_comm, systemic)| ClpConfig {
                epoch_length: e,
                challenge_interval: k,
                response_window: w,
                min_response_rate_bps: rate,
                slash_fraction_bps: slash,
                max_consecutive_failures: maxf,
                min_stake,
                min_committee_size: min_comm,
                systemic_fault_bps: systemic,
            },
        )
}

/// A generated chain: parameters, genesis stakes, how reliably each validator answers
/// (0..=4 out of 4), a seed for who answers which challenge, and how many epochs to run.
#[derive(Debug, Clone)]
struct Spec {
    config: ClpConfig,
    stakes: Vec<u64>,
    reliability: Vec<u8>,
    seed: u64,
    epochs: u64,
}

fn specs() -> impl Strategy<Value = Spec> {
    (
        configs(),
        prop::collection::vec((1u64..=100_000, 0u8..=4), 4..=8),
        any::<u64>(),
        2u64..=4,
    )
        .prop_map(|(config, vs, seed, epochs)| Spec {
            config,
            stakes: vs.iter().map(|v| v.0).collect(),
            reliability: vs.iter().map(|v| v.1).collect(),
            seed,
            epochs,
        })
}

/// Whether validator `index` answers challenge `c` (a pure function of the spec).
fn answers(spec: &Spec, addrs: &[Address], c: &ClpChallenge, v: Address) -> bool {
    let i = addrs.iter().position(|a| *a == v).unwrap();
    let mut x = spec.seed.to_be_bytes().to_vec();
    x.extend_from_slice(&c.height.to_be_bytes());
    x.extend_from_slice(&v.0);
    blake2b_256(&x)[0] % 4 < spec.reliability[i]
}

/// Runs the chain, checking the per-height invariants; returns it for more checks.
fn run(spec: &Spec) -> Chain {
    let mut chain = Chain::new(spec.config, &spec.stakes);
    let addrs = chain.addrs.clone();
    let total: u64 = spec.stakes.iter().sum();
    for _ in 0..spec.epochs * spec.config.epoch_length {
        let before = chain.m.stakes().clone();
        chain.step(|c, v| answers(spec, &addrs, c, v));
        // Conservation at every height, and stakes only go down.
        assert_eq!(
            chain.m.stakes().values().sum::<u64>() + chain.m.burned(),
            total
        );
        for (a, s) in chain.m.stakes() {
            assert!(*s <= before[a]);
        }
    }
    chain
}

fn results(chain: &Chain) -> Vec<ClpEpochResult> {
    chain
        .outcomes
        .iter()
        .filter_map(|o| o.epoch_result.clone())
        .collect()
}

proptest! {
    // Each case signs and verifies a few hundred responses: few cases keep the debug
    // build quick; `make rust` runs them in release.
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn epoch_invariants(spec in specs()) {
        let chain = run(&spec);
        let rs = results(&chain);
        prop_assert_eq!(rs.len() as u64, spec.epochs);
        let mut ejected_before: BTreeSet<Address> = BTreeSet::new();
        let mut burned = 0;
        for r in &rs {
            let committee = chain.m.committee(r.epoch).unwrap();
            let n = committee.members.len() as u64;
            // The ejection cap and the committee floor.
            prop_assert!(r.ejected.len() as u64 <= n.saturating_sub(1) / 3);
            if !r.ejected.is_empty() {
                prop_assert!(r.next_committee.len() as u64 >= spec.config.min_committee_size);
            }
            prop_assert_eq!(r.next_committee.len() + r.ejected.len(), committee.members.len());
            for o in &r.validators {
                prop_assert!(o.rate_bps <= BPS_MAX);
                prop_assert!(o.governance_weight_bps <= BPS_MAX);
                // No stake below zero: the slash never exceeds the snapshot stake.
                let stake = committee.member(&o.address).unwrap().stake;
                prop_assert!(o.slashed <= stake);
                prop_assert_eq!(o.stake_after + o.slashed, stake);
                // Ejected validators are in no later committee, so never slashed again.
                prop_assert!(!ejected_before.contains(&o.address));
            }
            if r.systemic {
                prop_assert_eq!(r.slashed_total, 0);
                prop_assert!(r.ejected.is_empty());
            }
            burned += r.slashed_total;
            prop_assert_eq!(r.burned_total, burned);
            ejected_before.extend(r.ejected.iter().copied());
        }
        prop_assert_eq!(chain.m.burned(), burned);
    }

    #[test]
    fn same_blocks_same_results(spec in specs()) {
        let (a, b) = (run(&spec), run(&spec));
        prop_assert_eq!(&a.outcomes, &b.outcomes);
        prop_assert_eq!(a.m.stakes(), b.m.stakes());
        prop_assert_eq!(a.m.burned(), b.m.burned());
    }
}
