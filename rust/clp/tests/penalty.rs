//! §8: epoch evaluation — rates, the systemic rule, slashes, ejection candidates, their
//! order and cap, statuses, governance weight, and the exact JSON of `ClpEpochResult`.

mod common;

use clp::{
    Address, ClpConfig, ClpEpochResult, MemberRecord, PenaltyEvaluator, ValidatorCounters,
    ValidatorStatus,
};
use common::*;

fn a(i: u8) -> Address {
    Address([i; 20])
}

/// A member with `responses` of `challenges` answered and the given streak.
fn member(i: u8, stake: u64, challenges: u64, responses: u64, streak: u64) -> MemberRecord {
    MemberRecord {
        address: a(i),
        stake,
        counters: ValidatorCounters {
            address: a(i),
            challenges,
            responses,
            missed: challenges - responses,
            consecutive_failures: streak,
            rate_bps: clp::rate_bps(responses, challenges),
        },
    }
}

fn eval(config: ClpConfig, members: &[MemberRecord]) -> ClpEpochResult {
    PenaltyEvaluator::new(config)
        .evaluate_epoch(0, members, 0)
        .unwrap()
}

fn status(r: &ClpEpochResult, i: u8) -> ValidatorStatus {
    r.outcome(&a(i)).unwrap().status
}

/// Passing members 1..=n (stake 100000, 4 of 4 answered).
fn passing(n: u8) -> Vec<MemberRecord> {
    (1..=n).map(|i| member(i, 100_000, 4, 4, 0)).collect()
}

#[test]
fn a_member_fails_below_the_minimum_rate_only() {
    let c = small_config(); // min 5000 bps
    let mut ms = passing(6);
    ms.push(member(20, 100_000, 4, 2, 0)); // 5000: passes
    ms.push(member(21, 100_000, 3, 1, 0)); // 3333: fails
    let r = eval(c, &ms);
    assert!(!r.systemic);
    assert_eq!(status(&r, 20), ValidatorStatus::Active);
    assert_eq!(r.outcome(&a(20)).unwrap().rate_bps, 5000);
    assert_eq!(status(&r, 21), ValidatorStatus::Slashed);
    assert_eq!(r.outcome(&a(21)).unwrap().rate_bps, 3333);
    assert_eq!(r.outcome(&a(21)).unwrap().slashed, 10_000);
}

#[test]
fn a_member_without_challenges_is_not_evaluated() {
    let c = ClpConfig {
        min_stake: 50_000,
        max_consecutive_failures: 1,
        ..small_config()
    };
    // Streak and stake would make it a candidate; no challenge means it is none.
    let ms = vec![
        member(1, 10, 0, 0, 5),
        member(2, 100_000, 0, 0, 0),
        member(3, 100_000, 0, 0, 0),
        member(4, 100_000, 0, 0, 0),
    ];
    let r = eval(c, &ms);
    let o = r.outcome(&a(1)).unwrap();
    assert_eq!(
        (o.rate_bps, o.slashed, o.status, o.governance_weight_bps),
        (10_000, 0, ValidatorStatus::Active, 10_000)
    );
    assert!(r.ejected.is_empty());
    assert_eq!(r.governance_weight_total_bps, 40_000);
}

#[test]
fn systemic_boundary_is_inclusive() {
    // failing 1 of 3 equal stakes: 1/3 * 10000 = 3333.33 bps of the committee.
    let ms = vec![
        member(1, 100_000, 4, 0, 4),
        member(2, 100_000, 4, 4, 0),
        member(3, 100_000, 4, 4, 0),
    ];
    let at = |bps| {
        eval(
            ClpConfig {
                systemic_fault_bps: bps,
                ..small_config()
            },
            &ms,
        )
        .systemic
    };
    assert!(at(3333)); // 100000*10000 >= 300000*3333
    assert!(!at(3334)); // 100000*10000 <  300000*3334
                        // Exact equality: 1 of 4 equal stakes at 2500 bps.
    let ms4 = vec![
        member(1, 100_000, 4, 0, 4),
        member(2, 100_000, 4, 4, 0),
        member(3, 100_000, 4, 4, 0),
        member(4, 100_000, 4, 4, 0),
    ];
    assert!(
        eval(
            ClpConfig {
                systemic_fault_bps: 2500,
                ..small_config()
            },
            &ms4
        )
        .systemic
    );
    assert!(
        !eval(
            ClpConfig {
                systemic_fault_bps: 2501,
                ..small_config()
            },
            &ms4
        )
        .systemic
    );
}

#[test]
fn nobody_failing_is_never_systemic_even_at_zero_bps() {
    let c = ClpConfig {
        systemic_fault_bps: 0,
        ..small_config()
    };
    let r = eval(c, &passing(4));
    assert!(!r.systemic);
    let e = PenaltyEvaluator::new(c);
    assert!(!e.is_systemic(0, 400_000));
    assert!(!e.is_systemic(0, 0));
    assert!(
        e.is_systemic(1, 400_000),
        "with 0 bps any failure is systemic"
    );
}

#[test]
fn failing_stake_zero_is_not_systemic() {
    // A failing member with stake 0 adds no failing stake.
    let c = ClpConfig {
        systemic_fault_bps: 0,
        min_stake: 0,
        ..small_config()
    };
    let mut ms = passing(4);
    ms.push(member(9, 0, 4, 0, 1));
    let r = eval(c, &ms);
    assert!(!r.systemic);
    assert_eq!(
        status(&r, 9),
        ValidatorStatus::Slashed,
        "failed, though nothing is left to take"
    );
    assert_eq!(r.outcome(&a(9)).unwrap().slashed, 0);
    // With a minimum stake it is a candidate instead (stake after 0 < 1000).
    let r = eval(
        ClpConfig {
            min_stake: 1000,
            ..c
        },
        &ms,
    );
    assert_eq!(r.ejected, vec![a(9)]);
}

#[test]
fn a_systemic_epoch_slashes_and_ejects_nobody() {
    let c = ClpConfig {
        max_consecutive_failures: 2,
        min_stake: 50_000,
        ..small_config()
    };
    let mut ms = passing(6);
    // 4 failing of 10: 40% >= 33.34%.
    for i in 10..14 {
        ms.push(member(i, 100_000, 4, 0, 9));
    }
    // A passing member whose stake would make it a candidate.
    ms[0].stake = 10;
    let r = eval(c, &ms);
    assert!(r.systemic);
    assert_eq!(r.slashed_total, 0);
    assert!(r.ejected.is_empty());
    assert_eq!(r.next_committee.len(), 10);
    for o in &r.validators {
        assert_eq!((o.status, o.slashed), (ValidatorStatus::Active, 0), "{o:?}");
        assert_eq!(o.stake_after, if o.address == a(1) { 10 } else { 100_000 });
    }
    // The streak is reported as it stands and carries on.
    assert_eq!(r.outcome(&a(10)).unwrap().consecutive_failures, 9);
    // Governance weight is still the rate.
    assert_eq!(r.outcome(&a(10)).unwrap().governance_weight_bps, 0);
    assert_eq!(r.governance_weight_total_bps, 60_000);
}

#[test]
fn calculate_slash_floors_and_never_exceeds_the_stake() {
    let e = |bps| {
        PenaltyEvaluator::new(ClpConfig {
            slash_fraction_bps: bps,
            ..small_config()
        })
    };
    assert_eq!(e(1000).calculate_slash(100_000), Ok(10_000));
    assert_eq!(e(1000).calculate_slash(99_999), Ok(9_999));
    assert_eq!(e(3333).calculate_slash(7), Ok(2));
    assert_eq!(e(1).calculate_slash(9_999), Ok(0));
    assert_eq!(e(0).calculate_slash(100_000), Ok(0));
    assert_eq!(e(10_000).calculate_slash(100_000), Ok(100_000));
    assert_eq!(e(10_000).calculate_slash(0), Ok(0));
    assert_eq!(e(10_000).calculate_slash(u64::MAX), Ok(u64::MAX));
    assert_eq!(
        e(9_999).calculate_slash(u64::MAX),
        Ok(((u128::from(u64::MAX) * 9999) / 10_000) as u64)
    );
}

#[test]
fn slashes_go_to_burned_and_stake_after() {
    let mut ms = passing(6);
    ms.push(member(9, 55_555, 4, 0, 1));
    let r = PenaltyEvaluator::new(small_config())
        .evaluate_epoch(3, &ms, 777)
        .unwrap();
    let o = r.outcome(&a(9)).unwrap();
    assert_eq!((o.slashed, o.stake_after), (5_555, 50_000));
    assert_eq!(r.slashed_total, 5_555);
    assert_eq!(r.burned_total, 777 + 5_555, "cumulative");
    assert_eq!(r.epoch, 3);
}

#[test]
fn ejection_candidates_by_streak_or_by_stake_after_slash() {
    let c = ClpConfig {
        max_consecutive_failures: 3,
        min_stake: 50_000,
        ..small_config()
    };
    let mut ms = passing(9);
    ms.push(member(20, 100_000, 4, 3, 3)); // passes, streak 3 >= 3: candidate
    ms.push(member(21, 100_000, 4, 3, 2)); // passes, streak 2: not
    ms.push(member(22, 54_000, 4, 0, 2)); // fails: 54000 - 5400 = 48600 < 50000: candidate
    ms.push(member(23, 56_000, 4, 0, 2)); // fails: 50400 >= 50000: slashed only
    ms.push(member(24, 40_000, 4, 4, 0)); // passes with a stake below the minimum: candidate
    let r = eval(c, &ms);
    assert!(!r.systemic, "{r:?}");
    assert_eq!(r.ejected, vec![a(20), a(22), a(24)]);
    assert_eq!(status(&r, 21), ValidatorStatus::Active);
    assert_eq!(status(&r, 23), ValidatorStatus::Slashed);
    // stake_after == min_stake is not below it
    let mut ms = passing(6);
    ms.push(member(30, 50_000, 4, 4, 0));
    assert!(eval(c, &ms).ejected.is_empty());
}

#[test]
fn ejection_order_and_cap_defer_the_rest() {
    // 7 members, min_committee_size 4: cap = min(6 // 3, 7 - 4) = 2.
    let c = ClpConfig {
        max_consecutive_failures: 1,
        min_stake: 0,
        slash_fraction_bps: 0,
        min_response_rate_bps: 0,
        ..small_config()
    };
    let ms = vec![
        member(1, 300, 4, 4, 0),
        member(2, 200, 4, 3, 5), // streak 5
        member(3, 100, 4, 3, 7), // streak 7: first
        member(4, 100, 4, 3, 5), // streak 5, stake 100 < 200: second
        member(5, 100, 4, 3, 5), // ties with 4 on streak and stake; address 5 > 4: third
        member(6, 300, 4, 4, 0),
        member(7, 300, 4, 4, 0),
    ];
    let r = eval(c, &ms);
    assert_eq!(r.ejected, vec![a(3), a(4)]);
    assert_eq!(status(&r, 5), ValidatorStatus::EjectionDeferred);
    assert_eq!(status(&r, 2), ValidatorStatus::EjectionDeferred);
    assert_eq!(r.next_committee, vec![a(1), a(2), a(5), a(6), a(7)]);
    // stake_after, not stake, orders: with a slash that reverses two stakes' order.
    let c2 = ClpConfig {
        slash_fraction_bps: 10_000,
        min_response_rate_bps: 5000,
        ..c
    };
    let ms2 = vec![
        member(1, 300, 4, 4, 0),
        member(2, 500, 4, 0, 5), // fails: stake after 0
        member(3, 100, 4, 3, 5), // passes: stake after 100
        member(4, 300, 4, 4, 0),
        member(5, 300, 4, 4, 0),
        member(6, 300, 4, 4, 0),
        member(7, 300, 4, 4, 0),
    ];
    let r2 = eval(c2, &ms2);
    assert!(!r2.systemic, "failing stake 500 of 2100 is below 33.34%");
    assert_eq!(r2.ejected, vec![a(2), a(3)]);
    // Listed in address order whatever the ejection order.
    let c3 = ClpConfig {
        min_committee_size: 6,
        ..c
    };
    assert_eq!(eval(c3, &ms).ejected, vec![a(3)], "cap = min(2, 7 - 6) = 1");
}

#[test]
fn ejection_cap() {
    let e = |min| {
        PenaltyEvaluator::new(ClpConfig {
            min_committee_size: min,
            ..small_config()
        })
    };
    assert_eq!(e(4).ejection_cap(4), 0);
    assert_eq!(e(4).ejection_cap(5), 1);
    assert_eq!(e(4).ejection_cap(7), 2);
    assert_eq!(e(4).ejection_cap(10), 3);
    assert_eq!(e(4).ejection_cap(100), 33);
    assert_eq!(e(8).ejection_cap(10), 2);
    assert_eq!(e(4).ejection_cap(3), 0, "never negative");
    assert_eq!(e(4).ejection_cap(1), 0);
    assert_eq!(e(4).ejection_cap(0), 0);
}

#[test]
fn statuses_and_governance_weight() {
    // 8 members, cap = min(7 // 3, 8 - 4) = 2; three candidates.
    let c = ClpConfig {
        max_consecutive_failures: 4,
        ..small_config()
    };
    let ms = vec![
        member(1, 100_000, 4, 4, 0), // active, 10000
        member(2, 100_000, 4, 1, 3), // slashed, 2500
        member(3, 100_000, 4, 0, 9), // ejected, 0
        member(4, 100_000, 4, 0, 8), // ejected, 0
        member(5, 100_000, 4, 0, 4), // deferred, 0 (its rate)
        member(6, 100_000, 4, 4, 0),
        member(7, 100_000, 4, 4, 0),
        member(8, 100_000, 4, 3, 0), // active, 7500
    ];
    let c = ClpConfig {
        systemic_fault_bps: 10_000,
        ..c
    };
    let r = eval(c, &ms);
    let got: Vec<(ValidatorStatus, u64, u64)> = r
        .validators
        .iter()
        .map(|o| (o.status, o.slashed, o.governance_weight_bps))
        .collect();
    use ValidatorStatus::*;
    assert_eq!(
        got,
        vec![
            (Active, 0, 10_000),
            (Slashed, 10_000, 2500),
            (Ejected, 10_000, 0),
            (Ejected, 10_000, 0),
            (EjectionDeferred, 10_000, 0),
            (Active, 0, 10_000),
            (Active, 0, 10_000),
            (Active, 0, 7500),
        ]
    );
    assert_eq!(r.governance_weight_total_bps, 10_000 * 3 + 2500 + 7500);
    assert_eq!(r.slashed_total, 40_000);
}

#[test]
fn result_json_is_exactly_that_of_section_8() {
    let ms = vec![
        member(1, 100_000, 8, 3, 5),
        member(2, 100_000, 8, 8, 0),
        member(3, 100_000, 8, 8, 0),
        member(4, 100_000, 8, 8, 0),
    ];
    let c = ClpConfig {
        max_consecutive_failures: 12,
        ..small_config()
    };
    let r = eval(c, &ms);
    let text = serde_json::to_string(&r).unwrap();
    let h = |i: u8| a(i).to_hex();
    let line = |i: u8, ch, re, rate, sl, st: &str, cf, after, gw| {
        format!(
            r#"{{"address":"{}","challenges":{ch},"responses":{re},"rate_bps":{rate},"slashed":{sl},"status":"{st}","consecutive_failures":{cf},"stake_after":{after},"governance_weight_bps":{gw}}}"#,
            h(i)
        )
    };
    let expected = format!(
        r#"{{"epoch":0,"systemic":false,"validators":[{},{},{},{}],"slashed_total":10000,"ejected":[],"next_committee":["{}","{}","{}","{}"],"burned_total":10000,"governance_weight_total_bps":33750}}"#,
        line(1, 8, 3, 3750, 10000, "slashed", 5, 90000, 3750),
        line(2, 8, 8, 10000, 0, "active", 0, 100000, 10000),
        line(3, 8, 8, 10000, 0, "active", 0, 100000, 10000),
        line(4, 8, 8, 10000, 0, "active", 0, 100000, 10000),
        h(1),
        h(2),
        h(3),
        h(4)
    );
    assert_eq!(text, expected);
    assert_eq!(serde_json::from_str::<ClpEpochResult>(&text).unwrap(), r);
    for s in [
        ValidatorStatus::Active,
        ValidatorStatus::Slashed,
        ValidatorStatus::EjectionDeferred,
        ValidatorStatus::Ejected,
    ] {
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            format!("\"{}\"", s.as_str())
        );
    }
}

#[test]
fn members_are_listed_in_address_order_whatever_the_input_order() {
    let mut ms = passing(5);
    ms.reverse();
    let r = eval(small_config(), &ms);
    let got: Vec<Address> = r.validators.iter().map(|o| o.address).collect();
    assert_eq!(got, (1..=5).map(a).collect::<Vec<_>>());
}
