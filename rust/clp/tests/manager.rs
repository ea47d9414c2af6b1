//! The state machine: genesis, committees per epoch, stakes and burn, the validator
//! record and the queries a node serves.

mod common;

use clp::{Address, ClpConfig, ClpManager, GenesisError, ValidatorStatus};
use common::*;

#[test]
fn genesis_is_checked() {
    let (vs, _) = genesis(&[10, 20, 30, 40]);
    let c = small_config();
    assert!(ClpManager::new(CHAIN_ID, c, vs.clone()).is_ok());
    assert_eq!(
        ClpManager::new("", c, vs.clone()).unwrap_err(),
        GenesisError::ChainId
    );
    assert_eq!(
        ClpManager::new(&"x".repeat(65), c, vs.clone()).unwrap_err(),
        GenesisError::ChainId
    );
    assert_eq!(
        ClpManager::new("tab\tid", c, vs.clone()).unwrap_err(),
        GenesisError::ChainId
    );
    assert!(ClpManager::new(&"x".repeat(64), c, vs.clone()).is_ok());
    assert_eq!(
        ClpManager::new(CHAIN_ID, c, vec![]).unwrap_err(),
        GenesisError::NoValidators
    );
    let mut dup = vs.clone();
    dup.push(vs[1].clone());
    assert_eq!(
        ClpManager::new(CHAIN_ID, c, dup).unwrap_err(),
        GenesisError::DuplicateAddress(vs[1].address)
    );
    let mut wrong = vs.clone();
    wrong[2].address = Address([1; 20]);
    assert_eq!(
        ClpManager::new(CHAIN_ID, c, wrong).unwrap_err(),
        GenesisError::AddressMismatch(Address([1; 20]))
    );
    let mut zero = vs.clone();
    zero[0].stake = 0;
    assert_eq!(
        ClpManager::new(CHAIN_ID, c, zero).unwrap_err(),
        GenesisError::ZeroStake(vs[0].address)
    );
    let mut big = vs.clone();
    big[0].stake = u64::MAX;
    assert_eq!(
        ClpManager::new(CHAIN_ID, c, big).unwrap_err(),
        GenesisError::StakeOverflow
    );
    let bad = ClpConfig {
        response_window: 1,
        ..c
    };
    assert!(
        matches!(ClpManager::new(CHAIN_ID, bad, vs).unwrap_err(), GenesisError::Config(e) if e.field == "response_window")
    );
}

#[test]
fn committee_of_epoch_0_is_genesis_in_address_order() {
    let (mut vs, _) = genesis(&[10, 20, 30, 40]);
    vs.reverse(); // the manager sorts
    let m = ClpManager::new(CHAIN_ID, small_config(), vs.clone()).unwrap();
    let c = m.committee(0).unwrap();
    assert_eq!(c.epoch, 0);
    assert_eq!(c.total_stake, 100);
    let addrs: Vec<Address> = c.members.iter().map(|x| x.address).collect();
    let mut sorted = addrs.clone();
    sorted.sort();
    assert_eq!(addrs, sorted);
    let v = c.member(&vs[0].address).unwrap();
    assert_eq!(
        (v.name.as_str(), v.stake, v.public_key),
        (vs[0].name.as_str(), vs[0].stake, vs[0].public_key)
    );
    assert!(
        m.committee(1).is_none(),
        "unknown until epoch 0 is evaluated"
    );
    assert_eq!(m.height(), 0);
    assert_eq!(m.current_epoch(), 0);
    assert_eq!(m.next_block_epoch(), 0);
    assert_eq!(m.genesis_total(), 100);
}

#[test]
fn next_committee_has_the_stakes_after_the_slashes() {
    let mut chain = Chain::new(small_config(), &[100_000; 10]);
    let (lazy, slow) = (chain.addrs[0], chain.addrs[1]);
    // lazy misses everything (ejected: streak 3); slow answers only the first (slashed).
    let r = chain.finish_epoch(|c, a| a != lazy && (a != slow || c.height == 2));
    assert_eq!(chain.m.height(), 10);
    assert_eq!(chain.m.current_epoch(), 0);
    assert_eq!(chain.m.next_block_epoch(), 1);
    assert_eq!(r.ejected, vec![lazy]);
    assert_eq!(r.outcome(&slow).unwrap().status, ValidatorStatus::Slashed);
    let c1 = chain.m.committee(1).unwrap();
    assert_eq!(c1.members.len(), 9);
    assert!(!c1.contains(&lazy));
    assert_eq!(c1.member(&slow).unwrap().stake, 90_000);
    assert_eq!(c1.total_stake, 8 * 100_000 + 90_000);
    assert_eq!(
        chain.m.stakes()[&lazy],
        90_000,
        "an ejected validator keeps its stake"
    );
    assert_eq!(chain.m.burned(), 20_000);
    assert_eq!(
        chain.m.stakes().values().sum::<u64>() + chain.m.burned(),
        1_000_000
    );
    assert_eq!(chain.m.next_block_committee(), c1);
    assert_eq!(chain.m.epoch_result(0), Some(&r));
    assert_eq!(chain.m.last_epoch_result(), Some(&r));
    assert_eq!(chain.m.ejected().get(&lazy), Some(&0));
}

#[test]
fn an_ejected_validator_is_never_slashed_again() {
    let mut chain = Chain::new(small_config(), &[100_000; 10]);
    let lazy = chain.addrs[0];
    chain.finish_epoch(|_, a| a != lazy);
    let stake = chain.m.stakes()[&lazy];
    for _ in 0..3 {
        let r = chain.finish_epoch(|_, a| a != lazy);
        assert!(r.outcome(&lazy).is_none());
    }
    assert_eq!(chain.m.stakes()[&lazy], stake);
    let info = chain.m.validator_info(&lazy).unwrap();
    assert_eq!(info.status, ValidatorStatus::Ejected);
    assert_eq!(info.ejected_at_epoch, Some(0));
    assert!(!info.in_committee);
    assert_eq!(info.slashed_total, 10_000);
    assert_eq!(info.governance_weight_bps, 0);
    assert_eq!((info.response_rate, info.consecutive_failures), (10_000, 0));
}

#[test]
fn a_deferred_member_slashed_to_nothing_stays_without_stake() {
    // 4 members: the cap is 0, so every candidate is deferred; a full slash leaves 0.
    let config = ClpConfig {
        slash_fraction_bps: 10_000,
        systemic_fault_bps: 10_000,
        ..small_config()
    };
    let mut chain = Chain::new(config, &[100_000; 4]);
    let lazy = chain.addrs[2];
    let r = chain.finish_epoch(|_, a| a != lazy);
    let o = r.outcome(&lazy).unwrap();
    assert_eq!(
        (o.status, o.slashed, o.stake_after),
        (ValidatorStatus::EjectionDeferred, 100_000, 0)
    );
    let c1 = chain.m.committee(1).unwrap();
    assert_eq!(c1.member(&lazy).unwrap().stake, 0);
    assert_eq!(c1.members.len(), 4);
    // Next epoch: failing again, a slash of 0.
    let r = chain.finish_epoch(|_, a| a != lazy);
    assert_eq!(r.outcome(&lazy).unwrap().slashed, 0);
    assert_eq!(
        r.outcome(&lazy).unwrap().status,
        ValidatorStatus::EjectionDeferred
    );
    let info = chain.m.validator_info(&lazy).unwrap();
    assert_eq!(
        (info.status, info.stake, info.in_committee),
        (ValidatorStatus::EjectionDeferred, 0, true)
    );
}

#[test]
fn validator_info_and_statuses_follow_the_chain() {
    let config = ClpConfig {
        max_consecutive_failures: 10,
        ..small_config()
    };
    let mut chain = Chain::new(config, &[100_000; 5]);
    let v = chain.addrs[3];
    chain.run(6, |_, a| a != v); // challenge of 2 finalized at 5
    let info = chain.m.validator_info(&v).unwrap();
    assert_eq!(
        (info.response_rate, info.consecutive_failures, info.status),
        (0, 1, ValidatorStatus::Active)
    );
    assert_eq!(info.stake, 100_000);
    assert!(chain.m.validator_info(&Address([3; 20])).is_none());
    let st = &chain.m.validator_statuses()[&v];
    assert_eq!((st.challenges, st.missed), (1, 1));
    let json = serde_json::to_value(st).unwrap();
    assert_eq!(
        json.as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>(),
        [
            "address",
            "challenges",
            "consecutive_failures",
            "missed",
            "rate_bps",
            "responses"
        ]
    );
    let json = serde_json::to_value(&info).unwrap();
    for k in [
        "address",
        "response_rate",
        "consecutive_failures",
        "status",
        "stake",
        "slashed_total",
        "in_committee",
        "ejected_at_epoch",
        "governance_weight_bps",
    ] {
        assert!(json.get(k).is_some(), "{k}");
    }
    let open: Vec<u64> = chain
        .m
        .active_challenges()
        .iter()
        .map(|c| c.height)
        .collect();
    assert_eq!(open, vec![4, 6]);
    // At the epoch's end, the status of its result.
    let r = chain.finish_epoch(|_, a| a != v);
    assert_eq!(r.outcome(&v).unwrap().status, ValidatorStatus::Slashed);
    let info = chain.m.validator_info(&v).unwrap();
    assert_eq!(
        (info.status, info.slashed_total, info.governance_weight_bps),
        (ValidatorStatus::Slashed, 10_000, 0)
    );
    assert_eq!(
        info.consecutive_failures, 3,
        "the streak carries into the new epoch"
    );
    assert_eq!(
        info.response_rate, 10_000,
        "no challenge in the new epoch yet"
    );
}

#[test]
fn replaying_the_same_blocks_gives_the_same_state() {
    let run = || {
        let mut chain = Chain::new(
            small_config(),
            &[100_000, 5_000, 70_000, 1_000, 30_000, 2_000],
        );
        let (x, y) = (chain.addrs[1], chain.addrs[4]);
        chain.run(35, |c, a| a != x && (a != y || c.height % 4 == 0));
        chain
    };
    let (a, b) = (run(), run());
    assert_eq!(a.outcomes, b.outcomes);
    assert_eq!(a.m.stakes(), b.m.stakes());
    assert_eq!(a.m.burned(), b.m.burned());
}
