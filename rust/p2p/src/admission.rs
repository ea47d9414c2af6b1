//! Who may hold a slot for an unauthenticated inbound connection, and who gives one up.
//!
//! A connection is *waiting* from accept until its hello arrives (the dialer speaks first,
//! at once), then *handshaking* until it is authenticated. Both stages are bounded in
//! number, in total and per source address; sources the node knows as its peers' (the
//! hosts of the endpoints it dials) have no per-source bound. When a stage is full its
//! oldest connection goes, from an unknown source first, and an unknown source at its
//! bound displaces its own oldest: a flood only ever evicts itself, while a real peer
//! passes each stage within one round trip. Time is bounded by the caller (one handshake
//! deadline from accept). Pure bookkeeping, no I/O.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

/// Reason label: a stage was full.
pub const TOO_MANY_PENDING: &str = "too_many_pending";
/// Reason label: one source held too many slots of a stage.
pub const SOURCE_LIMIT: &str = "source_limit";

/// Bounds of the two stages (the reference node's values are the defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionLimits {
    /// Connections waiting for their hello.
    pub max_waiting: usize,
    /// Of them, from one unknown source.
    pub max_waiting_per_source: usize,
    /// Connections between hello and authentication.
    pub max_handshakes: usize,
    /// Of them, from one unknown source.
    pub max_handshakes_per_source: usize,
}

impl Default for AdmissionLimits {
    fn default() -> Self {
        AdmissionLimits {
            max_waiting: 256,
            max_waiting_per_source: 16,
            max_handshakes: 64,
            max_handshakes_per_source: 8,
        }
    }
}

/// A connection's identity in the pools (the listener numbers its connections).
pub type ConnId = u64;

/// The outcome of entering a stage: close `evicted`, counting `reason` for each.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Arrival {
    /// The connection displaced to make room, if any.
    pub evicted: Option<ConnId>,
    /// Why it was displaced.
    pub reason: &'static str,
    /// The entering connection itself has no slot (it was evicted meanwhile).
    pub refused: bool,
}

#[derive(Debug, Default)]
struct Pool {
    // Arrival order: a growing sequence number -> (conn, source).
    order: BTreeMap<u64, (ConnId, IpAddr)>,
    index: HashMap<ConnId, u64>,
    by_source: HashMap<IpAddr, usize>,
}

impl Pool {
    fn insert(&mut self, seq: u64, conn: ConnId, source: IpAddr) {
        self.order.insert(seq, (conn, source));
        self.index.insert(conn, seq);
        *self.by_source.entry(source).or_default() += 1;
    }

    fn remove(&mut self, conn: ConnId) -> Option<IpAddr> {
        let seq = self.index.remove(&conn)?;
        let (_, source) = self.order.remove(&seq)?;
        if let Some(n) = self.by_source.get_mut(&source) {
            *n -= 1;
            if *n == 0 {
                self.by_source.remove(&source);
            }
        }
        Some(source)
    }

    fn oldest(&self, pred: impl Fn(&IpAddr) -> bool) -> Option<ConnId> {
        self.order.values().find(|(_, s)| pred(s)).map(|(c, _)| *c)
    }

    fn len(&self) -> usize {
        self.index.len()
    }

    fn count(&self, source: &IpAddr) -> usize {
        self.by_source.get(source).copied().unwrap_or(0)
    }
}

/// The two pools; `is_known(source)` says whether a source is one of our peers'.
#[derive(Debug)]
pub struct Admission {
    limits: AdmissionLimits,
    waiting: Pool,
    handshaking: Pool,
    seq: u64,
}

impl Admission {
    /// Empty pools with these bounds (each at least 1).
    pub fn new(limits: AdmissionLimits) -> Self {
        let at_least_one = |n: usize| n.max(1);
        Admission {
            limits: AdmissionLimits {
                max_waiting: at_least_one(limits.max_waiting),
                max_waiting_per_source: at_least_one(limits.max_waiting_per_source),
                max_handshakes: at_least_one(limits.max_handshakes),
                max_handshakes_per_source: at_least_one(limits.max_handshakes_per_source),
            },
            waiting: Pool::default(),
            handshaking: Pool::default(),
            seq: 0,
        }
    }

    /// Connections waiting for their hello.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Connections between hello and authentication.
    pub fn handshaking(&self) -> usize {
        self.handshaking.len()
    }

    /// Admit a just-accepted `conn` to the waiting pool, naming what it displaces.
    pub fn arrive(
        &mut self,
        conn: ConnId,
        source: IpAddr,
        is_known: impl Fn(&IpAddr) -> bool,
    ) -> Arrival {
        let lim = self.limits;
        let arrival = Self::make_room(
            &mut self.waiting,
            source,
            lim.max_waiting,
            lim.max_waiting_per_source,
            &is_known,
        );
        self.seq += 1;
        self.waiting.insert(self.seq, conn, source);
        arrival
    }

    /// `conn` sent its hello: move it to the handshake stage, displacing as needed.
    pub fn hello(&mut self, conn: ConnId, is_known: impl Fn(&IpAddr) -> bool) -> Arrival {
        let Some(source) = self.waiting.remove(conn) else {
            return Arrival {
                evicted: None,
                reason: TOO_MANY_PENDING,
                refused: true,
            };
        };
        let lim = self.limits;
        let arrival = Self::make_room(
            &mut self.handshaking,
            source,
            lim.max_handshakes,
            lim.max_handshakes_per_source,
            &is_known,
        );
        self.seq += 1;
        self.handshaking.insert(self.seq, conn, source);
        arrival
    }

    /// `conn` is authenticated, refused or closed: its slot is free (idempotent).
    pub fn leave(&mut self, conn: ConnId) {
        self.waiting.remove(conn);
        self.handshaking.remove(conn);
    }

    fn make_room(
        pool: &mut Pool,
        source: IpAddr,
        total: usize,
        per_source: usize,
        is_known: &impl Fn(&IpAddr) -> bool,
    ) -> Arrival {
        let (victim, reason) = if !is_known(&source) && pool.count(&source) >= per_source {
            (pool.oldest(|s| *s == source), SOURCE_LIMIT)
        } else if pool.len() >= total {
            let victim = pool
                .oldest(|s| !is_known(s))
                .or_else(|| pool.oldest(|_| true));
            (victim, TOO_MANY_PENDING)
        } else {
            (None, "")
        };
        match victim {
            Some(v) => {
                pool.remove(v);
                Arrival {
                    evicted: Some(v),
                    reason,
                    refused: false,
                }
            }
            None => Arrival::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    const PEER: u8 = 1;

    fn known(s: &IpAddr) -> bool {
        *s == ip(PEER)
    }

    fn small() -> Admission {
        Admission::new(AdmissionLimits {
            max_waiting: 4,
            max_waiting_per_source: 2,
            max_handshakes: 2,
            max_handshakes_per_source: 1,
        })
    }

    #[test]
    fn an_unknown_source_at_its_bound_displaces_only_itself() {
        let mut a = small();
        assert_eq!(a.arrive(1, ip(9), known), Arrival::default());
        assert_eq!(a.arrive(2, ip(8), known), Arrival::default());
        assert_eq!(a.arrive(3, ip(9), known), Arrival::default());
        let got = a.arrive(4, ip(9), known);
        assert_eq!((got.evicted, got.reason), (Some(1), SOURCE_LIMIT));
        assert_eq!(a.waiting(), 3);
    }

    #[test]
    fn a_full_pool_evicts_the_oldest_unknown_first_and_never_refuses_a_peer() {
        let mut a = small();
        a.arrive(1, ip(PEER), known);
        for (conn, src) in [(2, 7), (3, 8), (4, 9)] {
            a.arrive(conn, ip(src), known);
        }
        let got = a.arrive(5, ip(PEER), known);
        assert_eq!((got.evicted, got.reason), (Some(2), TOO_MANY_PENDING));
        // Known sources have no per-source bound; unknown ones go first, then the oldest.
        assert_eq!(a.arrive(6, ip(PEER), known).evicted, Some(3));
        assert_eq!(a.arrive(7, ip(PEER), known).evicted, Some(4));
        assert_eq!(a.arrive(8, ip(PEER), known).evicted, Some(1));
        assert_eq!(a.waiting(), 4);
    }

    #[test]
    fn the_handshake_stage_is_bounded_too_and_a_stale_hello_is_refused() {
        let mut a = small();
        for (conn, src) in [(1, 9), (2, 9), (3, PEER)] {
            a.arrive(conn, ip(src), known);
        }
        assert_eq!(a.hello(1, known), Arrival::default());
        let got = a.hello(2, known);
        assert_eq!((got.evicted, got.reason), (Some(1), SOURCE_LIMIT));
        assert_eq!(a.hello(3, known), Arrival::default());
        assert_eq!(a.handshaking(), 2);
        // A connection evicted from waiting has no slot when its hello comes.
        a.arrive(4, ip(5), known);
        a.leave(4);
        assert!(a.hello(4, known).refused);
        a.leave(2);
        a.leave(2);
        assert_eq!(a.handshaking(), 1);
    }
}
