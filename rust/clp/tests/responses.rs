//! §4 challenges and §5 responses: when a challenge is derived, the JSON forms, and each
//! validity rule with its reason code, checked in order.

mod common;

use clp::{
    should_generate, Address, ClpChallenge, ClpConfig, ClpResponse, RejectReason, Signature,
};
use common::*;
use serde_json::json;

#[test]
fn should_generate_needs_height_interval_and_one_epoch() {
    let c = small_config(); // E=10, K=2, W=3
    let got: Vec<u64> = (0..=31).filter(|h| should_generate(&c, *h)).collect();
    // 0 never; odd heights never; 8 and 10 would reach into the next epoch.
    assert_eq!(got, vec![2, 4, 6, 12, 14, 16, 22, 24, 26]);
    let k1 = ClpConfig {
        challenge_interval: 1,
        ..c
    };
    assert!(should_generate(&k1, 7)); // deadline 10, still epoch 0
    assert!(!should_generate(&k1, 8));
}

#[test]
fn challenge_json_is_that_of_section_11() {
    let mut chain = Chain::new(small_config(), &[10_000; 4]);
    chain.step(|_, _| false);
    let c = chain.step(|_, _| false).challenge.expect("challenge at 2");
    assert_eq!(c.height, 2);
    assert_eq!(c.epoch, 0);
    assert_eq!(c.deadline, 5);
    assert_eq!(c.expected, chain.addrs);
    assert_eq!(c.value, clp::challenge_value(CHAIN_ID, 2, &block_hash(2)));
    let v = serde_json::to_value(&c).unwrap();
    assert_eq!(
        serde_json::to_string(&v).unwrap(),
        serde_json::to_string(&json!({
            "deadline": 5, "epoch": 0, "expected": chain.addrs.iter().map(|a| a.to_hex()).collect::<Vec<_>>(),
            "height": 2, "value": c.value.to_hex()
        }))
        .unwrap()
    );
    let text = serde_json::to_string(&c).unwrap();
    assert!(
        text.starts_with(r#"{"height":2,"epoch":0,"value":""#),
        "{text}"
    );
    assert_eq!(serde_json::from_str::<ClpChallenge>(&text).unwrap(), c);
}

#[test]
fn expected_is_sorted_by_address() {
    let c = ClpChallenge::derive(
        &small_config(),
        CHAIN_ID,
        2,
        &block_hash(2),
        [Address([9; 20]), Address([1; 20]), Address([5; 20])],
    );
    assert_eq!(
        c.expected,
        vec![Address([1; 20]), Address([5; 20]), Address([9; 20])]
    );
}

#[test]
fn response_json_round_trips() {
    let r = ClpResponse::sign(CHAIN_ID, 2, &block_hash(0), &seed(1));
    let text = serde_json::to_string(&r).unwrap();
    assert!(
        text.starts_with(r#"{"challenge_height":2,"validator":""#),
        "{text}"
    );
    assert_eq!(serde_json::from_str::<ClpResponse>(&text).unwrap(), r);
}

/// Rule 1: every way a response body can be malformed fails to parse.
#[test]
fn malformed_bodies_do_not_parse() {
    let r = serde_json::to_value(ClpResponse::sign(CHAIN_ID, 2, &block_hash(0), &seed(1))).unwrap();
    let with = |k: &str, v: serde_json::Value| {
        let mut x = r.clone();
        x[k] = v;
        x
    };
    let without = |k: &str| {
        let mut x = r.clone();
        x.as_object_mut().unwrap().remove(k);
        x
    };
    let sig = r["signature"].as_str().unwrap().to_string();
    let val = r["validator"].as_str().unwrap().to_string();
    let bad = vec![
        without("challenge_height"),
        without("validator"),
        without("signature"),
        with("challenge_height", json!(-1)),
        with("challenge_height", json!(true)),
        with("challenge_height", json!("2")),
        with("challenge_height", json!(2.0)),
        with("challenge_height", json!(null)),
        with(
            "challenge_height",
            serde_json::from_str("18446744073709551616").unwrap(),
        ),
        with("validator", json!(val.to_uppercase())),
        with("validator", json!(&val[..38])),
        with("validator", json!(format!("{val}00"))),
        with("validator", json!(format!("0x{}", &val[2..]))),
        with("validator", json!(5)),
        with("signature", json!(&sig[..126])),
        with("signature", json!(format!("{sig}00"))),
        with("signature", json!(sig.to_uppercase())),
        with("signature", json!(format!("{} {}", &sig[..2], &sig[3..]))),
        with("signature", json!(format!("{}g", &sig[..127]))),
        with("signature", json!(null)),
        json!([2, val, sig]),
        json!("response"),
        json!(null),
    ];
    for b in bad {
        assert!(
            serde_json::from_value::<ClpResponse>(b.clone()).is_err(),
            "parsed: {b}"
        );
    }
    assert!(serde_json::from_str::<ClpResponse>("not json").is_err());
    // Other fields are not part of a response and are ignored.
    let extra = with("note", json!("hi"));
    assert!(serde_json::from_value::<ClpResponse>(extra).is_ok());
    // The largest height parses (it is judged by the later rules).
    let max = with("challenge_height", json!(u64::MAX));
    assert_eq!(
        serde_json::from_value::<ClpResponse>(max)
            .unwrap()
            .challenge_height,
        u64::MAX
    );
}

#[test]
fn reason_codes_as_strings() {
    let names: Vec<&str> = RejectReason::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(
        names,
        [
            "MALFORMED",
            "UNKNOWN_CHALLENGE",
            "EXPIRED",
            "NOT_IN_COMMITTEE",
            "DUPLICATE",
            "BAD_SIGNATURE"
        ]
    );
    for r in RejectReason::ALL {
        assert_eq!(r.to_string(), r.as_str());
        assert_eq!(r.as_str().parse::<RejectReason>(), Ok(r));
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            format!("\"{}\"", r.as_str())
        );
    }
    assert!("OTHER".parse::<RejectReason>().is_err());
}

/// A chain at height 3 with the challenge of 2 open (deadline 5).
fn at_height_3() -> Chain {
    let mut chain = Chain::new(small_config(), &[10_000; 5]);
    chain.run(3, |_, _| false);
    chain
}

#[test]
fn valid_response_is_accepted_up_to_the_deadline() {
    let mut chain = at_height_3();
    let r = chain.respond(chain.addrs[0], 2);
    assert_eq!(chain.m.check_response(4, &r, &[]), Ok(()));
    assert_eq!(chain.m.check_response(5, &r, &[]), Ok(()));
    chain.apply(&[]); // height 4
    chain.apply(std::slice::from_ref(&r)); // height 5 = deadline: still counted
    let fin = chain
        .outcomes
        .last()
        .unwrap()
        .challenge_finalized
        .clone()
        .unwrap();
    assert_eq!(fin.responded, vec![chain.addrs[0]]);
}

#[test]
fn unknown_challenge() {
    let chain = at_height_3();
    let v = chain.addrs[0];
    let sign = |h: u64| ClpResponse::sign(CHAIN_ID, h, &block_hash(h), &chain.seeds[&v]);
    // not a challenge height: 0, odd, a multiple of K whose window crosses the epoch
    for h in [0, 1, 3, 8] {
        assert_eq!(
            chain.m.check_response(4, &sign(h), &[]),
            Err(RejectReason::UnknownChallenge),
            "h={h}"
        );
    }
    // h >= b
    assert_eq!(
        chain.m.check_response(4, &sign(4), &[]),
        Err(RejectReason::UnknownChallenge)
    );
    assert_eq!(
        chain.m.check_response(4, &sign(6), &[]),
        Err(RejectReason::UnknownChallenge)
    );
    // a challenge height not derived yet (judged for a block beyond the next)
    assert_eq!(
        chain.m.check_response(6, &sign(4), &[]),
        Err(RejectReason::UnknownChallenge)
    );
}

#[test]
fn expired() {
    let mut chain = at_height_3();
    let r = chain.respond(chain.addrs[0], 2);
    assert_eq!(
        chain.m.check_response(6, &r, &[]),
        Err(RejectReason::Expired)
    );
    chain.run(3, |_, _| false); // height 6: the challenge of 2 is finalized
    assert_eq!(
        chain.m.check_response(7, &r, &[]),
        Err(RejectReason::Expired)
    );
}

#[test]
fn not_in_committee() {
    let chain = at_height_3();
    let c = chain.m.challenge(2).unwrap().clone();
    let outsider = ClpResponse::sign(CHAIN_ID, 2, &c.value, &seed(77));
    assert_eq!(
        chain.m.check_response(4, &outsider, &[]),
        Err(RejectReason::NotInCommittee)
    );
}

#[test]
fn ejected_validator_is_not_in_committee() {
    // v0 never answers; 10 validators so the cap (3) allows its ejection.
    let mut chain = Chain::new(small_config(), &[10_000; 10]);
    let lazy = chain.addrs[0];
    let r = chain.finish_epoch(|_, v| v != lazy);
    assert_eq!(r.ejected, vec![lazy]);
    chain.run(3, |_, _| true); // height 13: challenge of 12 open
    let c = chain.m.challenge(12).unwrap().clone();
    assert!(!c.expected.contains(&lazy));
    let resp = ClpResponse::sign(CHAIN_ID, 12, &c.value, &chain.seeds[&lazy]);
    assert_eq!(
        chain.m.check_response(14, &resp, &[]),
        Err(RejectReason::NotInCommittee)
    );
}

#[test]
fn duplicate_on_chain_and_earlier_in_block() {
    let mut chain = at_height_3();
    let r = chain.respond(chain.addrs[1], 2);
    assert_eq!(
        chain.m.check_response(4, &r, std::slice::from_ref(&r)),
        Err(RejectReason::Duplicate)
    );
    chain.apply(std::slice::from_ref(&r));
    assert_eq!(
        chain.m.check_response(5, &r, &[]),
        Err(RejectReason::Duplicate)
    );
    // Same key, other signature bytes: still a duplicate (judged by (h, validator)).
    let mut other = r.clone();
    other.signature.0[0] ^= 1;
    assert_eq!(
        chain.m.check_response(5, &other, &[]),
        Err(RejectReason::Duplicate)
    );
}

#[test]
fn bad_signature() {
    let chain = at_height_3();
    let v = chain.addrs[2];
    let c = chain.m.challenge(2).unwrap().clone();
    let mut flipped = chain.respond(v, 2);
    flipped.signature.0[10] ^= 0x40;
    let other_key = {
        let mut r = ClpResponse::sign(CHAIN_ID, 2, &c.value, &chain.seeds[&chain.addrs[3]]);
        r.validator = v;
        r
    };
    let other_chain = {
        let mut r = ClpResponse::sign("other-chain", 2, &c.value, &chain.seeds[&v]);
        r.validator = v;
        r
    };
    let other_value = ClpResponse::sign(CHAIN_ID, 2, &block_hash(2), &chain.seeds[&v]);
    let zero = ClpResponse {
        challenge_height: 2,
        validator: v,
        signature: Signature([0; 64]),
    };
    for r in [flipped, other_key, other_chain, other_value, zero] {
        assert_eq!(
            chain.m.check_response(4, &r, &[]),
            Err(RejectReason::BadSignature)
        );
    }
}

#[test]
fn rules_are_checked_in_order() {
    let chain = at_height_3();
    let v = chain.addrs[0];
    let c = chain.m.challenge(2).unwrap().clone();
    let good = chain.respond(v, 2);
    let mut bad_sig = good.clone();
    bad_sig.signature.0[0] ^= 1;
    let outsider = ClpResponse::sign(CHAIN_ID, 2, &c.value, &seed(77));
    let mut outsider_bad = outsider.clone();
    outsider_bad.signature.0[0] ^= 1;
    // UNKNOWN_CHALLENGE before EXPIRED: h=1 is no challenge and far outside any window.
    let odd = ClpResponse {
        challenge_height: 1,
        ..bad_sig.clone()
    };
    assert_eq!(
        chain.m.check_response(9, &odd, &[]),
        Err(RejectReason::UnknownChallenge)
    );
    // EXPIRED before NOT_IN_COMMITTEE, DUPLICATE and BAD_SIGNATURE.
    assert_eq!(
        chain
            .m
            .check_response(6, &outsider_bad, std::slice::from_ref(&outsider_bad)),
        Err(RejectReason::Expired)
    );
    // NOT_IN_COMMITTEE before DUPLICATE and BAD_SIGNATURE.
    assert_eq!(
        chain
            .m
            .check_response(4, &outsider_bad, std::slice::from_ref(&outsider_bad)),
        Err(RejectReason::NotInCommittee)
    );
    // DUPLICATE before BAD_SIGNATURE.
    assert_eq!(
        chain
            .m
            .check_response(4, &bad_sig, std::slice::from_ref(&good)),
        Err(RejectReason::Duplicate)
    );
    assert_eq!(
        chain.m.check_response(4, &bad_sig, &[]),
        Err(RejectReason::BadSignature)
    );
}

#[test]
fn a_block_with_an_invalid_response_is_refused_whole() {
    let mut chain = at_height_3();
    let good = chain.respond(chain.addrs[0], 2);
    let mut bad = chain.respond(chain.addrs[1], 2);
    bad.signature.0[0] ^= 1;
    let before = chain.m.clone();
    let err = chain
        .m
        .apply_block(4, &block_hash(4), &[good.clone(), bad])
        .unwrap_err();
    assert_eq!(
        err,
        clp::ApplyError::InvalidResponse {
            height: 4,
            index: 1,
            reason: RejectReason::BadSignature
        }
    );
    assert_eq!(chain.m.height(), 3);
    assert!(
        chain.m.check_response(4, &good, &[]).is_ok(),
        "nothing was recorded"
    );
    assert_eq!(chain.m.active_challenges(), before.active_challenges());
    // Two responses of one key in one block: the second is a duplicate.
    let err = chain
        .m
        .apply_block(4, &block_hash(4), &[good.clone(), good])
        .unwrap_err();
    assert!(matches!(
        err,
        clp::ApplyError::InvalidResponse {
            index: 1,
            reason: RejectReason::Duplicate,
            ..
        }
    ));
}

#[test]
fn blocks_apply_in_height_order_only() {
    let mut chain = at_height_3();
    for h in [3, 5, 0] {
        assert_eq!(
            chain.m.apply_block(h, &block_hash(h), &[]).unwrap_err(),
            clp::ApplyError::WrongHeight {
                expected: 4,
                got: h
            }
        );
    }
    assert_eq!(chain.m.height(), 3);
}

#[test]
fn a_verified_signature_is_remembered_for_its_bytes_only_and_until_its_window_closes() {
    let mut chain = at_height_3(); // the challenge of 2 open until 5 (W = 3)
    let r = chain.respond(chain.addrs[1], 2);
    assert_eq!(chain.m.verified_responses(), 0);
    assert_eq!(chain.m.check_response(4, &r, &[]), Ok(()));
    assert_eq!(chain.m.verified_responses(), 1);
    assert_eq!(chain.m.check_response(5, &r, &[]), Ok(())); // answered from the memo
    assert_eq!(chain.m.verified_responses(), 1);
    let mut forged = r.clone();
    forged.signature.0[10] ^= 0x40;
    for _ in 0..2 {
        assert_eq!(
            chain.m.check_response(4, &forged, &[]),
            Err(RejectReason::BadSignature)
        );
    }
    assert_eq!(chain.m.verified_responses(), 1); // a failure is never remembered
    assert_eq!(chain.m.clone().verified_responses(), 1);
    chain.apply(&[]); // height 4: the next block still takes responses to 2
    assert_eq!(chain.m.verified_responses(), 1);
    chain.apply(&[]); // height 5, the deadline: 2's window is closed for block 6
    assert_eq!(chain.m.verified_responses(), 0);
}
