//! Value types of the CLP (docs/protocol.md §2, §3, §5): the frozen parameters, byte
//! strings written as lowercase hex, and the genesis validator.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// The largest basis-points value: 100 %.
pub const BPS_MAX: u64 = 10_000;

/// BLAKE2b with a 32-byte digest and no key (§0 "Words").
pub fn blake2b_256(data: &[u8]) -> [u8; 32] {
    let mut h = Blake2b::<U32>::new();
    h.update(data);
    h.finalize().into()
}

/// A byte string of fixed length written as exactly `2 * N` lowercase hex characters.
/// Uppercase hex is refused: the protocol writes hex in lowercase only, and one spelling
/// per value keeps duplicates detectable by comparing text.
fn parse_lower_hex<const N: usize>(s: &str) -> Result<[u8; N], HexError> {
    if s.len() != 2 * N {
        return Err(HexError::Length {
            expected: 2 * N,
            got: s.len(),
        });
    }
    if !s
        .bytes()
        .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    {
        return Err(HexError::NotLowerHex);
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).map_err(|_| HexError::NotLowerHex)?;
    Ok(out)
}

/// Why a hex string is not a valid fixed-length value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    #[error("expected {expected} hex characters, got {got}")]
    Length { expected: usize, got: usize },
    #[error("not lowercase hex")]
    NotLowerHex,
}

macro_rules! hex_bytes {
    ($(#[$doc:meta])* $name:ident, $n:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub [u8; $n]);

        impl $name {
            /// The number of bytes.
            pub const LEN: usize = $n;
            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; $n] {
                &self.0
            }
            /// Lowercase hex.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }

        impl FromStr for $name {
            type Err = HexError;
            fn from_str(s: &str) -> Result<Self, HexError> {
                parse_lower_hex::<$n>(s).map($name)
            }
        }

        impl From<[u8; $n]> for $name {
            fn from(b: [u8; $n]) -> Self {
                $name(b)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        write!(f, "{} lowercase hex characters", 2 * $n)
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$name, E> {
                        v.parse().map_err(E::custom)
                    }
                }
                d.deserialize_str(V)
            }
        }
    };
}

hex_bytes!(
    /// A validator address: the first 20 bytes of BLAKE2b-256 of its Ed25519 public key (§5).
    Address,
    20
);
hex_bytes!(
    /// A 32-byte Ed25519 public key as found in genesis.
    PublicKey,
    32
);
hex_bytes!(
    /// A 32-byte digest: a block hash, a challenge value or a response digest.
    Hash32,
    32
);
hex_bytes!(
    /// A 64-byte Ed25519 signature.
    Signature,
    64
);

impl Address {
    /// `address = BLAKE2b-256(public_key)[..20]` (§5).
    pub fn from_public_key(pk: &PublicKey) -> Address {
        let d = blake2b_256(&pk.0);
        let mut a = [0u8; 20];
        a.copy_from_slice(&d[..20]);
        Address(a)
    }
}

/// A CLP parameter that breaks a rule of §2. `field` is the parameter's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("clp.{field}: {reason}")]
pub struct ConfigError {
    /// The parameter at fault (the first broken rule's field).
    pub field: String,
    /// What is wrong with it, in words.
    pub reason: String,
}

impl ConfigError {
    fn new(field: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError {
            field: field.to_string(),
            reason: reason.into(),
        }
    }
}

/// The CLP parameters of §2, frozen per chain in genesis. Every field is an integer; a
/// value of this type has passed [`ClpConfig::validate`] when it came from serde.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ClpConfig {
    /// E: blocks per epoch.
    pub epoch_length: u64,
    /// K: a challenge every K heights.
    pub challenge_interval: u64,
    /// W: blocks in which a response may be included.
    pub response_window: u64,
    /// Below this rate an epoch is failed.
    pub min_response_rate_bps: u64,
    /// Share of stake slashed for a failed epoch.
    pub slash_fraction_bps: u64,
    /// Missed challenges in a row that lead to ejection.
    pub max_consecutive_failures: u64,
    /// Stake below which a validator is ejected.
    pub min_stake: u64,
    /// Ejections never shrink the committee below this.
    pub min_committee_size: u64,
    /// Failing stake share at which the epoch is systemic.
    pub systemic_fault_bps: u64,
}

/// The parameter names in the order of the §2 table (the order the integer rule is checked).
pub const CONFIG_FIELDS: [&str; 9] = [
    "epoch_length",
    "challenge_interval",
    "response_window",
    "min_response_rate_bps",
    "slash_fraction_bps",
    "max_consecutive_failures",
    "min_stake",
    "min_committee_size",
    "systemic_fault_bps",
];

impl ClpConfig {
    /// The production column of §2.
    pub fn production() -> ClpConfig {
        ClpConfig {
            epoch_length: 360,
            challenge_interval: 10,
            response_window: 5,
            min_response_rate_bps: 5000,
            slash_fraction_bps: 100,
            max_consecutive_failures: 36,
            min_stake: 1000,
            min_committee_size: 4,
            systemic_fault_bps: 3334,
        }
    }

    /// The test-profile column of §2.
    pub fn test_profile() -> ClpConfig {
        ClpConfig {
            epoch_length: 20,
            challenge_interval: 2,
            response_window: 4,
            min_response_rate_bps: 5000,
            slash_fraction_bps: 1000,
            max_consecutive_failures: 12,
            min_stake: 1000,
            min_committee_size: 4,
            systemic_fault_bps: 3334,
        }
    }

    /// The §2 rules after "every value an integer", in their documented order.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let values = [
            self.epoch_length as i128,
            self.challenge_interval as i128,
            self.response_window as i128,
            self.min_response_rate_bps as i128,
            self.slash_fraction_bps as i128,
            self.max_consecutive_failures as i128,
            self.min_stake as i128,
            self.min_committee_size as i128,
            self.systemic_fault_bps as i128,
        ];
        validate_ranges(&values)
    }

    /// Builds a config from raw integers in [`CONFIG_FIELDS`] order, validating them.
    pub fn from_values(values: [i128; 9]) -> Result<ClpConfig, ConfigError> {
        validate_ranges(&values)?;
        let v = |i: usize| values[i] as u64;
        Ok(ClpConfig {
            epoch_length: v(0),
            challenge_interval: v(1),
            response_window: v(2),
            min_response_rate_bps: v(3),
            slash_fraction_bps: v(4),
            max_consecutive_failures: v(5),
            min_stake: v(6),
            min_committee_size: v(7),
            systemic_fault_bps: v(8),
        })
    }

    /// `epoch(h) = (h - 1) // E` for `h >= 1`; height 0 is reported as epoch 0 (§3).
    pub fn epoch(&self, height: u64) -> u64 {
        height.saturating_sub(1) / self.epoch_length
    }

    /// The first height of epoch `e`: `e*E + 1`.
    pub fn epoch_first_height(&self, epoch: u64) -> u64 {
        epoch * self.epoch_length + 1
    }

    /// The last height of epoch `e`: `(e+1)*E`.
    pub fn epoch_last_height(&self, epoch: u64) -> u64 {
        (epoch + 1) * self.epoch_length
    }

    /// The epoch that committing `height` closes (`h % E == 0`, `h >= 1`), if any.
    pub fn closes_epoch(&self, height: u64) -> Option<u64> {
        (height >= 1 && height % self.epoch_length == 0).then(|| height / self.epoch_length - 1)
    }
}

/// The range rules of §2 in order over values in [`CONFIG_FIELDS`] order.
fn validate_ranges(v: &[i128; 9]) -> Result<(), ConfigError> {
    let [e, k, w, rate, slash, maxf, min_stake, min_comm, systemic] = *v;
    if k < 1 {
        return Err(ConfigError::new(
            "challenge_interval",
            format!("must be >= 1, got {k}"),
        ));
    }
    if w < 2 {
        return Err(ConfigError::new(
            "response_window",
            format!("must be >= 2, got {w}"),
        ));
    }
    if e < k + w {
        return Err(ConfigError::new(
            "epoch_length",
            format!(
                "must be >= challenge_interval + response_window ({}), got {e}",
                k + w
            ),
        ));
    }
    for (name, value) in [
        ("min_response_rate_bps", rate),
        ("slash_fraction_bps", slash),
        ("systemic_fault_bps", systemic),
    ] {
        if !(0..=BPS_MAX as i128).contains(&value) {
            return Err(ConfigError::new(
                name,
                format!("must be in 0..={BPS_MAX}, got {value}"),
            ));
        }
    }
    if min_comm < 3 {
        return Err(ConfigError::new(
            "min_committee_size",
            format!("must be >= 3, got {min_comm}"),
        ));
    }
    if maxf < 1 {
        return Err(ConfigError::new(
            "max_consecutive_failures",
            format!("must be >= 1, got {maxf}"),
        ));
    }
    if min_stake < 0 {
        return Err(ConfigError::new(
            "min_stake",
            format!("must be >= 0, got {min_stake}"),
        ));
    }
    // Integers are exact but this implementation holds them in u64.
    for (name, value) in CONFIG_FIELDS.iter().zip(v.iter()) {
        if *value > u64::MAX as i128 {
            return Err(ConfigError::new(
                name,
                format!("must be <= {}, got {value}", u64::MAX),
            ));
        }
    }
    Ok(())
}

/// One JSON value of a parameter as received: an integer, or something else (refused).
enum RawParam {
    Int(i128),
    NotInt(String),
}

impl<'de> Deserialize<'de> for RawParam {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawParam;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawParam, E> {
                Ok(RawParam::Int(v.into()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawParam, E> {
                Ok(RawParam::Int(v.into()))
            }
            fn visit_i128<E: de::Error>(self, v: i128) -> Result<RawParam, E> {
                Ok(RawParam::Int(v))
            }
            fn visit_u128<E: de::Error>(self, v: u128) -> Result<RawParam, E> {
                Ok(i128::try_from(v)
                    .map(RawParam::Int)
                    .unwrap_or_else(|_| RawParam::NotInt(v.to_string())))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawParam, E> {
                Ok(RawParam::NotInt(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawParam, E> {
                Ok(RawParam::NotInt(v.to_string()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawParam, E> {
                Ok(RawParam::NotInt(format!("{v:?}")))
            }
            fn visit_unit<E: de::Error>(self) -> Result<RawParam, E> {
                Ok(RawParam::NotInt("null".into()))
            }
            fn visit_none<E: de::Error>(self) -> Result<RawParam, E> {
                Ok(RawParam::NotInt("null".into()))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut a: A) -> Result<RawParam, A::Error> {
                while a.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(RawParam::NotInt("a list".into()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<RawParam, A::Error> {
                while a.next_entry::<de::IgnoredAny, de::IgnoredAny>()?.is_some() {}
                Ok(RawParam::NotInt("an object".into()))
            }
        }
        d.deserialize_any(V)
    }
}

/// Checks a parameter map (name → raw value) by §2: unknown names first, then missing
/// names, then "every value an integer" in table order, then the range rules in order.
fn config_from_raw(raw: BTreeMap<String, RawParam>) -> Result<ClpConfig, ConfigError> {
    if let Some(name) = raw.keys().find(|k| !CONFIG_FIELDS.contains(&k.as_str())) {
        return Err(ConfigError::new(name, "unknown CLP parameter"));
    }
    if let Some(name) = CONFIG_FIELDS.iter().find(|f| !raw.contains_key(**f)) {
        return Err(ConfigError::new(name, "missing"));
    }
    let mut values = [0i128; 9];
    for (i, name) in CONFIG_FIELDS.iter().enumerate() {
        match &raw[*name] {
            RawParam::Int(v) => values[i] = *v,
            RawParam::NotInt(got) => {
                return Err(ConfigError::new(
                    name,
                    format!("must be an integer, got {got}"),
                ))
            }
        }
    }
    ClpConfig::from_values(values)
}

impl<'de> Deserialize<'de> for ClpConfig {
    /// Reads the genesis `clp` object; the error names the first broken rule's field.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = BTreeMap::<String, RawParam>::deserialize(d)?;
        config_from_raw(raw).map_err(de::Error::custom)
    }
}

/// A validator of genesis (§12.1): the committee of epoch 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisValidator {
    /// Its name (e.g. `v0`), served by `/alpha/committee`.
    pub name: String,
    /// Its address; must be the address of `public_key`.
    pub address: Address,
    /// Its Ed25519 public key, the key responses are verified under.
    pub public_key: PublicKey,
    /// Its stake at genesis; positive.
    pub stake: u64,
}
