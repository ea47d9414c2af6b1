//! Counters of the transport, read by the node's metrics and status endpoints.
//!
//! Totals only grow, so a Prometheus collector can expose them as counters directly
//! (`alphaos_p2p_frames_rejected_total{reason}` is `rejected_frames`,
//! `alphaos_p2p_handshakes_rejected_total{reason}` is `handshake_failures`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use clp::Address;
use serde::Serialize;

#[derive(Debug, Default)]
pub(crate) struct NetStats {
    pub frames_in: AtomicU64,
    pub frames_out: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    pub messages_dropped: AtomicU64,
    pub connects: AtomicU64,
    pub disconnects: AtomicU64,
    pub inbound_connects: AtomicU64,
    pub inbound_disconnects: AtomicU64,
    reasons: Mutex<Reasons>,
}

#[derive(Debug, Default)]
struct Reasons {
    rejected_frames: BTreeMap<String, u64>,
    handshake_failures: BTreeMap<String, u64>,
    dial_failures: BTreeMap<String, u64>,
    disconnect_reasons: BTreeMap<String, u64>,
    bytes_in_by_peer: BTreeMap<Address, u64>,
    bytes_out_by_peer: BTreeMap<Address, u64>,
}

/// Which counter of reasons to add to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Group {
    RejectedFrames,
    HandshakeFailures,
    DialFailures,
    DisconnectReasons,
}

impl NetStats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn count(&self, group: Group, reason: &str) {
        let mut r = self.reasons.lock().expect("stats lock");
        let map = match group {
            Group::RejectedFrames => &mut r.rejected_frames,
            Group::HandshakeFailures => &mut r.handshake_failures,
            Group::DialFailures => &mut r.dial_failures,
            Group::DisconnectReasons => &mut r.disconnect_reasons,
        };
        *map.entry(reason.to_owned()).or_default() += 1;
    }

    pub fn bytes_in(&self, peer: Address, n: u64) {
        Self::add(&self.frames_in, 1);
        Self::add(&self.bytes_in, n);
        *self
            .reasons
            .lock()
            .expect("stats lock")
            .bytes_in_by_peer
            .entry(peer)
            .or_default() += n;
    }

    pub fn bytes_out(&self, peer: Address, frames: u64, n: u64) {
        Self::add(&self.frames_out, frames);
        Self::add(&self.bytes_out, n);
        *self
            .reasons
            .lock()
            .expect("stats lock")
            .bytes_out_by_peer
            .entry(peer)
            .or_default() += n;
    }

    pub fn snapshot(&self, connected_peers: usize, inbound_peers: usize) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let r = self.reasons.lock().expect("stats lock");
        StatsSnapshot {
            connected_peers,
            inbound_peers,
            frames_in: get(&self.frames_in),
            frames_out: get(&self.frames_out),
            bytes_in: get(&self.bytes_in),
            bytes_out: get(&self.bytes_out),
            messages_dropped: get(&self.messages_dropped),
            connects: get(&self.connects),
            disconnects: get(&self.disconnects),
            inbound_connects: get(&self.inbound_connects),
            inbound_disconnects: get(&self.inbound_disconnects),
            rejected_frames: r.rejected_frames.clone(),
            handshake_failures: r.handshake_failures.clone(),
            dial_failures: r.dial_failures.clone(),
            disconnect_reasons: r.disconnect_reasons.clone(),
            bytes_in_by_peer: r
                .bytes_in_by_peer
                .iter()
                .map(|(a, n)| (a.to_hex(), *n))
                .collect(),
            bytes_out_by_peer: r
                .bytes_out_by_peer
                .iter()
                .map(|(a, n)| (a.to_hex(), *n))
                .collect(),
        }
    }
}

/// A copy of the transport's counters (all totals since start, except the two gauges).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StatsSnapshot {
    /// Gauge: peers with an authenticated outbound link (`alphaos_p2p_peers_connected`).
    pub connected_peers: usize,
    /// Gauge: peers with an authenticated inbound connection.
    pub inbound_peers: usize,
    /// Frames received after authentication (keepalives not counted).
    pub frames_in: u64,
    /// Frames written to outbound links (keepalives not counted).
    pub frames_out: u64,
    /// Bytes of `frames_in`, prefixes included.
    pub bytes_in: u64,
    /// Bytes of `frames_out`, prefixes included.
    pub bytes_out: u64,
    /// Frames dropped from a full send queue (the oldest goes).
    pub messages_dropped: u64,
    /// Outbound links authenticated.
    pub connects: u64,
    /// Outbound links that went down.
    pub disconnects: u64,
    /// Inbound connections authenticated.
    pub inbound_connects: u64,
    /// Inbound connections that ended after authentication.
    pub inbound_disconnects: u64,
    /// Inbound frames refused after authentication, by reason: the transport's
    /// (`oversized`, `not_json`, `not_object`, `truncated`) and the message layer's
    /// (`unknown_type`, `bad_message`, plus what the node adds with `count_rejected`).
    pub rejected_frames: BTreeMap<String, u64>,
    /// Inbound connections refused before authentication, by reason.
    pub handshake_failures: BTreeMap<String, u64>,
    /// Failed dials of outbound links, by reason (`connect` or a handshake reason).
    pub dial_failures: BTreeMap<String, u64>,
    /// Why outbound links went down.
    pub disconnect_reasons: BTreeMap<String, u64>,
    /// Bytes received per peer address.
    pub bytes_in_by_peer: BTreeMap<String, u64>,
    /// Bytes sent per peer address.
    pub bytes_out_by_peer: BTreeMap<String, u64>,
}
