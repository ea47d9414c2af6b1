//! The sending side towards one peer: a bounded queue and the task that keeps one dialled,
//! authenticated connection up (docs/protocol.md §10, §16.3).
//!
//! Node i sends to peer j only over the connection it dials to j's configured endpoint
//! (a fault proxy may carry only i→j), so this module owns all sending. The listener sends
//! nothing back except keepalive answers, which is how a dead or black-holed link is
//! noticed even when no write ever fails.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::{Instant, MissedTickBehavior};

use crate::frame::{Frame, FrameReader, ReadError, HANDSHAKE_MAX_FRAME_BYTES, KEEPALIVE_FRAME};
use crate::handshake::{self, HandshakeFailure};
use crate::network::{PeerSpec, Shared, Timing};
use crate::stats::{Group, NetStats};

/// Why an up link went down (the `disconnect_reasons` label).
const EOF: &str = "eof";
const KEEPALIVE_TIMEOUT: &str = "keepalive_timeout";
const LISTENER_SENT_DATA: &str = "listener_sent_data";
const RESET: &str = "reset";
const WRITE_FAILED: &str = "write_failed";

/// One peer's queue and link state, shared by the network handle and the link task.
pub(crate) struct LinkState {
    pub peer: PeerSpec,
    queue: Mutex<VecDeque<Arc<[u8]>>>,
    wake: Notify,
    queue_size: usize,
    pub connected: AtomicBool,
    /// Changes whenever frames sent before may not have arrived (a reconnect or a queue
    /// overflow): what was sent on an older generation must be sent again.
    pub generation: AtomicU64,
}

impl LinkState {
    pub fn new(peer: PeerSpec, queue_size: usize) -> Self {
        LinkState {
            peer,
            queue: Mutex::new(VecDeque::new()),
            wake: Notify::new(),
            queue_size: queue_size.max(1),
            connected: AtomicBool::new(false),
            generation: AtomicU64::new(0),
        }
    }

    /// Never blocks: when the queue is full the oldest frame goes, as it is the stalest.
    pub fn enqueue(&self, frame: Arc<[u8]>, stats: &NetStats) {
        {
            let mut q = self.queue.lock().expect("queue lock");
            if q.len() >= self.queue_size {
                q.pop_front();
                NetStats::add(&stats.messages_dropped, 1);
                self.generation.fetch_add(1, Ordering::Relaxed);
            }
            q.push_back(frame);
        }
        self.wake.notify_one();
    }

    pub fn queued(&self) -> usize {
        self.queue.lock().expect("queue lock").len()
    }

    fn take_all(&self) -> Vec<Arc<[u8]>> {
        self.queue.lock().expect("queue lock").drain(..).collect()
    }
}

/// The most a dial's handshake may be given, as a multiple of `handshake_timeout`.
const PATIENCE_MAX_FACTOR: u32 = 4;

/// How long the next dial's handshake may take, given how the last dial ended (`Err` with
/// its reason): twice as long after one that timed out (up to [`PATIENCE_MAX_FACTOR`] ×
/// `handshake_timeout`), the configured time again after a link came up. When every node
/// of a big network dials every peer at once on a few cores (128 validators: 16,256
/// handshakes through the proxies), the handshakes queue for longer than the timeout; each
/// dial abandoned there is redone from the start and lengthens the queue for all (as TCP
/// doubles its SYN timeout on each retry).
pub(crate) fn next_patience(
    patience: Duration,
    timing: &Timing,
    outcome: &Result<(), String>,
) -> Duration {
    match outcome {
        Ok(()) => timing.handshake_timeout,
        Err(reason) if reason == HandshakeFailure::Timeout.reason() => {
            (patience * 2).min(timing.handshake_timeout * PATIENCE_MAX_FACTOR)
        }
        Err(_) => patience,
    }
}

/// Dial, authenticate, send; on any failure back off (with jitter) and start over, forever.
pub(crate) async fn run(link: Arc<LinkState>, shared: Arc<Shared>) {
    let timing = shared.cfg.timing;
    let mut patience = timing.handshake_timeout;
    let mut delay = timing.backoff_initial;
    let mut down_since = Instant::now();
    let mut next_report = down_since + timing.dead_after;
    let mut last_failure = String::new();
    loop {
        let started = Instant::now();
        let outcome = connect_once(&link, &shared, patience).await;
        patience = next_patience(patience, &timing, &outcome);
        let was_up = match outcome {
            Ok(()) => true,
            Err(reason) => {
                last_failure = reason;
                false
            }
        };
        let now = Instant::now();
        if was_up {
            down_since = now;
            next_report = now + timing.dead_after;
        } else if now >= next_report {
            // Each failed dial is logged quietly; a link that stays down is not quiet.
            next_report = now + timing.dead_after;
            tracing::warn!(
                event = "p2p.link_down",
                peer = %link.peer.address,
                down_s = (now - down_since).as_secs_f64(),
                last_failure = %last_failure,
            );
        }
        if was_up && now - started >= timing.stable_after() {
            delay = timing.backoff_initial;
        }
        // Jitter keeps a restarted node from being hit by every peer at the same instant.
        let jitter: f64 = rand::thread_rng().gen_range(0.5..=1.0);
        tokio::time::sleep(delay.mul_f64(jitter)).await;
        delay = (delay * 2).min(timing.backoff_max);
    }
}

/// One connection's life: `Ok` if it was authenticated (whatever ended it), else why not.
/// `patience` bounds the handshake ([`next_patience`]).
async fn connect_once(link: &LinkState, shared: &Shared, patience: Duration) -> Result<(), String> {
    let timing = shared.cfg.timing;
    let peer = &link.peer;
    // Held from connect to authenticated; the timeouts start once it is ours.
    let permit = shared.dials.acquire().await;
    let stream = match tokio::time::timeout(
        timing.connect_timeout,
        TcpStream::connect(&peer.endpoint),
    )
    .await
    {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return Err(dial_failed(shared, peer, "connect", &e.to_string())),
        Err(_) => return Err(dial_failed(shared, peer, "connect", "connect timed out")),
    };
    let _ = stream.set_nodelay(true);
    if let Ok(remote) = stream.peer_addr() {
        // Where this peer's own link is likely to come from: no per-source admission bound.
        shared.note_known_source(remote.ip());
    }
    let (read, mut write) = stream.into_split();
    let mut reader = FrameReader::new(read, HANDSHAKE_MAX_FRAME_BYTES);
    let auth = handshake::dial(
        &mut reader,
        &mut write,
        &shared.cfg.key,
        &shared.cfg.chain_id,
        &peer.public_key,
        handshake::new_nonce(),
    );
    match tokio::time::timeout(patience, auth).await {
        Err(_) => {
            let reason = HandshakeFailure::Timeout.reason();
            return Err(dial_failed(
                shared,
                peer,
                reason,
                "no complete handshake in time",
            ));
        }
        Ok(Err(e)) => return Err(dial_failed(shared, peer, e.kind.reason(), &e.detail)),
        Ok(Ok(())) => {}
    }
    drop(permit);
    link.connected.store(true, Ordering::Relaxed);
    link.generation.fetch_add(1, Ordering::Relaxed);
    NetStats::add(&shared.stats.connects, 1);
    tracing::info!(event = "p2p.outbound_connected", peer = %peer.address, queued = link.queued());
    let reason = pump(link, shared, reader, write).await;
    link.connected.store(false, Ordering::Relaxed);
    NetStats::add(&shared.stats.disconnects, 1);
    shared.stats.count(Group::DisconnectReasons, reason);
    tracing::info!(
        event = "p2p.outbound_disconnected",
        peer = %peer.address,
        reason,
        queued = link.queued()
    );
    Ok(())
}

fn dial_failed(shared: &Shared, peer: &PeerSpec, reason: &str, detail: &str) -> String {
    shared.stats.count(Group::DialFailures, reason);
    let quiet = matches!(reason, "connect" | "closed" | "timeout" | "truncated");
    if quiet {
        tracing::debug!(event = "p2p.dial_failed", peer = %peer.address, reason, detail);
    } else {
        tracing::warn!(event = "p2p.dial_handshake_failed", peer = %peer.address, reason, detail);
    }
    reason.to_owned()
}

/// Reads the listener's side: only keepalive answers may come; EOF or silence is death.
async fn watch<R: AsyncRead + Unpin>(
    mut reader: FrameReader<R>,
    dead_after: Duration,
) -> &'static str {
    reader.set_max_frame_bytes(0);
    loop {
        match reader.next(Some(dead_after)).await {
            Ok(Some(Frame::Keepalive)) => continue,
            Ok(Some(Frame::Payload(_))) | Err(ReadError::Frame(_)) => return LISTENER_SENT_DATA,
            Ok(None) => return EOF,
            Err(ReadError::Idle(_)) => return KEEPALIVE_TIMEOUT,
            Err(ReadError::Io(_)) => return RESET,
        }
    }
}

/// Sends queued frames and keepalives until the connection dies; returns why it died.
/// A frame leaves the queue when it is written, so a frame caught in a dying connection
/// is lost rather than sent twice (the node's gossip re-sends what matters).
async fn pump<R, W>(
    link: &LinkState,
    shared: &Shared,
    reader: FrameReader<R>,
    mut writer: W,
) -> &'static str
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let timing = shared.cfg.timing;
    let watcher = watch(reader, timing.dead_after);
    tokio::pin!(watcher);
    // The first tick is immediate: a keepalive right after the handshake (§16.3).
    let mut ticker = tokio::time::interval(timing.keepalive_interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut out: Vec<u8> = Vec::new();
    loop {
        out.clear();
        tokio::select! {
            biased;
            reason = &mut watcher => return reason,
            _ = ticker.tick() => out.extend_from_slice(&KEEPALIVE_FRAME),
            _ = link.wake.notified() => {}
        }
        let frames = link.take_all();
        let mut bytes = 0u64;
        for frame in &frames {
            out.extend_from_slice(frame);
            bytes += frame.len() as u64;
        }
        if out.is_empty() {
            continue;
        }
        tokio::select! {
            biased;
            reason = &mut watcher => return reason,
            written = writer.write_all(&out) => {
                if written.is_err() {
                    return WRITE_FAILED;
                }
            }
        }
        if !frames.is_empty() {
            shared
                .stats
                .bytes_out(link.peer.address, frames.len() as u64, bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(reason: &str) -> Result<(), String> {
        Err(reason.to_owned())
    }

    #[test]
    fn patience_doubles_on_handshake_timeouts_up_to_four_times_and_resets_when_up() {
        let timing = Timing::default();
        let base = timing.handshake_timeout;
        let mut p = base;
        let mut seen = Vec::new();
        for _ in 0..4 {
            p = next_patience(p, &timing, &failed("timeout"));
            seen.push(p);
        }
        assert_eq!(seen, vec![base * 2, base * 4, base * 4, base * 4]);
        assert_eq!(
            next_patience(p, &timing, &failed("connect")),
            p,
            "not a handshake timeout"
        );
        assert_eq!(next_patience(p, &timing, &failed("bad_signature")), p);
        assert_eq!(next_patience(p, &timing, &Ok(())), base);
    }
}
