//! §7: the steps of applying a block, in their order, and the counters they keep.

mod common;

use clp::{ClpConfig, ResponseAggregator, ValidatorStatus};
use common::*;

#[test]
fn step_1_before_2_a_response_at_the_deadline_counts() {
    let mut chain = Chain::new(small_config(), &[10_000; 4]);
    chain.run(4, |_, _| false); // challenge of 2 open, deadline 5
    let v = chain.addrs[3];
    let r = chain.respond(v, 2);
    let out = chain.apply(&[r]); // height 5
    let fin = out.challenge_finalized.unwrap();
    assert_eq!(fin.height, 2);
    assert_eq!(fin.responded, vec![v]);
    assert_eq!(fin.missed, chain.addrs[..3].to_vec());
    let c = chain.m.validator_statuses()[&v];
    assert_eq!(
        (c.challenges, c.responses, c.missed, c.consecutive_failures),
        (1, 1, 0, 0)
    );
    let c = chain.m.validator_statuses()[&chain.addrs[0]];
    assert_eq!(
        (c.challenges, c.responses, c.missed, c.consecutive_failures),
        (1, 0, 1, 1)
    );
    assert_eq!(c.rate_bps, 0);
    assert!(chain.m.challenge(2).is_none(), "finalized challenges close");
}

#[test]
fn step_2_finalizes_only_at_the_deadline() {
    let mut chain = Chain::new(small_config(), &[10_000; 4]);
    chain.run(2, |_, _| false); // challenge of 2
    for _ in 3..5 {
        assert!(chain.step(|_, _| false).challenge_finalized.is_none());
        assert!(chain.m.challenge(2).is_some());
    }
    assert_eq!(
        chain.step(|_, _| false).challenge_finalized.unwrap().height,
        2
    );
}

#[test]
fn step_2_before_3_the_last_deadline_of_an_epoch_counts_in_it() {
    // K=1, W=3, E=10: the challenge of 7 has its deadline at 10, the epoch's last block.
    let config = ClpConfig {
        challenge_interval: 1,
        ..small_config()
    };
    let mut chain = Chain::new(config, &[10_000; 4]);
    let v = chain.addrs[0];
    // v answers everything but the challenge of 7.
    chain.run(9, |c, a| a != v || c.height != 7);
    let out = chain.step(|c, a| a != v || c.height != 7);
    assert_eq!(out.challenge_finalized.as_ref().unwrap().height, 7);
    let r = out.epoch_result.unwrap();
    let o = r.outcome(&v).unwrap();
    // Challenges 1..=7 (8 would cross the epoch): 7 counted, the miss of 7 included.
    assert_eq!(
        (o.challenges, o.responses, o.consecutive_failures),
        (7, 6, 1)
    );
}

#[test]
fn step_3_before_4_a_challenge_after_an_ejection_expects_the_new_committee() {
    let mut chain = Chain::new(small_config(), &[10_000; 10]);
    let lazy = chain.addrs[4];
    let r = chain.finish_epoch(|_, a| a != lazy);
    assert_eq!(r.ejected, vec![lazy]);
    assert_eq!(chain.m.committee(1).unwrap().members.len(), 9);
    chain.run(2, |_, _| true);
    let c = chain.outcomes.last().unwrap().challenge.clone().unwrap();
    assert_eq!(c.height, 12);
    assert_eq!(c.epoch, 1);
    assert_eq!(c.expected, r.next_committee);
}

#[test]
fn per_epoch_counters_restart_and_the_streak_carries_over() {
    let config = ClpConfig {
        max_consecutive_failures: 100,
        min_response_rate_bps: 0,
        ..small_config()
    };
    let mut chain = Chain::new(config, &[10_000; 4]);
    let v = chain.addrs[1];
    // Epoch 0 (challenges 2, 4, 6): v answers 2 only, then misses 4 and 6.
    let r0 = chain.finish_epoch(|c, a| a != v || c.height == 2);
    let o = r0.outcome(&v).unwrap();
    assert_eq!(
        (o.challenges, o.responses, o.consecutive_failures),
        (3, 1, 2)
    );
    // Right after the close, the new epoch's counters are fresh but the streak is kept.
    let c = chain.m.validator_statuses()[&v];
    assert_eq!(
        (
            c.challenges,
            c.responses,
            c.missed,
            c.consecutive_failures,
            c.rate_bps
        ),
        (0, 0, 0, 2, 10_000)
    );
    // Epoch 1: v misses 12, answers 14, misses 16: the streak runs 3, 0, 1.
    chain.run(5, |c, a| a != v || c.height == 14); // height 15: challenge 12 finalized
    assert_eq!(chain.m.validator_statuses()[&v].consecutive_failures, 3);
    let r1 = chain.finish_epoch(|c, a| a != v || c.height == 14);
    let o = r1.outcome(&v).unwrap();
    assert_eq!(
        (o.challenges, o.responses, o.consecutive_failures),
        (3, 1, 1)
    );
}

#[test]
fn missed_counts_and_rate_floor() {
    let mut chain = Chain::new(small_config(), &[10_000; 4]);
    let v = chain.addrs[0];
    chain.run(9, |c, a| a != v || c.height == 2);
    let c = chain.m.validator_statuses()[&v];
    assert_eq!((c.challenges, c.responses, c.missed), (3, 1, 2));
    assert_eq!(c.rate_bps, 3333); // 1 * 10000 // 3
    assert_eq!(clp::rate_bps(2, 3), 6666);
    assert_eq!(clp::rate_bps(0, 0), 10_000);
}

#[test]
fn aggregator_records_each_member_once_and_only_for_open_challenges() {
    let mut chain = Chain::new(small_config(), &[10_000; 4]);
    chain.run(2, |_, _| false);
    let c = chain.m.challenge(2).unwrap().clone();
    let mut a = ResponseAggregator::new(chain.addrs.iter().copied());
    a.register_challenge(c.clone());
    assert!(a.record_response(2, chain.addrs[0]));
    assert!(
        !a.record_response(2, chain.addrs[0]),
        "a second response is not counted"
    );
    assert!(!a.record_response(4, chain.addrs[0]), "no challenge at 4");
    assert!(
        !a.record_response(2, clp::Address([0xee; 20])),
        "not expected"
    );
    assert!(a.has_response(2, &chain.addrs[0]));
    assert!(a.finalize_due(4).is_none());
    let fin = a.finalize_due(5).unwrap();
    assert_eq!(fin.responded, vec![chain.addrs[0]]);
    assert_eq!(a.counters(&chain.addrs[0]).unwrap().responses, 1);
    assert!(a.open_challenges().is_empty());
}

#[test]
fn statuses_before_any_epoch_result() {
    let chain = Chain::new(small_config(), &[10_000; 4]);
    let info = chain.m.validator_info(&chain.addrs[0]).unwrap();
    assert_eq!(info.status, ValidatorStatus::Active);
    assert_eq!(info.governance_weight_bps, 10_000);
    assert_eq!(info.response_rate, 10_000);
    assert!(info.in_committee);
    assert_eq!(info.ejected_at_epoch, None);
    assert!(chain.m.last_epoch_result().is_none());
}
