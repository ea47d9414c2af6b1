//! The signed mutual handshake run on every new connection (docs/protocol.md §16.2):
//!
//! ```text
//! dialer   -> listener  {"type":"hello","chain_id","public_key","nonce"}
//! listener -> dialer    {"type":"hello",...}   only if the dialer is acceptable
//! dialer   -> listener  {"type":"auth","signature"}
//! listener -> dialer    {"type":"auth","signature"}   only if the dialer verified
//! ```
//!
//! Each signature covers both fresh nonces (no replay of a recorded handshake) and the
//! signer's role (a dialer's signature cannot be reflected back as a listener's). Later
//! frames are neither encrypted nor MACed: messages that matter are signed themselves.

use std::collections::HashMap;
use std::fmt;

use clp::Address;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::frame::{
    decode_object, encode_frame, Frame, FrameReader, ReadError, HANDSHAKE_MAX_FRAME_BYTES,
};

/// The domain tag that starts the handshake's sign bytes.
pub const DOMAIN_TAG: &[u8] = b"clp.p2p.handshake.v1";
/// Bytes of a handshake nonce.
pub const NONCE_BYTES: usize = 32;

/// A side of a connection; part of what it signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The side that opened the TCP connection (and will send on it).
    Dialer,
    /// The side that accepted it (and will only read, answering keepalives).
    Listener,
}

impl Role {
    /// The ASCII role name in the sign bytes.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Dialer => "dialer",
            Role::Listener => "listener",
        }
    }
}

/// Why a handshake failed; [`HandshakeFailure::reason`] is the counter label (§16.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HandshakeFailure {
    /// A frame of the wrong type or with a bad field, or a reflected nonce.
    Malformed,
    /// The other side is on another chain.
    WrongChain,
    /// The other side holds our own key.
    SelfConnect,
    /// The dialer's key is none of our configured peers'.
    UnknownPeer,
    /// The endpoint answered with a key other than the peer's configured one.
    UnexpectedPeer,
    /// A signature does not verify.
    BadSignature,
    /// No complete handshake within the deadline.
    Timeout,
    /// EOF or reset during the handshake.
    Closed,
    /// A handshake frame above 4096 bytes.
    Oversized,
    /// A handshake frame that is not JSON.
    NotJson,
    /// A handshake frame that is JSON but not an object.
    NotObject,
    /// EOF inside a handshake frame.
    Truncated,
    /// Evicted: too many unauthenticated connections (admission).
    TooManyPending,
    /// Evicted: too many unauthenticated connections from one source (admission).
    SourceLimit,
}

impl HandshakeFailure {
    /// The label used in logs and in `handshake_failures` / `dial_failures`.
    pub fn reason(self) -> &'static str {
        match self {
            HandshakeFailure::Malformed => "malformed",
            HandshakeFailure::WrongChain => "wrong_chain",
            HandshakeFailure::SelfConnect => "self",
            HandshakeFailure::UnknownPeer => "unknown_peer",
            HandshakeFailure::UnexpectedPeer => "unexpected_peer",
            HandshakeFailure::BadSignature => "bad_signature",
            HandshakeFailure::Timeout => "timeout",
            HandshakeFailure::Closed => "closed",
            HandshakeFailure::Oversized => "oversized",
            HandshakeFailure::NotJson => "not_json",
            HandshakeFailure::NotObject => "not_object",
            HandshakeFailure::Truncated => "truncated",
            HandshakeFailure::TooManyPending => crate::admission::TOO_MANY_PENDING,
            HandshakeFailure::SourceLimit => crate::admission::SOURCE_LIMIT,
        }
    }
}

impl fmt::Display for HandshakeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

/// A failed handshake: the reason label and a detail for the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {detail}")]
pub struct HandshakeError {
    /// The reason.
    pub kind: HandshakeFailure,
    /// What exactly, for a log line.
    pub detail: String,
}

impl HandshakeError {
    pub(crate) fn new(kind: HandshakeFailure, detail: impl Into<String>) -> Self {
        HandshakeError {
            kind,
            detail: detail.into(),
        }
    }
}

impl From<ReadError> for HandshakeError {
    fn from(e: ReadError) -> Self {
        let kind = match &e {
            ReadError::Frame(f) => match f.reason() {
                "oversized" => HandshakeFailure::Oversized,
                "not_json" => HandshakeFailure::NotJson,
                "not_object" => HandshakeFailure::NotObject,
                _ => HandshakeFailure::Truncated,
            },
            ReadError::Idle(_) => HandshakeFailure::Timeout,
            ReadError::Io(_) => HandshakeFailure::Closed,
        };
        HandshakeError::new(kind, e.to_string())
    }
}

/// The bytes a side signs (§16.2): `"clp.p2p.handshake.v1" || u16be(len(chain_id)) ||
/// chain_id || dialer_nonce || listener_nonce || role || signer's public key`.
pub fn sign_bytes(
    chain_id: &str,
    dialer_nonce: &[u8; NONCE_BYTES],
    listener_nonce: &[u8; NONCE_BYTES],
    role: Role,
    public_key: &[u8; 32],
) -> Vec<u8> {
    let chain = chain_id.as_bytes();
    let chain_len = u16::try_from(chain.len()).expect("chain_id at most 65535 bytes");
    let mut out = Vec::with_capacity(DOMAIN_TAG.len() + 2 + chain.len() + 64 + 8 + 32);
    out.extend_from_slice(DOMAIN_TAG);
    out.extend_from_slice(&chain_len.to_be_bytes());
    out.extend_from_slice(chain);
    out.extend_from_slice(dialer_nonce);
    out.extend_from_slice(listener_nonce);
    out.extend_from_slice(role.as_str().as_bytes());
    out.extend_from_slice(public_key);
    out
}

#[derive(Serialize)]
struct HelloOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    chain_id: &'a str,
    public_key: String,
    nonce: String,
}

#[derive(Serialize)]
struct AuthOut {
    #[serde(rename = "type")]
    kind: &'static str,
    signature: String,
}

/// The payload of a hello frame, in the reference's key order.
pub fn hello_payload(chain_id: &str, public_key: &[u8; 32], nonce: &[u8; NONCE_BYTES]) -> Vec<u8> {
    serde_json::to_vec(&HelloOut {
        kind: "hello",
        chain_id,
        public_key: hex::encode(public_key),
        nonce: hex::encode(nonce),
    })
    .expect("a hello serializes")
}

/// The payload of an auth frame.
pub fn auth_payload(signature: &[u8; 64]) -> Vec<u8> {
    serde_json::to_vec(&AuthOut {
        kind: "auth",
        signature: hex::encode(signature),
    })
    .expect("an auth serializes")
}

/// A parsed hello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// The sender's chain.
    pub chain_id: String,
    /// The sender's Ed25519 public key.
    pub public_key: [u8; 32],
    /// The sender's fresh nonce.
    pub nonce: [u8; NONCE_BYTES],
}

fn malformed(detail: impl Into<String>) -> HandshakeError {
    HandshakeError::new(HandshakeFailure::Malformed, detail)
}

fn expect_type(msg: &Map<String, Value>, want: &str) -> Result<(), HandshakeError> {
    match msg.get("type") {
        Some(Value::String(t)) if t == want => Ok(()),
        other => Err(malformed(format!("expected {want}, got type {other:?}"))),
    }
}

fn hex_field<const N: usize>(
    msg: &Map<String, Value>,
    name: &str,
) -> Result<[u8; N], HandshakeError> {
    let mut out = [0u8; N];
    match msg.get(name) {
        Some(Value::String(s)) if s.len() == 2 * N && hex::decode_to_slice(s, &mut out).is_ok() => {
            Ok(out)
        }
        _ => Err(malformed(format!(
            "field {name:?} must be {} hex characters",
            2 * N
        ))),
    }
}

/// A hello frame's fields.
pub fn parse_hello(msg: &Map<String, Value>) -> Result<Hello, HandshakeError> {
    expect_type(msg, "hello")?;
    let Some(Value::String(chain_id)) = msg.get("chain_id") else {
        return Err(malformed("field \"chain_id\" must be a string"));
    };
    Ok(Hello {
        chain_id: chain_id.clone(),
        public_key: hex_field::<32>(msg, "public_key")?,
        nonce: hex_field::<NONCE_BYTES>(msg, "nonce")?,
    })
}

/// An auth frame's signature.
pub fn parse_auth(msg: &Map<String, Value>) -> Result<[u8; 64], HandshakeError> {
    expect_type(msg, "auth")?;
    hex_field::<64>(msg, "signature")
}

/// The next handshake message; a keepalive is not allowed before authentication.
pub async fn read_message<R: AsyncRead + Unpin>(
    reader: &mut FrameReader<R>,
) -> Result<Map<String, Value>, HandshakeError> {
    match reader.next(None).await? {
        None => Err(HandshakeError::new(
            HandshakeFailure::Closed,
            "peer closed the connection during the handshake",
        )),
        Some(Frame::Keepalive) => Err(malformed("keepalive before the handshake ended")),
        Some(Frame::Payload(p)) => decode_object(&p).map_err(|e| ReadError::Frame(e).into()),
    }
}

async fn write_payload<W: AsyncWrite + Unpin>(
    writer: &mut W,
    payload: &[u8],
) -> Result<(), HandshakeError> {
    let frame = encode_frame(payload, HANDSHAKE_MAX_FRAME_BYTES)
        .map_err(|e| malformed(format!("own handshake frame: {e}")))?;
    writer
        .write_all(&frame)
        .await
        .map_err(|e| HandshakeError::new(HandshakeFailure::Closed, e.to_string()))
}

fn check_signature(
    chain_id: &str,
    dialer_nonce: &[u8; NONCE_BYTES],
    listener_nonce: &[u8; NONCE_BYTES],
    role: Role,
    public_key: &[u8; 32],
    signature: &[u8; 64],
) -> Result<(), HandshakeError> {
    let bad = || {
        HandshakeError::new(
            HandshakeFailure::BadSignature,
            format!("{} signature does not verify", role.as_str()),
        )
    };
    let key = VerifyingKey::from_bytes(public_key).map_err(|_| bad())?;
    let message = sign_bytes(chain_id, dialer_nonce, listener_nonce, role, public_key);
    let sig = ed25519_dalek::Signature::from_bytes(signature);
    key.verify_strict(&message, &sig).map_err(|_| bad())
}

fn address_of(public_key: &[u8; 32]) -> Address {
    Address::from_public_key(&clp::PublicKey(*public_key))
}

/// A fresh random nonce.
pub fn new_nonce() -> [u8; NONCE_BYTES] {
    rand::random()
}

/// The dialer's side: authenticate the node at the endpoint we dialled; it must hold
/// `expected` (the key configured for that endpoint). The caller bounds the time.
pub async fn dial<R, W>(
    reader: &mut FrameReader<R>,
    writer: &mut W,
    key: &SigningKey,
    chain_id: &str,
    expected: &[u8; 32],
    nonce: [u8; NONCE_BYTES],
) -> Result<(), HandshakeError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let own = key.verifying_key().to_bytes();
    write_payload(writer, &hello_payload(chain_id, &own, &nonce)).await?;
    let theirs = parse_hello(&read_message(reader).await?)?;
    if theirs.chain_id != chain_id {
        return Err(HandshakeError::new(
            HandshakeFailure::WrongChain,
            format!("peer is on chain {:?}", truncate(&theirs.chain_id)),
        ));
    }
    if &theirs.public_key != expected {
        let kind = if theirs.public_key == own {
            HandshakeFailure::SelfConnect
        } else {
            HandshakeFailure::UnexpectedPeer
        };
        return Err(HandshakeError::new(
            kind,
            format!("endpoint answered as {}", address_of(&theirs.public_key)),
        ));
    }
    if theirs.nonce == nonce {
        return Err(malformed("peer reflected our nonce"));
    }
    let signature = key.sign(&sign_bytes(
        chain_id,
        &nonce,
        &theirs.nonce,
        Role::Dialer,
        &own,
    ));
    write_payload(writer, &auth_payload(&signature.to_bytes())).await?;
    let their_sig = parse_auth(&read_message(reader).await?)?;
    check_signature(
        chain_id,
        &nonce,
        &theirs.nonce,
        Role::Listener,
        &theirs.public_key,
        &their_sig,
    )
}

/// The listener's side, after the dialer's `hello` was read (admission watches it
/// arrive): authenticate the dialer against `allowed` (public key -> address).
pub async fn listen<R, W>(
    reader: &mut FrameReader<R>,
    writer: &mut W,
    key: &SigningKey,
    chain_id: &str,
    allowed: &HashMap<[u8; 32], Address>,
    hello: &Map<String, Value>,
    nonce: [u8; NONCE_BYTES],
) -> Result<Address, HandshakeError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let own = key.verifying_key().to_bytes();
    let theirs = parse_hello(hello)?;
    if theirs.chain_id != chain_id {
        return Err(HandshakeError::new(
            HandshakeFailure::WrongChain,
            format!("dialer is on chain {:?}", truncate(&theirs.chain_id)),
        ));
    }
    if theirs.public_key == own {
        return Err(HandshakeError::new(
            HandshakeFailure::SelfConnect,
            "a node dialled itself",
        ));
    }
    let Some(address) = allowed.get(&theirs.public_key).copied() else {
        return Err(HandshakeError::new(
            HandshakeFailure::UnknownPeer,
            format!(
                "{} is not a configured peer",
                address_of(&theirs.public_key)
            ),
        ));
    };
    write_payload(writer, &hello_payload(chain_id, &own, &nonce)).await?;
    let their_sig = parse_auth(&read_message(reader).await?)?;
    check_signature(
        chain_id,
        &theirs.nonce,
        &nonce,
        Role::Dialer,
        &theirs.public_key,
        &their_sig,
    )?;
    let signature = key.sign(&sign_bytes(
        chain_id,
        &theirs.nonce,
        &nonce,
        Role::Listener,
        &own,
    ));
    write_payload(writer, &auth_payload(&signature.to_bytes())).await?;
    Ok(address)
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::DEFAULT_MAX_FRAME_BYTES;
    use std::time::Duration;
    use tokio::io::{duplex, split, DuplexStream, ReadHalf, WriteHalf};

    const CHAIN: &str = "clp-testnet";

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn pk(k: &SigningKey) -> [u8; 32] {
        k.verifying_key().to_bytes()
    }

    type Side = (FrameReader<ReadHalf<DuplexStream>>, WriteHalf<DuplexStream>);

    fn pipe() -> (Side, Side) {
        let (a, b) = duplex(1 << 16);
        let (ar, aw) = split(a);
        let (br, bw) = split(b);
        (
            (FrameReader::new(ar, HANDSHAKE_MAX_FRAME_BYTES), aw),
            (FrameReader::new(br, HANDSHAKE_MAX_FRAME_BYTES), bw),
        )
    }

    async fn run_listener(
        (mut r, mut w): Side,
        me: SigningKey,
        chain: &'static str,
        allowed: HashMap<[u8; 32], Address>,
    ) -> Result<Address, HandshakeError> {
        let hello = read_message(&mut r).await?;
        listen(&mut r, &mut w, &me, chain, &allowed, &hello, new_nonce()).await
    }

    fn allow(keys: &[&SigningKey]) -> HashMap<[u8; 32], Address> {
        keys.iter().map(|k| (pk(k), address_of(&pk(k)))).collect()
    }

    #[test]
    fn sign_bytes_match_the_documented_example() {
        // docs/protocol.md §16.9
        let got = sign_bytes(CHAIN, &[0x11; 32], &[0x22; 32], Role::Dialer, &pk(&key(7)));
        let want = concat!(
            "636c702e7032702e68616e647368616b652e7631",
            "000b",
            "636c702d746573746e6574",
            "1111111111111111111111111111111111111111111111111111111111111111",
            "2222222222222222222222222222222222222222222222222222222222222222",
            "6469616c6572",
            "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c",
        );
        assert_eq!(hex::encode(got), want);
    }

    #[tokio::test]
    async fn both_sides_authenticate_each_other() {
        let (d, l) = pipe();
        let (dk, lk) = (key(1), key(2));
        let listener = tokio::spawn(run_listener(l, lk.clone(), CHAIN, allow(&[&dk])));
        let (mut r, mut w) = d;
        dial(&mut r, &mut w, &dk, CHAIN, &pk(&lk), new_nonce())
            .await
            .unwrap();
        assert_eq!(listener.await.unwrap().unwrap(), address_of(&pk(&dk)));
    }

    #[tokio::test]
    async fn wrong_chain_is_refused_by_both_roles() {
        let (d, l) = pipe();
        let (dk, lk) = (key(1), key(2));
        let listener = tokio::spawn(run_listener(l, lk.clone(), "other-chain", allow(&[&dk])));
        let (mut r, mut w) = d;
        let dialer =
            tokio::spawn(
                async move { dial(&mut r, &mut w, &dk, CHAIN, &pk(&lk), new_nonce()).await },
            );
        assert_eq!(
            listener.await.unwrap().unwrap_err().kind,
            HandshakeFailure::WrongChain
        );
        // The listener refused without a word: the dialer sees the connection close.
        assert_eq!(
            dialer.await.unwrap().unwrap_err().kind,
            HandshakeFailure::Closed
        );
    }

    #[tokio::test]
    async fn dialer_refuses_a_listener_on_another_chain() {
        let ((mut r, mut w), (mut lr, mut lw)) = pipe();
        let (dk, lk) = (key(1), key(2));
        let fake = tokio::spawn(async move {
            let _ = read_message(&mut lr).await.unwrap();
            write_payload(&mut lw, &hello_payload("other", &pk(&lk), &[5; 32]))
                .await
                .unwrap();
            (lr, lw)
        });
        let err = dial(&mut r, &mut w, &dk, CHAIN, &pk(&key(2)), new_nonce())
            .await
            .unwrap_err();
        assert_eq!(err.kind, HandshakeFailure::WrongChain);
        drop(fake.await);
    }

    #[tokio::test]
    async fn unknown_dialer_is_refused_before_the_listener_says_anything() {
        let (d, l) = pipe();
        let (stranger, lk) = (key(9), key(2));
        let listener = tokio::spawn(run_listener(l, lk.clone(), CHAIN, allow(&[&key(1)])));
        let (mut r, mut w) = d;
        let got = dial(&mut r, &mut w, &stranger, CHAIN, &pk(&lk), new_nonce()).await;
        assert_eq!(
            listener.await.unwrap().unwrap_err().kind,
            HandshakeFailure::UnknownPeer
        );
        assert_eq!(got.unwrap_err().kind, HandshakeFailure::Closed);
    }

    #[tokio::test]
    async fn dialer_refuses_an_endpoint_that_answers_with_another_key() {
        let (d, l) = pipe();
        let (dk, impostor) = (key(1), key(3));
        let listener = tokio::spawn(run_listener(l, impostor, CHAIN, allow(&[&dk])));
        let (mut r, mut w) = d;
        let err = dial(&mut r, &mut w, &dk, CHAIN, &pk(&key(2)), new_nonce())
            .await
            .unwrap_err();
        assert_eq!(err.kind, HandshakeFailure::UnexpectedPeer);
        drop((r, w));
        assert!(listener.await.unwrap().is_err());
    }

    #[tokio::test]
    async fn a_node_that_dials_itself_notices() {
        let (d, l) = pipe();
        let me = key(1);
        let listener = tokio::spawn(run_listener(l, me.clone(), CHAIN, allow(&[&me])));
        let (mut r, mut w) = d;
        let _ = dial(&mut r, &mut w, &me, CHAIN, &pk(&key(2)), new_nonce()).await;
        assert_eq!(
            listener.await.unwrap().unwrap_err().kind,
            HandshakeFailure::SelfConnect
        );
    }

    #[tokio::test]
    async fn bad_dialer_signature_is_refused() {
        let ((mut r, mut w), l) = pipe();
        let (dk, lk) = (key(1), key(2));
        let listener = tokio::spawn(run_listener(l, lk, CHAIN, allow(&[&dk])));
        write_payload(&mut w, &hello_payload(CHAIN, &pk(&dk), &[1; 32]))
            .await
            .unwrap();
        let _their_hello = read_message(&mut r).await.unwrap();
        // Signed over the wrong nonces.
        let sig = dk.sign(&sign_bytes(
            CHAIN,
            &[1; 32],
            &[1; 32],
            Role::Dialer,
            &pk(&dk),
        ));
        write_payload(&mut w, &auth_payload(&sig.to_bytes()))
            .await
            .unwrap();
        assert_eq!(
            listener.await.unwrap().unwrap_err().kind,
            HandshakeFailure::BadSignature
        );
    }

    #[tokio::test]
    async fn a_reflected_dialer_signature_does_not_pass_as_the_listeners() {
        // A fake listener that holds no key sends back the dialer's own hello and auth.
        let ((mut r, mut w), (mut lr, mut lw)) = pipe();
        let dk = key(1);
        let victim = key(2);
        let fake = tokio::spawn(async move {
            let hello = read_message(&mut lr).await.unwrap();
            let mut h = parse_hello(&hello).unwrap();
            h.public_key = pk(&victim); // claims to be the expected peer
            h.nonce = [9; 32];
            write_payload(&mut lw, &hello_payload(CHAIN, &h.public_key, &h.nonce))
                .await
                .unwrap();
            let auth = read_message(&mut lr).await.unwrap();
            write_payload(&mut lw, &serde_json::to_vec(&auth).unwrap())
                .await
                .unwrap();
            (lr, lw)
        });
        let err = dial(&mut r, &mut w, &dk, CHAIN, &pk(&key(2)), new_nonce())
            .await
            .unwrap_err();
        assert_eq!(err.kind, HandshakeFailure::BadSignature);
        drop(fake.await);
    }

    #[tokio::test]
    async fn a_reflected_nonce_is_refused() {
        let ((mut r, mut w), (mut lr, mut lw)) = pipe();
        let lk = key(2);
        let expected = pk(&lk);
        let fake = tokio::spawn(async move {
            let h = parse_hello(&read_message(&mut lr).await.unwrap()).unwrap();
            write_payload(&mut lw, &hello_payload(CHAIN, &pk(&lk), &h.nonce))
                .await
                .unwrap();
            (lr, lw)
        });
        let err = dial(&mut r, &mut w, &key(1), CHAIN, &expected, [4; 32])
            .await
            .unwrap_err();
        assert_eq!(err.kind, HandshakeFailure::Malformed);
        assert!(err.detail.contains("reflected"));
        drop(fake.await);
    }

    #[tokio::test]
    async fn malformed_hellos_are_refused() {
        let good = hello_payload(CHAIN, &pk(&key(1)), &[1; 32]);
        let mut cases: Vec<Vec<u8>> = vec![
            br#"{"type":"auth","signature":"00"}"#.to_vec(),
            br#"{"type":"hello","chain_id":5,"public_key":"00","nonce":"00"}"#.to_vec(),
        ];
        let mut short = serde_json::from_slice::<Map<String, Value>>(&good).unwrap();
        short.insert("nonce".into(), Value::String("ab".into()));
        cases.push(serde_json::to_vec(&short).unwrap());
        let mut nothex = short.clone();
        nothex.insert("nonce".into(), Value::String("zz".repeat(32)));
        cases.push(serde_json::to_vec(&nothex).unwrap());
        for case in cases {
            let msg = decode_object(&case).unwrap();
            assert_eq!(
                parse_hello(&msg).unwrap_err().kind,
                HandshakeFailure::Malformed,
                "{msg:?}"
            );
        }
        assert!(parse_hello(&decode_object(&good).unwrap()).is_ok());
    }

    #[tokio::test]
    async fn oversized_handshake_frames_are_refused() {
        let (mut tx, rx) = duplex(1 << 16);
        tx.write_all(&(HANDSHAKE_MAX_FRAME_BYTES + 1).to_be_bytes())
            .await
            .unwrap();
        let mut reader = FrameReader::new(rx, HANDSHAKE_MAX_FRAME_BYTES);
        assert_eq!(
            read_message(&mut reader).await.unwrap_err().kind,
            HandshakeFailure::Oversized
        );
        let mut reader = FrameReader::new(&b"\x00\x00\x00\x03abc"[..], DEFAULT_MAX_FRAME_BYTES);
        assert_eq!(
            read_message(&mut reader).await.unwrap_err().kind,
            HandshakeFailure::NotJson
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_listener_times_the_dialer_out() {
        let ((mut r, mut w), _l) = pipe();
        let got = tokio::time::timeout(
            Duration::from_secs(3),
            dial(&mut r, &mut w, &key(1), CHAIN, &pk(&key(2)), new_nonce()),
        )
        .await;
        assert!(
            got.is_err(),
            "the caller's deadline ends a stalled handshake"
        );
    }
}
