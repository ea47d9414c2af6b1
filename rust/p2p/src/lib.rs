//! Authenticated, length-prefixed P2P between validators over directed links
//! (docs/protocol.md §10 and §16). Interoperates with the reference node (`clp_node/net`).
//!
//! # Shape
//!
//! - Node i **sends** to peer j only over the one connection it dials to j's configured
//!   endpoint (a fault proxy may carry only i→j): one [`Network`] link per peer with a
//!   bounded queue, redialling forever with a capped, jittered backoff, sending a
//!   keepalive every `keepalive_interval`.
//! - Node i **receives** on connections its peers dialled to it: the listener admits
//!   them under [`AdmissionLimits`], authenticates them against the configured peers'
//!   keys, answers keepalives and delivers every message as an [`Inbound`] on the channel
//!   returned by [`Network::start`]. A connection that sends an oversized or non-JSON
//!   frame is closed and counted; nothing a connection does can stop the listener.
//!
//! # Using it (the node)
//!
//! ```no_run
//! # async fn demo(key: ed25519_dalek::SigningKey, peers: Vec<clp_p2p::PeerSpec>) -> Result<(), Box<dyn std::error::Error>> {
//! use clp_p2p::{Message, NetConfig, Network};
//!
//! let mut cfg = NetConfig::new("clp-testnet", key, "127.0.0.1:16934", peers);
//! cfg.max_frame_bytes = 4 * 1024 * 1024; // [p2p] max_frame_bytes
//! let (net, mut inbound) = Network::start(cfg).await?;
//! net.broadcast(&Message::Status { height: 0 })?;        // queued for every peer
//! while let Some(msg) = inbound.recv().await {
//!     match msg.message {
//!         Ok(Message::Consensus { msg: _ }) => { /* core.on_vote / on_proposal */ }
//!         Ok(Message::SyncRequest { from, to }) => { /* net.send(&msg.peer, &answer) */ let _ = (from, to); }
//!         Ok(_) => {}
//!         Err(bad) => { /* already counted in stats().rejected_frames */ let _ = bad; }
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! - Encode once, send to many: [`Network::encode`] + [`Network::send_frame`]; the frame's
//!   [`OutFrame::payload`] is what a duplicate filter can key on.
//! - [`Network::link_generation`] changes when a link may have lost frames (reconnect,
//!   queue overflow): re-send what matters then (§16.7).
//! - Metrics: [`Network::stats`] ([`StatsSnapshot`]: `connected_peers` is
//!   `alphaos_p2p_peers_connected`, `rejected_frames` is
//!   `alphaos_p2p_frames_rejected_total{reason}`, `handshake_failures` is
//!   `alphaos_p2p_handshakes_rejected_total{reason}`); the node adds its own refusals of
//!   decoded messages with [`Network::count_rejected`].
//! - Dropping the last [`Network`] clone, or [`Network::shutdown`], stops everything.
//!
//! Modules: [`frame`] (framing, pure + a chunked reader), [`handshake`] (both roles),
//! [`admission`] (pure bookkeeping of unauthenticated connections), [`wire`] (messages).

pub mod admission;
pub mod frame;
pub mod handshake;
mod inbound;
mod link;
mod network;
mod stats;
pub mod wire;

pub use admission::AdmissionLimits;
pub use frame::{FrameError, DEFAULT_MAX_FRAME_BYTES, HANDSHAKE_MAX_FRAME_BYTES, KEEPALIVE_FRAME};
pub use handshake::{HandshakeError, HandshakeFailure};
pub use network::{Inbound, NetConfig, Network, OutFrame, PeerSpec, SendError, StartError, Timing};
pub use stats::StatsSnapshot;
pub use wire::{DecodeError, Message, MessageError, SyncEntry};
