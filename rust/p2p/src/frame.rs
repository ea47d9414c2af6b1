//! Length-prefixed JSON frames (docs/protocol.md §16.1): `u32be(n) || payload(n)`.
//!
//! The cap is checked on the length prefix as soon as its 4 bytes are in, before any of
//! the body is read, so a hostile peer cannot make a node buffer more than one read chunk
//! of an oversized frame. `n = 0` is a keepalive, never a message.

use std::time::Duration;

use serde_json::{Map, Value};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Bytes of the length prefix.
pub const HEADER_BYTES: usize = 4;
/// The default cap on a frame's payload (`[p2p] max_frame_bytes`, §12.3).
pub const DEFAULT_MAX_FRAME_BYTES: u32 = 4 * 1024 * 1024;
/// The cap while the handshake runs (§16.2).
pub const HANDSHAKE_MAX_FRAME_BYTES: u32 = 4096;
/// A complete keepalive frame: a zero length prefix.
pub const KEEPALIVE_FRAME: [u8; HEADER_BYTES] = [0; HEADER_BYTES];
/// How much one read asks for: one read serves every frame that has already arrived.
const CHUNK: usize = 64 * 1024;

/// A frame that must close its connection. [`FrameError::reason`] is the counter label.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The length prefix is above the cap.
    #[error("oversized: length prefix {len} > cap {cap}")]
    Oversized { len: u32, cap: u32 },
    /// The stream ended inside a frame.
    #[error("truncated: {0}")]
    Truncated(String),
    /// The payload is not UTF-8 JSON.
    #[error("not_json: {0}")]
    NotJson(String),
    /// The payload is JSON but not an object.
    #[error("not_object: payload is a JSON {0}, not an object")]
    NotObject(&'static str),
}

impl FrameError {
    /// The reason label of `alphaos_p2p_frames_rejected_total` (§16.1).
    pub fn reason(&self) -> &'static str {
        match self {
            FrameError::Oversized { .. } => "oversized",
            FrameError::Truncated(_) => "truncated",
            FrameError::NotJson(_) => "not_json",
            FrameError::NotObject(_) => "not_object",
        }
    }
}

/// One frame read off a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A zero-length frame.
    Keepalive,
    /// The payload of a non-empty frame (not yet parsed).
    Payload(Vec<u8>),
}

/// A complete frame for `payload`; refuses at the sender what every receiver would refuse.
pub fn encode_frame(payload: &[u8], max_frame_bytes: u32) -> Result<Vec<u8>, FrameError> {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    if len > max_frame_bytes {
        return Err(FrameError::Oversized {
            len,
            cap: max_frame_bytes,
        });
    }
    let mut out = Vec::with_capacity(HEADER_BYTES + payload.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    Ok(out)
}

/// A payload as a JSON object, or the [`FrameError`] that closes the connection.
pub fn decode_object(payload: &[u8]) -> Result<Map<String, Value>, FrameError> {
    // serde_json checks UTF-8, refuses NaN/Infinity and nesting deeper than 128.
    let value: Value = serde_json::from_slice(payload).map_err(|e| {
        let mut text = e.to_string();
        text.truncate(200);
        FrameError::NotJson(text)
    })?;
    match value {
        Value::Object(map) => Ok(map),
        Value::Null => Err(FrameError::NotObject("null")),
        Value::Bool(_) => Err(FrameError::NotObject("boolean")),
        Value::Number(_) => Err(FrameError::NotObject("number")),
        Value::String(_) => Err(FrameError::NotObject("string")),
        Value::Array(_) => Err(FrameError::NotObject("array")),
    }
}

/// The first frame of `buf` if it is complete: `(frame, bytes it used)`. `Ok(None)` when
/// more bytes are needed; an oversized prefix is an error as soon as the prefix is in.
pub fn split_frame(buf: &[u8], max_frame_bytes: u32) -> Result<Option<(Frame, usize)>, FrameError> {
    let Some(header) = buf.get(..HEADER_BYTES) else {
        return Ok(None);
    };
    let len = u32::from_be_bytes(header.try_into().expect("4 bytes"));
    if len > max_frame_bytes {
        return Err(FrameError::Oversized {
            len,
            cap: max_frame_bytes,
        });
    }
    let end = HEADER_BYTES + len as usize;
    if buf.len() < end {
        return Ok(None);
    }
    let frame = if len == 0 {
        Frame::Keepalive
    } else {
        Frame::Payload(buf[HEADER_BYTES..end].to_vec())
    };
    Ok(Some((frame, end)))
}

/// Why reading the next frame failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// A frame that closes the connection.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// Nothing arrived within the idle limit.
    #[error("no byte for {0:?}")]
    Idle(Duration),
    /// The socket failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// Frames of one stream, read in chunks, with the cap checked on every prefix.
pub struct FrameReader<R> {
    inner: R,
    buf: Vec<u8>,
    pos: usize,
    max_frame_bytes: u32,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Reads frames of at most `max_frame_bytes` from `inner`.
    pub fn new(inner: R, max_frame_bytes: u32) -> Self {
        FrameReader {
            inner,
            buf: Vec::new(),
            pos: 0,
            max_frame_bytes,
        }
    }

    /// Changes the cap (the handshake's 4096, then the configured one).
    pub fn set_max_frame_bytes(&mut self, max_frame_bytes: u32) {
        self.max_frame_bytes = max_frame_bytes;
    }

    /// The next frame; `Ok(None)` on EOF between frames. `idle`: the longest wait for a
    /// read that brings any byte (a slow but live peer is never cut inside a big frame).
    pub async fn next(&mut self, idle: Option<Duration>) -> Result<Option<Frame>, ReadError> {
        loop {
            if let Some((frame, used)) = split_frame(&self.buf[self.pos..], self.max_frame_bytes)? {
                self.pos += used;
                if self.pos == self.buf.len() {
                    self.buf.clear();
                    self.pos = 0;
                }
                return Ok(Some(frame));
            }
            if self.pos > 0 {
                self.buf.drain(..self.pos);
                self.pos = 0;
            }
            // Into the spare capacity: zeroing 64 KiB for every read (a 4-byte keepalive
            // too) was a few percent of the nodes' CPU at 128 validators.
            self.buf.reserve(CHUNK);
            let read = match idle {
                Some(limit) => {
                    match tokio::time::timeout(limit, self.inner.read_buf(&mut self.buf)).await {
                        Ok(r) => r,
                        Err(_) => return Err(ReadError::Idle(limit)),
                    }
                }
                None => self.inner.read_buf(&mut self.buf).await,
            };
            let n = read.map_err(ReadError::Io)?;
            if n == 0 {
                return match self.buf.len() {
                    0 => Ok(None),
                    got if got < HEADER_BYTES => {
                        Err(FrameError::Truncated(format!("EOF after {got} header bytes")).into())
                    }
                    got => {
                        let len = u32::from_be_bytes(self.buf[..4].try_into().expect("4 bytes"));
                        Err(FrameError::Truncated(format!(
                            "EOF after {} of {len} body bytes",
                            got - HEADER_BYTES
                        ))
                        .into())
                    }
                };
            }
        }
    }

    /// The underlying reader.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[test]
    fn encode_prefixes_the_length_and_refuses_above_the_cap() {
        assert_eq!(encode_frame(b"{}", 2).unwrap(), b"\x00\x00\x00\x02{}");
        assert_eq!(
            encode_frame(b"{} ", 2),
            Err(FrameError::Oversized { len: 3, cap: 2 })
        );
        assert_eq!(encode_frame(b"", 0).unwrap(), KEEPALIVE_FRAME);
    }

    #[test]
    fn split_waits_for_whole_frames_and_checks_the_cap_on_the_prefix_alone() {
        let frame = encode_frame(br#"{"a":1}"#, 100).unwrap();
        for cut in 0..frame.len() {
            assert_eq!(split_frame(&frame[..cut], 100), Ok(None), "cut {cut}");
        }
        let (got, used) = split_frame(&frame, 100).unwrap().unwrap();
        assert_eq!(
            (got, used),
            (Frame::Payload(br#"{"a":1}"#.to_vec()), frame.len())
        );
        // Only the 4 prefix bytes of a huge frame are needed to refuse it.
        assert_eq!(
            split_frame(&u32::MAX.to_be_bytes(), 100),
            Err(FrameError::Oversized {
                len: u32::MAX,
                cap: 100
            })
        );
        assert_eq!(
            split_frame(&[0, 0, 0, 0, 9], 0),
            Ok(Some((Frame::Keepalive, 4)))
        );
        assert_eq!(
            split_frame(&[0, 0, 0, 1], 0),
            Err(FrameError::Oversized { len: 1, cap: 0 })
        );
    }

    #[test]
    fn payloads_must_be_json_objects() {
        assert!(decode_object(br#"{"type":"status","height":3}"#).is_ok());
        for (bad, reason) in [
            (&b"[1,2]"[..], "not_object"),
            (b"null", "not_object"),
            (b"\"x\"", "not_object"),
            (b"{\"a\":NaN}", "not_json"),
            (b"{\"a\":", "not_json"),
            (b"\xff\xfe{}", "not_json"),
            (b"hello", "not_json"),
        ] {
            assert_eq!(decode_object(bad).unwrap_err().reason(), reason, "{bad:?}");
        }
        let deep = "[".repeat(10_000);
        assert_eq!(
            decode_object(deep.as_bytes()).unwrap_err().reason(),
            "not_json"
        );
    }

    proptest::proptest! {
        /// Frames cut anywhere and fed in pieces come out whole and in order.
        #[test]
        fn split_frame_reassembles_any_chunking(
            payloads in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..40), 0..8),
            cuts in proptest::collection::vec(1usize..30, 0..20),
        ) {
            let stream: Vec<u8> = payloads.iter().flat_map(|p| encode_frame(p, 64).unwrap()).collect();
            let mut buf = Vec::new();
            let mut got = Vec::new();
            let mut fed = 0;
            let mut sizes = cuts.into_iter().chain(std::iter::repeat(7));
            while fed < stream.len() || !buf.is_empty() {
                let take = sizes.next().unwrap().min(stream.len() - fed);
                buf.extend_from_slice(&stream[fed..fed + take]);
                fed += take;
                while let Some((frame, used)) = split_frame(&buf, 64).unwrap() {
                    got.push(match frame { Frame::Keepalive => vec![], Frame::Payload(p) => p });
                    buf.drain(..used);
                }
                if take == 0 { break; }
            }
            proptest::prop_assert_eq!(got, payloads);
            proptest::prop_assert!(buf.is_empty());
        }

        /// Any bytes give a frame, a need for more, or an error: never a panic.
        #[test]
        fn split_and_decode_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            if let Ok(Some((Frame::Payload(p), _))) = split_frame(&bytes, 256) {
                let _ = decode_object(&p);
            }
        }
    }

    #[tokio::test]
    async fn reader_reassembles_frames_split_across_reads() {
        let (mut tx, rx) = tokio::io::duplex(64);
        let mut bytes = encode_frame(br#"{"n":1}"#, 100).unwrap();
        bytes.extend_from_slice(&KEEPALIVE_FRAME);
        bytes.extend(encode_frame(br#"{"n":2}"#, 100).unwrap());
        let writer = tokio::spawn(async move {
            for b in bytes {
                tx.write_all(&[b]).await.unwrap();
                tokio::task::yield_now().await;
            }
        });
        let mut reader = FrameReader::new(rx, 100);
        assert_eq!(
            reader.next(None).await.unwrap(),
            Some(Frame::Payload(br#"{"n":1}"#.to_vec()))
        );
        assert_eq!(reader.next(None).await.unwrap(), Some(Frame::Keepalive));
        assert_eq!(
            reader.next(None).await.unwrap(),
            Some(Frame::Payload(br#"{"n":2}"#.to_vec()))
        );
        writer.await.unwrap();
        assert!(
            reader.next(None).await.unwrap().is_none(),
            "clean EOF between frames"
        );
    }

    #[tokio::test]
    async fn reader_reports_eof_inside_a_frame_as_truncated() {
        for partial in [&[0u8, 0][..], &[0, 0, 0, 5, b'{']] {
            let mut reader = FrameReader::new(partial, 100);
            match reader.next(None).await {
                Err(ReadError::Frame(e)) => assert_eq!(e.reason(), "truncated"),
                other => panic!("{partial:?}: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn reader_refuses_an_oversized_prefix_without_waiting_for_the_body() {
        let (mut tx, rx) = tokio::io::duplex(64);
        tx.write_all(&1_000_000u32.to_be_bytes()).await.unwrap();
        let mut reader = FrameReader::new(rx, 1000);
        match reader.next(Some(Duration::from_secs(5))).await {
            Err(ReadError::Frame(FrameError::Oversized {
                len: 1_000_000,
                cap: 1000,
            })) => {}
            other => panic!("{other:?}"),
        }
        drop(tx);
    }

    #[tokio::test(start_paused = true)]
    async fn reader_gives_up_on_a_silent_stream() {
        let (_tx, rx) = tokio::io::duplex(64);
        let mut reader = FrameReader::new(rx, 100);
        let got = reader.next(Some(Duration::from_secs(10))).await;
        assert!(matches!(got, Err(ReadError::Idle(_))), "{got:?}");
    }
}
