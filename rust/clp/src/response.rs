//! Responses (§5): the signed message, its digest, and the reason codes of the validity
//! rules (the rules themselves need chain state and live in [`crate::manager`]).

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::challenge::encode_chain_id;
use crate::types::{blake2b_256, Address, Hash32, PublicKey, Signature};

/// The domain tag of the response preimage.
pub const RESPONSE_TAG: &[u8; 23] = b"alphaos.clp.response.v1";

/// A validator's answer to the challenge of height `challenge_height` (§5); serialises to
/// `{"challenge_height", "validator", "signature"}`. Deserialising takes a JSON object
/// only and refuses missing fields, wrong types and wrong lengths (a failure is reason
/// `MALFORMED`); other fields are ignored, as they are not part of a response.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ClpResponse {
    /// The challenge's height h.
    pub challenge_height: u64,
    /// The responding validator's address.
    pub validator: Address,
    /// Ed25519 signature over [`response_digest`].
    pub signature: Signature,
}

impl<'de> Deserialize<'de> for ClpResponse {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ClpResponse;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a ClpResponse object")
            }
            // Only an object: serde would otherwise also take a list of the three values.
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ClpResponse, A::Error> {
                let mut height = None;
                let mut validator = None;
                let mut signature = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "challenge_height" if height.is_none() => height = Some(map.next_value()?),
                        "validator" if validator.is_none() => validator = Some(map.next_value()?),
                        "signature" if signature.is_none() => signature = Some(map.next_value()?),
                        "challenge_height" | "validator" | "signature" => {
                            return Err(de::Error::custom(format!("duplicate field `{key}`")))
                        }
                        _ => {
                            map.next_value::<de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(ClpResponse {
                    challenge_height: height
                        .ok_or_else(|| de::Error::missing_field("challenge_height"))?,
                    validator: validator.ok_or_else(|| de::Error::missing_field("validator"))?,
                    signature: signature.ok_or_else(|| de::Error::missing_field("signature"))?,
                })
            }
        }
        d.deserialize_map(V)
    }
}

impl ClpResponse {
    /// The key a block sorts responses by and duplicates are judged by: `(h, validator)`.
    pub fn key(&self) -> (u64, Address) {
        (self.challenge_height, self.validator)
    }

    /// Signs the response to a challenge of value `value` at `height` with the validator's
    /// 32-byte seed (the address is derived from the key).
    pub fn sign(chain_id: &str, height: u64, value: &Hash32, seed: &[u8; 32]) -> ClpResponse {
        let key = SigningKey::from_bytes(seed);
        let validator = Address::from_public_key(&PublicKey(key.verifying_key().to_bytes()));
        let digest = response_digest(chain_id, height, value, &validator);
        ClpResponse {
            challenge_height: height,
            validator,
            signature: Signature(key.sign(&digest.0).to_bytes()),
        }
    }
}

/// The response preimage of §5: tag, chain id, `u64be(h)`, challenge value, address.
pub fn response_preimage(
    chain_id: &str,
    height: u64,
    challenge_value: &Hash32,
    validator: &Address,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(23 + 2 + chain_id.len() + 8 + 32 + 20);
    out.extend_from_slice(RESPONSE_TAG);
    encode_chain_id(&mut out, chain_id);
    out.extend_from_slice(&height.to_be_bytes());
    out.extend_from_slice(&challenge_value.0);
    out.extend_from_slice(&validator.0);
    out
}

/// `response_digest = BLAKE2b-256(response preimage)`: the 32 bytes a validator signs.
pub fn response_digest(
    chain_id: &str,
    height: u64,
    challenge_value: &Hash32,
    validator: &Address,
) -> Hash32 {
    Hash32(blake2b_256(&response_preimage(
        chain_id,
        height,
        challenge_value,
        validator,
    )))
}

/// Ed25519 verification (RFC 8032, strict: libsodium-compatible) of `signature` over
/// `digest`. A public key that is not a valid point verifies nothing.
pub fn verify_signature(public_key: &PublicKey, digest: &Hash32, signature: &Signature) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(&public_key.0) else {
        return false;
    };
    let sig = ed25519_dalek::Signature::from_bytes(&signature.0);
    key.verify_strict(&digest.0, &sig).is_ok()
}

/// Why a response is not valid for inclusion (§5), in the order the rules are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RejectReason {
    /// Fields missing, wrong types or lengths (also: a body that is not JSON).
    Malformed,
    /// `should_generate(h)` is false or `h >= b`.
    UnknownChallenge,
    /// `b > h + W`.
    Expired,
    /// The validator is not in `committee(epoch(h))`.
    NotInCommittee,
    /// A response for `(h, validator)` is already on chain or earlier in the block.
    Duplicate,
    /// The signature does not verify under the validator's genesis key.
    BadSignature,
}

impl RejectReason {
    /// Every reason, in check order (for metrics labels).
    pub const ALL: [RejectReason; 6] = [
        RejectReason::Malformed,
        RejectReason::UnknownChallenge,
        RejectReason::Expired,
        RejectReason::NotInCommittee,
        RejectReason::Duplicate,
        RejectReason::BadSignature,
    ];

    /// The reason code as served by the REST API and used as a metrics label.
    pub fn as_str(&self) -> &'static str {
        match self {
            RejectReason::Malformed => "MALFORMED",
            RejectReason::UnknownChallenge => "UNKNOWN_CHALLENGE",
            RejectReason::Expired => "EXPIRED",
            RejectReason::NotInCommittee => "NOT_IN_COMMITTEE",
            RejectReason::Duplicate => "DUPLICATE",
            RejectReason::BadSignature => "BAD_SIGNATURE",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RejectReason {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        RejectReason::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or(())
    }
}
