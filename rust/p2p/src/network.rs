//! The node's P2P network: one listener and one outbound link per configured peer.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clp::{Address, PublicKey};
use ed25519_dalek::SigningKey;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinHandle};

use crate::admission::{Admission, AdmissionLimits, ConnId};
use crate::frame::{encode_frame, FrameError, DEFAULT_MAX_FRAME_BYTES};
use crate::link::{self, LinkState};
use crate::stats::{Group, NetStats, StatsSnapshot};
use crate::wire::{self, Message, MessageError};

/// A validator we send to: who it is and where we dial to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSpec {
    /// Its address (must be the address of `public_key`).
    pub address: Address,
    /// Its Ed25519 public key (from genesis): what the handshake checks.
    pub public_key: [u8; 32],
    /// `host:port` this node dials to send to it (§12.3 `peers[].endpoint`).
    pub endpoint: String,
}

/// Timing of the transport; the defaults are the reference node's (§16.2, §16.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Longest TCP connect of a dial.
    pub connect_timeout: Duration,
    /// Longest handshake, on each side (the listener counts from accept).
    pub handshake_timeout: Duration,
    /// First redial delay after a failure (doubles per failure, jittered ×0.5–1.0).
    pub backoff_initial: Duration,
    /// The cap of the redial delay.
    pub backoff_max: Duration,
    /// How often a link sends a keepalive.
    pub keepalive_interval: Duration,
    /// No byte from the other side for this long: the connection is dead.
    pub dead_after: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            connect_timeout: Duration::from_secs(3),
            handshake_timeout: Duration::from_secs(3),
            backoff_initial: Duration::from_millis(50),
            backoff_max: Duration::from_secs(2),
            keepalive_interval: Duration::from_secs(2),
            dead_after: Duration::from_secs(10),
        }
    }
}

impl Timing {
    /// A link that lived this long was healthy: the next redial starts fast again.
    pub fn stable_after(&self) -> Duration {
        self.backoff_max.max(self.keepalive_interval * 2)
    }
}

/// Everything the network needs to start.
#[derive(Clone)]
pub struct NetConfig {
    /// The chain id both handshake sides must share.
    pub chain_id: String,
    /// This validator's key (it signs the handshake).
    pub key: SigningKey,
    /// `host:port` to listen on (`listen.p2p`, port 0 for any).
    pub listen: String,
    /// The peers to dial and to accept (§12.3 `[[peers]]`).
    pub peers: Vec<PeerSpec>,
    /// The frame cap (`[p2p] max_frame_bytes`).
    pub max_frame_bytes: u32,
    /// Frames queued per peer while its link is down or slow (the oldest is dropped).
    pub queue_size: usize,
    /// Messages received but not yet taken by the node; a full channel slows the
    /// readers (TCP backpressure), it loses nothing.
    pub inbound_capacity: usize,
    /// Timeouts and intervals.
    pub timing: Timing,
    /// Bounds on unauthenticated inbound connections.
    pub admission: AdmissionLimits,
    /// Dials (connect and handshake) in flight at once. Every node of a big network dials
    /// every peer at start: 128 validators are 16,256 handshakes, whose queueing on a
    /// few cores outlasted the handshake timeout, so each was dropped and re-dialled and
    /// no link came up. A bound keeps each handshake short; the others wait their turn.
    pub max_dials: usize,
}

impl NetConfig {
    /// A config with the reference node's defaults for everything but identity and peers.
    pub fn new(
        chain_id: impl Into<String>,
        key: SigningKey,
        listen: impl Into<String>,
        peers: Vec<PeerSpec>,
    ) -> Self {
        NetConfig {
            chain_id: chain_id.into(),
            key,
            listen: listen.into(),
            peers,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            queue_size: 1024,
            inbound_capacity: 4096,
            timing: Timing::default(),
            admission: AdmissionLimits::default(),
            max_dials: 16,
        }
    }
}

/// A network that could not start; the message names what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A setting breaks a rule.
    #[error("p2p config: {0}")]
    Config(String),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

/// A message that cannot be sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// No such peer is configured.
    #[error("unknown peer {0}")]
    UnknownPeer(Address),
    /// The message's frame is above the cap: a bug in the caller.
    #[error(transparent)]
    Frame(#[from] FrameError),
}

/// One message from a peer, in arrival order per connection.
#[derive(Debug)]
pub struct Inbound {
    /// The peer authenticated on the connection it came on (not necessarily the signer
    /// of what it carries: relays are normal).
    pub peer: Address,
    /// The message, or why a well-formed JSON object is not one. The error is already
    /// counted in `rejected_frames`; the node may add its own counts (e.g. §5 `MALFORMED`
    /// for a bad `clp_response`).
    pub message: Result<Message, MessageError>,
}

/// An encoded frame, ready for any number of peers (encode once, send to many).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutFrame(Arc<[u8]>);

impl OutFrame {
    /// The whole frame, length prefix included.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// The JSON payload (what a duplicate filter keys on).
    pub fn payload(&self) -> &[u8] {
        &self.0[4..]
    }
}

pub(crate) struct Shared {
    pub cfg: NetConfig,
    pub stats: NetStats,
    pub allowed: HashMap<[u8; 32], Address>,
    known_sources: Mutex<HashSet<IpAddr>>,
    pub admission: Mutex<Admission>,
    pub conns: Mutex<HashMap<ConnId, AbortHandle>>,
    pub inbound: Mutex<HashMap<Address, ConnId>>,
    pub next_conn: AtomicU64,
    log_limit: Mutex<HashMap<String, (Instant, u64)>>,
    /// One permit per dial in flight ([`NetConfig::max_dials`]).
    pub dials: tokio::sync::Semaphore,
}

/// One log line per reason and interval for refusals a flood could repeat endlessly.
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(5);

impl Shared {
    pub fn is_known_source(&self, source: &IpAddr) -> bool {
        self.known_sources
            .lock()
            .expect("sources lock")
            .contains(source)
    }

    pub fn note_known_source(&self, source: IpAddr) {
        self.known_sources
            .lock()
            .expect("sources lock")
            .insert(source);
    }

    /// Count a refusal by reason; log it at most once per reason and interval.
    pub fn refused(&self, group: Group, reason: &str, detail: &str) {
        self.stats.count(group, reason);
        let key = format!("{group:?}:{reason}");
        let now = Instant::now();
        let suppressed = {
            let mut limit = self.log_limit.lock().expect("log limit lock");
            let entry = limit.entry(key).or_insert((now - REFUSAL_LOG_INTERVAL, 0));
            if now.duration_since(entry.0) < REFUSAL_LOG_INTERVAL {
                entry.1 += 1;
                return;
            }
            let held = entry.1;
            *entry = (now, 0);
            held
        };
        let event = match group {
            Group::HandshakeFailures => "p2p.inbound_refused",
            _ => "p2p.frame_rejected",
        };
        tracing::warn!(event, reason, suppressed, detail = %truncated(detail));
    }
}

fn truncated(s: &str) -> &str {
    match s.char_indices().nth(200) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

struct Inner {
    shared: Arc<Shared>,
    links: HashMap<Address, Arc<LinkState>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    local_addr: SocketAddr,
    address: Address,
}

impl Inner {
    /// Abort the listener, the links and every connection's task (idempotent).
    fn stop(&self) {
        for task in self.tasks.lock().expect("tasks lock").drain(..) {
            task.abort();
        }
        for (_, handle) in self.shared.conns.lock().expect("conns lock").drain() {
            handle.abort();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Handle to the running network; cheap to clone. Dropping the last handle (or calling
/// [`Network::shutdown`]) stops every task and closes every connection.
#[derive(Clone)]
pub struct Network {
    inner: Arc<Inner>,
}

impl Network {
    /// Binds `cfg.listen`, then starts as [`Network::start_on`].
    pub async fn start(cfg: NetConfig) -> Result<(Network, mpsc::Receiver<Inbound>), StartError> {
        let own_key = cfg.key.verifying_key().to_bytes();
        validate(&cfg, &Address::from_public_key(&PublicKey(own_key)))?;
        let listener = TcpListener::bind(&cfg.listen)
            .await
            .map_err(|source| StartError::Bind {
                addr: cfg.listen.clone(),
                source,
            })?;
        Self::start_listening(cfg, listener)
    }

    /// Starts on a listener the caller bound already (so the port is never released
    /// between a check and the start: `cfg.listen` only names it in errors), then one
    /// dialling link per peer. Must run inside a tokio runtime. Returns the handle and the
    /// channel on which every inbound message arrives.
    pub fn start_on(
        cfg: NetConfig,
        listener: std::net::TcpListener,
    ) -> Result<(Network, mpsc::Receiver<Inbound>), StartError> {
        let bind_error = |source| StartError::Bind {
            addr: cfg.listen.clone(),
            source,
        };
        listener.set_nonblocking(true).map_err(bind_error)?;
        let listener = TcpListener::from_std(listener).map_err(bind_error)?;
        Self::start_listening(cfg, listener)
    }

    fn start_listening(
        cfg: NetConfig,
        listener: TcpListener,
    ) -> Result<(Network, mpsc::Receiver<Inbound>), StartError> {
        let own_key = cfg.key.verifying_key().to_bytes();
        let address = Address::from_public_key(&PublicKey(own_key));
        validate(&cfg, &address)?;
        let local_addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: cfg.listen.clone(),
            source,
        })?;
        // Where our peers' links come from: the endpoints we dial (literal IPs at once,
        // names once a dial has resolved them).
        let known: HashSet<IpAddr> = cfg
            .peers
            .iter()
            .filter_map(|p| p.endpoint.parse::<SocketAddr>().ok().map(|a| a.ip()))
            .collect();
        let shared = Arc::new(Shared {
            allowed: cfg
                .peers
                .iter()
                .map(|p| (p.public_key, p.address))
                .collect(),
            admission: Mutex::new(Admission::new(cfg.admission)),
            known_sources: Mutex::new(known),
            stats: NetStats::default(),
            conns: Mutex::new(HashMap::new()),
            inbound: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(0),
            log_limit: Mutex::new(HashMap::new()),
            dials: tokio::sync::Semaphore::new(cfg.max_dials.max(1)),
            cfg,
        });
        let (deliver, received) = mpsc::channel(shared.cfg.inbound_capacity.max(1));
        let links: HashMap<Address, Arc<LinkState>> = shared
            .cfg
            .peers
            .iter()
            .map(|p| {
                (
                    p.address,
                    Arc::new(LinkState::new(p.clone(), shared.cfg.queue_size)),
                )
            })
            .collect();
        let mut tasks = vec![tokio::spawn(crate::inbound::accept_loop(
            listener,
            shared.clone(),
            deliver,
        ))];
        for link in links.values() {
            tasks.push(tokio::spawn(link::run(link.clone(), shared.clone())));
        }
        tracing::info!(event = "p2p.started", address = %address, listen = %local_addr, peers = links.len());
        let inner = Inner {
            shared,
            links,
            tasks: Mutex::new(tasks),
            local_addr,
            address,
        };
        Ok((
            Network {
                inner: Arc::new(inner),
            },
            received,
        ))
    }

    /// Stop listening, dialling and reading; every connection is closed.
    pub fn shutdown(&self) {
        self.inner.stop();
        tracing::info!(event = "p2p.stopped", address = %self.inner.address);
    }

    /// The bound listen address (the real port when started with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// This node's validator address.
    pub fn address(&self) -> Address {
        self.inner.address
    }

    /// The configured peers, in address order.
    pub fn peers(&self) -> BTreeSet<Address> {
        self.inner.links.keys().copied().collect()
    }

    /// Encode a message once into a frame for [`Network::send_frame`].
    pub fn encode(&self, message: &Message) -> Result<OutFrame, FrameError> {
        let payload = wire::encode(message);
        let frame = encode_frame(&payload, self.inner.shared.cfg.max_frame_bytes)?;
        Ok(OutFrame(frame.into()))
    }

    /// Queue a message for one peer. Never blocks; while the link is down the frame
    /// waits in the peer's bounded queue.
    pub fn send(&self, peer: &Address, message: &Message) -> Result<(), SendError> {
        if !self.inner.links.contains_key(peer) {
            return Err(SendError::UnknownPeer(*peer));
        }
        let frame = self.encode(message)?;
        self.send_frame([peer], &frame);
        Ok(())
    }

    /// Queue a message for every peer (encoded once); how many queues took it.
    pub fn broadcast(&self, message: &Message) -> Result<usize, FrameError> {
        let frame = self.encode(message)?;
        for link in self.inner.links.values() {
            link.enqueue(frame.0.clone(), &self.inner.shared.stats);
        }
        Ok(self.inner.links.len())
    }

    /// Queue one encoded frame for some peers (unknown addresses are skipped).
    pub fn send_frame<'a>(&self, peers: impl IntoIterator<Item = &'a Address>, frame: &OutFrame) {
        for peer in peers {
            if let Some(link) = self.inner.links.get(peer) {
                link.enqueue(frame.0.clone(), &self.inner.shared.stats);
            }
        }
    }

    /// Changes whenever the link to the peer may have lost frames (a reconnect or a queue
    /// overflow): what was sent before is no longer known to have arrived. None for an
    /// unknown peer.
    pub fn link_generation(&self, peer: &Address) -> Option<u64> {
        self.inner
            .links
            .get(peer)
            .map(|l| l.generation.load(Ordering::Relaxed))
    }

    /// Whether we can currently send to `peer` (its outbound link is authenticated): one
    /// lookup, where `connected_peers` collects every peer (the tick asks once per peer).
    pub fn is_connected(&self, peer: &Address) -> bool {
        self.inner
            .links
            .get(peer)
            .is_some_and(|l| l.connected.load(Ordering::Relaxed))
    }

    /// Peers we can currently send to (an authenticated outbound link).
    pub fn connected_peers(&self) -> BTreeSet<Address> {
        self.inner
            .links
            .iter()
            .filter(|(_, l)| l.connected.load(Ordering::Relaxed))
            .map(|(a, _)| *a)
            .collect()
    }

    /// Peers currently connected to us (an authenticated inbound connection).
    pub fn inbound_peers(&self) -> BTreeSet<Address> {
        self.inner
            .shared
            .inbound
            .lock()
            .expect("inbound lock")
            .keys()
            .copied()
            .collect()
    }

    /// Frames waiting in a peer's queue.
    pub fn queued(&self, peer: &Address) -> usize {
        self.inner.links.get(peer).map_or(0, |l| l.queued())
    }

    /// Unauthenticated inbound connections: (waiting for hello, handshaking).
    pub fn pending_handshakes(&self) -> (usize, usize) {
        let admission = self.inner.shared.admission.lock().expect("admission lock");
        (admission.waiting(), admission.handshaking())
    }

    /// Count a message the node refused after decoding it (e.g. `bad_message` for a
    /// certificate that does not verify) with the transport's own refusals.
    pub fn count_rejected(&self, reason: &str) {
        self.inner.shared.stats.count(Group::RejectedFrames, reason);
    }

    /// A copy of the counters.
    pub fn stats(&self) -> StatsSnapshot {
        let inbound = self
            .inner
            .shared
            .inbound
            .lock()
            .expect("inbound lock")
            .len();
        self.inner
            .shared
            .stats
            .snapshot(self.connected_peers().len(), inbound)
    }
}

fn validate(cfg: &NetConfig, own: &Address) -> Result<(), StartError> {
    let bad = |m: String| Err(StartError::Config(m));
    // The handshake has its own cap (4096); §12.3's lower bound is the config's to check.
    if cfg.max_frame_bytes == 0 {
        return bad("max_frame_bytes must be positive".into());
    }
    if cfg.timing.dead_after <= cfg.timing.keepalive_interval {
        return bad("dead_after must exceed keepalive_interval".into());
    }
    if cfg.timing.keepalive_interval.is_zero() || cfg.timing.backoff_initial.is_zero() {
        return bad("keepalive_interval and backoff_initial must be positive".into());
    }
    let mut seen = HashSet::new();
    for (i, p) in cfg.peers.iter().enumerate() {
        if Address::from_public_key(&PublicKey(p.public_key)) != p.address {
            return bad(format!(
                "peers[{i}]: address {} does not match its public key",
                p.address
            ));
        }
        if &p.address == own {
            return bad(format!(
                "peers[{i}]: {} is this node's own address",
                p.address
            ));
        }
        if !seen.insert(p.address) {
            return bad(format!("peers[{i}]: {} is listed twice", p.address));
        }
    }
    Ok(())
}
