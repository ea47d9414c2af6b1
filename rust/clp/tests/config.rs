//! §2: the parameters, their validation rules and the order they are checked in.

use clp::{ClpConfig, ConfigError};
use serde_json::{json, Value};

fn test_profile_json() -> Value {
    serde_json::to_value(ClpConfig::test_profile()).unwrap()
}

/// The test profile with `changes` applied, parsed the way genesis is.
fn parse(changes: Value) -> Result<ClpConfig, String> {
    let mut v = test_profile_json();
    for (k, x) in changes.as_object().unwrap() {
        v[k] = x.clone();
    }
    serde_json::from_value::<ClpConfig>(v).map_err(|e| e.to_string())
}

/// The field named by the first broken rule.
fn field(changes: Value) -> String {
    let err = parse(changes).unwrap_err();
    err.strip_prefix("clp.")
        .and_then(|s| s.split(':').next())
        .unwrap_or_else(|| panic!("error names no field: {err}"))
        .to_string()
}

#[test]
fn profiles_are_valid_and_round_trip() {
    for c in [ClpConfig::production(), ClpConfig::test_profile()] {
        c.validate().unwrap();
        let text = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<ClpConfig>(&text).unwrap(), c);
    }
    let p = ClpConfig::production();
    assert_eq!(
        (p.epoch_length, p.challenge_interval, p.response_window),
        (360, 10, 5)
    );
    let t = parse(json!({})).unwrap();
    assert_eq!(t, ClpConfig::test_profile());
    assert_eq!(t.max_consecutive_failures, 12);
}

#[test]
fn serialises_in_table_order() {
    let text = serde_json::to_string(&ClpConfig::test_profile()).unwrap();
    assert_eq!(
        text,
        r#"{"epoch_length":20,"challenge_interval":2,"response_window":4,"min_response_rate_bps":5000,"slash_fraction_bps":1000,"max_consecutive_failures":12,"min_stake":1000,"min_committee_size":4,"systemic_fault_bps":3334}"#
    );
}

#[test]
fn every_value_an_integer() {
    for bad in [
        json!(true),
        json!(false),
        json!(2.0),
        json!(2.5),
        json!("2"),
        json!(null),
        json!([2]),
        json!({"a": 2}),
    ] {
        for name in clp::types::CONFIG_FIELDS {
            assert_eq!(field(json!({ name: bad.clone() })), name, "{name} = {bad}");
        }
    }
    let err = parse(json!({"min_stake": true})).unwrap_err();
    assert!(err.contains("must be an integer"), "{err}");
}

#[test]
fn challenge_interval_at_least_1() {
    assert_eq!(
        field(json!({"challenge_interval": 0})),
        "challenge_interval"
    );
    assert_eq!(
        field(json!({"challenge_interval": -3})),
        "challenge_interval"
    );
    assert!(parse(json!({"challenge_interval": 1})).is_ok());
}

#[test]
fn response_window_at_least_2() {
    assert_eq!(field(json!({"response_window": 1})), "response_window");
    assert!(parse(json!({"response_window": 2})).is_ok());
}

#[test]
fn epoch_length_at_least_k_plus_w() {
    assert_eq!(
        field(json!({"epoch_length": 5, "challenge_interval": 2, "response_window": 4})),
        "epoch_length"
    );
    assert!(
        parse(json!({"epoch_length": 6, "challenge_interval": 2, "response_window": 4})).is_ok()
    );
}

#[test]
fn each_bps_within_0_to_10000() {
    for name in [
        "min_response_rate_bps",
        "slash_fraction_bps",
        "systemic_fault_bps",
    ] {
        assert_eq!(field(json!({ name: 10_001 })), name);
        assert_eq!(field(json!({ name: -1 })), name);
        assert!(parse(json!({ name: 0 })).is_ok());
        assert!(parse(json!({ name: 10_000 })).is_ok());
    }
}

#[test]
fn min_committee_size_at_least_3() {
    assert_eq!(
        field(json!({"min_committee_size": 2})),
        "min_committee_size"
    );
    assert!(parse(json!({"min_committee_size": 3})).is_ok());
}

#[test]
fn max_consecutive_failures_at_least_1() {
    assert_eq!(
        field(json!({"max_consecutive_failures": 0})),
        "max_consecutive_failures"
    );
    assert!(parse(json!({"max_consecutive_failures": 1})).is_ok());
}

#[test]
fn min_stake_not_negative() {
    assert_eq!(field(json!({"min_stake": -1})), "min_stake");
    assert!(parse(json!({"min_stake": 0})).is_ok());
}

#[test]
fn rules_are_checked_in_documented_order() {
    // Each pair breaks two rules; the earlier rule's field is reported.
    let cases = [
        (
            json!({"challenge_interval": 0, "response_window": 1}),
            "challenge_interval",
        ),
        (
            json!({"response_window": 1, "epoch_length": 1}),
            "response_window",
        ),
        (
            json!({"epoch_length": 1, "min_response_rate_bps": 20_000}),
            "epoch_length",
        ),
        (
            json!({"min_response_rate_bps": 20_000, "slash_fraction_bps": 20_000}),
            "min_response_rate_bps",
        ),
        (
            json!({"slash_fraction_bps": 20_000, "systemic_fault_bps": 20_000}),
            "slash_fraction_bps",
        ),
        (
            json!({"systemic_fault_bps": 20_000, "min_committee_size": 0}),
            "systemic_fault_bps",
        ),
        (
            json!({"min_committee_size": 0, "max_consecutive_failures": 0}),
            "min_committee_size",
        ),
        (
            json!({"max_consecutive_failures": 0, "min_stake": -1}),
            "max_consecutive_failures",
        ),
        // The integer rule comes before every range rule, whatever the fields' order.
        (
            json!({"challenge_interval": 0, "systemic_fault_bps": true}),
            "systemic_fault_bps",
        ),
        // Among non-integers, the first in table order.
        (
            json!({"systemic_fault_bps": "x", "epoch_length": 1.5}),
            "epoch_length",
        ),
    ];
    for (changes, name) in cases {
        assert_eq!(field(changes.clone()), name, "{changes}");
    }
}

#[test]
fn unknown_names_are_refused_before_anything_else() {
    assert_eq!(field(json!({"epoch_lenght": 20})), "epoch_lenght");
    assert_eq!(field(json!({"zzz": 1, "challenge_interval": 0})), "zzz");
    let err = parse(json!({"zzz": 1})).unwrap_err();
    assert!(err.contains("unknown"), "{err}");
}

#[test]
fn missing_names_are_refused_in_table_order() {
    let mut v = test_profile_json();
    let o = v.as_object_mut().unwrap();
    o.remove("min_stake");
    o.remove("response_window");
    o.insert("challenge_interval".into(), json!(true));
    let err = serde_json::from_value::<ClpConfig>(v)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("clp.response_window: missing"), "{err}");
}

#[test]
fn not_an_object_is_refused() {
    assert!(serde_json::from_value::<ClpConfig>(json!([20, 2, 4])).is_err());
    assert!(serde_json::from_value::<ClpConfig>(json!(null)).is_err());
}

#[test]
fn validate_and_from_values_report_the_field() {
    let mut c = ClpConfig::test_profile();
    c.response_window = 1;
    assert_eq!(c.validate().unwrap_err().field, "response_window");
    let e: ConfigError =
        ClpConfig::from_values([20, 2, 4, 5000, 1000, 12, -5, 4, 3334]).unwrap_err();
    assert_eq!(e.field, "min_stake");
    assert_eq!(e.to_string(), "clp.min_stake: must be >= 0, got -5");
}

#[test]
fn epochs_of_heights() {
    let c = ClpConfig::test_profile(); // E = 20
    assert_eq!(c.epoch(0), 0);
    assert_eq!(c.epoch(1), 0);
    assert_eq!(c.epoch(20), 0);
    assert_eq!(c.epoch(21), 1);
    assert_eq!(c.epoch_first_height(1), 21);
    assert_eq!(c.epoch_last_height(1), 40);
    assert_eq!(c.closes_epoch(0), None);
    assert_eq!(c.closes_epoch(19), None);
    assert_eq!(c.closes_epoch(20), Some(0));
    assert_eq!(c.closes_epoch(40), Some(1));
}
