//! The messages nodes exchange after the handshake (docs/protocol.md §16.4), as JSON.
//!
//! Encoding writes what the reference node writes, byte for byte: compact JSON with
//! `type` first and the fields in the order of §16.4, so a duplicate filter keyed by
//! payload bytes sees one message as one payload whichever node wrote it. Decoding
//! accepts any valid JSON with these fields (unknown fields are ignored).

use clp::{Address, ClpResponse, Signature};
use clp_consensus::{Block, CommitCertificate, ConsensusMessage};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::frame::{decode_object, FrameError};

/// A peer's height claim above this is not a height any chain reaches (the reference
/// keeps heights in SQLite integers); such a claim is refused.
pub const MAX_CLAIMED_HEIGHT: u64 = 1 << 62;

/// Blocks a node serves per `sync_request` (§16.5): `from ..= min(to, from + 31, head)`.
pub const SYNC_BATCH: u64 = 32;

/// One message (the JSON object of one frame).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    /// `{"type":"status","height":h}`: the sender has finalized up to `height`.
    Status {
        /// The sender's finalized height (at most [`MAX_CLAIMED_HEIGHT`]).
        height: u64,
    },
    /// `{"type":"consensus","msg":{"kind":"vote"|"proposal",...}}`.
    Consensus {
        /// A vote or a proposal.
        msg: ConsensusMessage,
    },
    /// `{"type":"clp_response","challenge_height","validator","signature"}` (flat).
    ClpResponse(ClpResponse),
    /// `{"type":"sync_request","from":a,"to":b}` with `1 <= a <= b`.
    SyncRequest {
        /// The first height asked for.
        from: u64,
        /// The last height asked for (the answer may stop earlier).
        to: u64,
    },
    /// `{"type":"sync_response","blocks":[{"block","certificate"}, ...]}`, height order.
    SyncResponse {
        /// Consecutive finalized blocks with their certificates.
        blocks: Vec<SyncEntry>,
    },
}

/// One finalized block with its commit certificate, as `sync_response` carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncEntry {
    /// The block (§9.1, with its `hash`).
    pub block: Block,
    /// Its certificate (§9.2); verify it against the committee of the block's epoch.
    pub certificate: CommitCertificate,
}

impl Message {
    /// The `type` of this message.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Status { .. } => "status",
            Message::Consensus { .. } => "consensus",
            Message::ClpResponse(_) => "clp_response",
            Message::SyncRequest { .. } => "sync_request",
            Message::SyncResponse { .. } => "sync_response",
        }
    }
}

/// Why a JSON object is not a usable message; the connection stays open (§16.4).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// `type` is missing, not a string, or not a known message type.
    #[error("unknown_type: {0:?}")]
    UnknownType(Option<String>),
    /// A known type whose fields are missing or of the wrong type, length or range.
    #[error("bad_message: {kind}: {detail}")]
    BadMessage {
        /// The message's `type`.
        kind: &'static str,
        /// What is wrong.
        detail: String,
    },
}

impl MessageError {
    /// The reason label of `alphaos_p2p_frames_rejected_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            MessageError::UnknownType(_) => "unknown_type",
            MessageError::BadMessage { .. } => "bad_message",
        }
    }

    /// The message type, when it was a known one (the node counts a bad `clp_response`
    /// as §5 `MALFORMED` too).
    pub fn kind(&self) -> Option<&'static str> {
        match self {
            MessageError::UnknownType(_) => None,
            MessageError::BadMessage { kind, .. } => Some(kind),
        }
    }
}

/// A payload that is not a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not a JSON object: the connection must be closed.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A JSON object that is not a message: counted and ignored.
    #[error(transparent)]
    Message(#[from] MessageError),
}

/// The JSON payload of a message (compact, `type` first, the reference's field order).
pub fn encode(message: &Message) -> Vec<u8> {
    serde_json::to_vec(message).expect("messages always serialize")
}

/// A frame's payload as a message (§16.1, §16.4).
pub fn decode(payload: &[u8]) -> Result<Message, DecodeError> {
    let mut object = match decode_object(payload) {
        Ok(object) => object,
        // Valid JSON (RFC 8259 bounds no number) with a number past f64's range: no message
        // has such a field, so an object this node cannot use, ignored like any other
        // (§16.1: any valid JSON is accepted; §16.4). The connection stays.
        Err(FrameError::NotJson(detail)) if is_json_object(payload) => {
            return Err(bad("(object)", detail));
        }
        Err(e) => return Err(e.into()),
    };
    let kind = match object.remove("type") {
        Some(Value::String(kind)) => kind,
        Some(other) => return Err(MessageError::UnknownType(Some(other.to_string())).into()),
        None => return Err(MessageError::UnknownType(None).into()),
    };
    Ok(match kind.as_str() {
        "status" => {
            let StatusFields { height } = fields("status", object)?;
            if height > MAX_CLAIMED_HEIGHT {
                return Err(bad(
                    "status",
                    format!("height {height} above {MAX_CLAIMED_HEIGHT}"),
                ));
            }
            Message::Status { height }
        }
        "consensus" => {
            let ConsensusFields { msg } = fields("consensus", object)?;
            check_consensus(&msg)?;
            Message::Consensus { msg }
        }
        "clp_response" => {
            // Own fields, not ClpResponse's serde: unknown fields are ignored here (§16.1).
            let ResponseFields {
                challenge_height,
                validator,
                signature,
            } = fields("clp_response", object)?;
            Message::ClpResponse(ClpResponse {
                challenge_height,
                validator,
                signature,
            })
        }
        "sync_request" => {
            let SyncRequestFields { from, to } = fields("sync_request", object)?;
            if !(1 <= from && from <= to) {
                return Err(bad(
                    "sync_request",
                    format!("needs 1 <= from <= to, got {from}..{to}"),
                ));
            }
            Message::SyncRequest { from, to }
        }
        "sync_response" => {
            let SyncResponseFields { blocks } = fields("sync_response", object)?;
            for entry in &blocks {
                check_block("sync_response", &entry.block)?;
            }
            Message::SyncResponse { blocks }
        }
        _ => return Err(MessageError::UnknownType(Some(kind)).into()),
    })
}

#[derive(Deserialize)]
struct StatusFields {
    height: u64,
}

#[derive(Deserialize)]
struct ConsensusFields {
    msg: ConsensusMessage,
}

#[derive(Deserialize)]
struct ResponseFields {
    challenge_height: u64,
    validator: Address,
    signature: Signature,
}

#[derive(Deserialize)]
struct SyncRequestFields {
    from: u64,
    to: u64,
}

#[derive(Deserialize)]
struct SyncResponseFields {
    blocks: Vec<SyncEntry>,
}

/// Whether `payload` is one JSON object by the grammar alone: serde_json's `IgnoredAny`
/// skips numbers without converting them (a `Value` refuses one beyond f64).
fn is_json_object(payload: &[u8]) -> bool {
    let starts_as_object = payload
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{');
    starts_as_object && serde_json::from_slice::<serde::de::IgnoredAny>(payload).is_ok()
}

fn bad(kind: &'static str, detail: String) -> DecodeError {
    MessageError::BadMessage { kind, detail }.into()
}

fn fields<T: DeserializeOwned>(
    kind: &'static str,
    object: Map<String, Value>,
) -> Result<T, DecodeError> {
    serde_json::from_value(Value::Object(object)).map_err(|e| bad(kind, e.to_string()))
}

/// A block whose `hash` is not the hash of its contents is malformed (§16.8).
fn check_block(kind: &'static str, block: &Block) -> Result<(), DecodeError> {
    match block.compute_hash() {
        Ok(hash) if hash == block.hash => Ok(()),
        Ok(hash) => Err(bad(
            kind,
            format!(
                "block hash {} does not match its content ({hash})",
                block.hash
            ),
        )),
        Err(e) => Err(bad(kind, e.to_string())),
    }
}

fn check_consensus(msg: &ConsensusMessage) -> Result<(), DecodeError> {
    match msg {
        ConsensusMessage::Vote(_) => Ok(()),
        ConsensusMessage::Proposal(p) => check_block("consensus", &p.block),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clp::PublicKey;
    use clp_consensus::{Vote, VoteType};
    use ed25519_dalek::SigningKey;

    const DOC: &str = include_str!("../../../docs/protocol.md");

    /// A frame of the §16.9 example: the hex prefix, then the payload's exact text.
    fn documented_frame(label: &str) -> Vec<u8> {
        let example = &DOC[DOC.find("### 16.9 Worked example").expect("§16.9")..];
        let start = example.find(&format!("\n{label}")).expect(label) + 1;
        let mut lines = example[start..].lines();
        let head = lines.next().unwrap();
        let prefix = head
            .split("prefix ")
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap();
        let mut frame = hex::decode(prefix).unwrap();
        frame.extend_from_slice(lines.next().unwrap().trim().as_bytes());
        frame
    }

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn address(k: &SigningKey) -> Address {
        Address::from_public_key(&PublicKey(k.verifying_key().to_bytes()))
    }

    #[test]
    fn a_number_past_f64_is_an_unusable_object_not_a_broken_frame() {
        let huge = "9".repeat(400);
        for payload in [
            format!(r#"{{"type":"status","height":{huge}}}"#),
            format!(r#" {{"type":"hello","x":[1,{{"y":-{huge}e5}}]}}"#),
        ] {
            match decode(payload.as_bytes()) {
                Err(DecodeError::Message(e)) => assert_eq!(e.reason(), "bad_message"),
                other => panic!("{payload}: {other:?}"),
            }
        }
        for not_an_object in [format!("[{huge}]"), format!(r#"{{"a":{huge}"#), huge] {
            match decode(not_an_object.as_bytes()) {
                Err(DecodeError::Frame(FrameError::NotJson(_))) => {}
                other => panic!("{not_an_object}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_documented_prevote_frame_of_the_python_node_decodes_and_verifies() {
        let frame = documented_frame("prevote (by the dialer's key)");
        let len = u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
        assert_eq!(len, frame.len() - 4);
        let message = decode(&frame[4..]).unwrap();
        let Message::Consensus {
            msg: ConsensusMessage::Vote(vote),
        } = &message
        else {
            panic!("{message:?}");
        };
        assert_eq!(
            (vote.vote_type, vote.height, vote.round),
            (VoteType::Prevote, 7, 0)
        );
        assert_eq!(vote.validator, address(&key(7)));
        vote.verify("clp-testnet", &key(7).verifying_key()).unwrap();
        // And this crate writes the very same bytes.
        assert_eq!(encode(&message), frame[4..]);
    }

    #[test]
    fn the_documented_hello_frame_parses_and_reencodes_identically() {
        let frame = documented_frame("hello (dialer)");
        let hello = crate::handshake::parse_hello(&decode_object(&frame[4..]).unwrap()).unwrap();
        assert_eq!(hello.public_key, key(7).verifying_key().to_bytes());
        assert_eq!(hello.nonce, [0x11; 32]);
        let again =
            crate::handshake::hello_payload(&hello.chain_id, &hello.public_key, &hello.nonce);
        assert_eq!(again, frame[4..]);
    }

    fn round_trip(message: Message) {
        let payload = encode(&message);
        assert!(payload.starts_with(format!("{{\"type\":\"{}\"", message.kind()).as_bytes()));
        assert_eq!(decode(&payload).unwrap(), message);
    }

    fn vote(k: &SigningKey, vote_type: VoteType, hash: Option<[u8; 32]>) -> Vote {
        Vote::sign(
            "clp-testnet",
            vote_type,
            3,
            1,
            hash.map(Into::into),
            address(k),
            k,
        )
    }

    fn block(height: u64, proposer: Address) -> Block {
        Block::new(
            "clp-testnet",
            height,
            1_764_620_000_123,
            [9u8; 32].into(),
            proposer,
            vec![],
        )
        .unwrap()
    }

    #[test]
    fn every_message_round_trips() {
        let k = key(3);
        round_trip(Message::Status { height: 42 });
        round_trip(Message::SyncRequest { from: 1, to: 32 });
        for v in [
            vote(&k, VoteType::Prevote, None),
            vote(&k, VoteType::Precommit, Some([1; 32])),
        ] {
            round_trip(Message::Consensus {
                msg: ConsensusMessage::Vote(v),
            });
        }
        let b = block(3, address(&k));
        for pol in [None, Some(0)] {
            let p =
                clp_consensus::Proposal::sign("clp-testnet", 1, b.clone(), pol, address(&k), &k);
            round_trip(Message::Consensus {
                msg: ConsensusMessage::Proposal(p),
            });
        }
        let response = ClpResponse {
            challenge_height: 2,
            validator: address(&k),
            signature: [7u8; 64].into(),
        };
        round_trip(Message::ClpResponse(response.clone()));
        let text = String::from_utf8(encode(&Message::ClpResponse(response))).unwrap();
        assert!(
            text.starts_with("{\"type\":\"clp_response\",\"challenge_height\":2,\"validator\":"),
            "{text}"
        );
        let precommit = vote(&k, VoteType::Precommit, Some(*b.hash.as_bytes()));
        let certificate = CommitCertificate {
            height: 3,
            round: 1,
            block_hash: b.hash,
            votes: vec![precommit],
        };
        round_trip(Message::SyncResponse {
            blocks: vec![SyncEntry {
                block: b,
                certificate,
            }],
        });
        round_trip(Message::SyncResponse { blocks: vec![] });
    }

    proptest::proptest! {
        /// Hostile payloads never panic the decoder: arbitrary bytes, and JSON objects
        /// built from the message vocabulary with values of every JSON type.
        #[test]
        fn decode_never_panics_on_bytes(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn decode_never_panics_on_objects(
            kind in proptest::sample::select(vec!["status", "consensus", "clp_response", "sync_request", "sync_response", "x"]),
            entries in proptest::collection::vec((
                proptest::sample::select(vec!["height", "msg", "from", "to", "blocks", "challenge_height", "validator", "signature", "kind"]),
                proptest::sample::select(vec![
                    Value::Null, Value::from(-1), Value::from(0), Value::from(u64::MAX), Value::from(1.5),
                    Value::from("ab"), Value::from("00".repeat(32)), Value::Array(vec![Value::Null]),
                    serde_json::json!({"kind": "vote"}), serde_json::json!([{"block": {}, "certificate": {}}]),
                ]),
            ), 0..6),
        ) {
            let mut object = Map::new();
            object.insert("type".into(), Value::from(kind));
            for (name, value) in entries {
                object.insert(name.into(), value);
            }
            let _ = decode(Value::Object(object).to_string().as_bytes());
        }
    }

    #[test]
    fn unknown_fields_key_order_and_whitespace_do_not_matter() {
        let got = decode(br#" { "height" : 5 , "extra": [1, {"x": null}], "type" : "status" } "#)
            .unwrap();
        assert_eq!(got, Message::Status { height: 5 });
    }

    #[test]
    fn objects_that_are_not_messages_are_told_apart_from_broken_frames() {
        let reason = |p: &[u8]| match decode(p) {
            Err(DecodeError::Message(e)) => e.reason(),
            Err(DecodeError::Frame(e)) => e.reason(),
            Ok(m) => panic!("{m:?}"),
        };
        assert_eq!(reason(br#"{"height":1}"#), "unknown_type");
        assert_eq!(reason(br#"{"type":7}"#), "unknown_type");
        assert_eq!(reason(br#"{"type":"gossip"}"#), "unknown_type");
        for bad in [
            &br#"{"type":"status","height":-1}"#[..],
            br#"{"type":"status","height":1.5}"#,
            br#"{"type":"status","height":true}"#,
            br#"{"type":"status","height":"1"}"#,
            br#"{"type":"status","height":4611686018427387905}"#,
            br#"{"type":"status"}"#,
            br#"{"type":"sync_request","from":0,"to":3}"#,
            br#"{"type":"sync_request","from":5,"to":3}"#,
            br#"{"type":"sync_request","from":1,"to":18446744073709551616}"#,
            br#"{"type":"sync_response","blocks":{}}"#,
            br#"{"type":"clp_response","challenge_height":2,"validator":"ab","signature":"00"}"#,
            br#"{"type":"consensus","msg":{"kind":"vote"}}"#,
            br#"{"type":"consensus","msg":{"kind":"gossip"}}"#,
            br#"{"type":"consensus"}"#,
        ] {
            assert_eq!(
                reason(bad),
                "bad_message",
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(reason(b"[]"), "not_object");
        assert_eq!(reason(b"{"), "not_json");
        let err = decode(br#"{"type":"clp_response"}"#).unwrap_err();
        assert!(
            matches!(err, DecodeError::Message(ref e) if e.kind() == Some("clp_response")),
            "{err:?}"
        );
    }

    #[test]
    fn a_block_whose_hash_does_not_match_its_content_is_a_bad_message() {
        let k = key(3);
        let mut b = block(3, address(&k));
        let p = clp_consensus::Proposal::sign("clp-testnet", 0, b.clone(), None, address(&k), &k);
        let mut json: Value = serde_json::from_slice(&encode(&Message::Consensus {
            msg: ConsensusMessage::Proposal(p),
        }))
        .unwrap();
        json["msg"]["block"]["time_ms"] = Value::from(5);
        let err = decode(json.to_string().as_bytes()).unwrap_err();
        assert!(
            matches!(err, DecodeError::Message(MessageError::BadMessage { .. })),
            "{err:?}"
        );
        b.time_ms += 1;
        let certificate = CommitCertificate {
            height: 3,
            round: 0,
            block_hash: b.hash,
            votes: vec![],
        };
        let payload = encode(&Message::SyncResponse {
            blocks: vec![SyncEntry {
                block: b,
                certificate,
            }],
        });
        assert!(matches!(decode(&payload), Err(DecodeError::Message(_))));
    }
}
