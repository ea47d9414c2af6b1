//! Block sync decisions (§16.5): whom to ask for which heights, what to serve, and which
//! entries of an answer to apply; and, from the same claims, which height may start
//! ([`StartGate`], "sync before signing"). Pure: the caller passes the clock and a random
//! number.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use clp::Address;

/// Blocks asked for and served per request (§16.5).
pub const BATCH: u64 = 32;
/// An unanswered request is given up after this long and another peer may be asked.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);
/// At start, the first height waits this long at most for a claim from every peer: more
/// than a peer's redial backoff (2 s) plus its status period (§16.5).
pub const STARTUP_GRACE: Duration = Duration::from_secs(5);

/// A `sync_request` to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub peer: Address,
    pub from: u64,
    pub to: u64,
}

#[derive(Debug, Clone, Copy)]
struct InFlight {
    request: Request,
    sent: Instant,
}

/// Peers' height claims and the one request in flight.
#[derive(Debug, Default)]
pub struct Sync {
    claims: BTreeMap<Address, u64>,
    in_flight: Option<InFlight>,
    /// Peers that left a request unserved and have served nothing since: their claims
    /// still say whom to ask, but no longer keep us from signing ([`Sync::reach`]).
    unserved: BTreeSet<Address>,
}

impl Sync {
    /// A peer claims to have finalized up to `height` (its latest claim replaces the last).
    pub fn claim(&mut self, peer: Address, height: u64) {
        self.claims.insert(peer, height);
    }

    /// The peer's latest claim.
    pub fn claim_of(&self, peer: &Address) -> Option<u64> {
        self.claims.get(peer).copied()
    }

    /// The highest claim.
    pub fn best_claim(&self) -> u64 {
        self.claims.values().copied().max().unwrap_or(0)
    }

    /// The highest claim that counts (§16.5): heights up to it are finalized, so we sign
    /// at none of them.
    pub fn reach(&self) -> u64 {
        self.claims
            .iter()
            .filter(|(p, _)| !self.unserved.contains(p))
            .map(|(_, c)| *c)
            .max()
            .unwrap_or(0)
    }

    /// Whether `peer` has made a claim (one it lost by leaving a request unserved too).
    pub fn heard_from(&self, peer: &Address) -> bool {
        self.claims.contains_key(peer) || self.unserved.contains(peer)
    }

    /// The request to send now, if any: with our head below some claim and no request in
    /// flight (or the last one older than [`RETRY_AFTER`], whose peer then loses its claim),
    /// ask one of the peers claiming more (`random` picks which) for the next batch.
    pub fn next_request(&mut self, head: u64, now: Instant, random: u64) -> Option<Request> {
        if let Some(f) = self.in_flight {
            if now.duration_since(f.sent) < RETRY_AFTER {
                return None;
            }
            self.claims.remove(&f.request.peer);
            self.unserved.insert(f.request.peer);
            self.in_flight = None;
        }
        let ahead: Vec<(Address, u64)> = self
            .claims
            .iter()
            .filter(|(_, c)| **c > head)
            .map(|(a, c)| (*a, *c))
            .collect();
        if ahead.is_empty() {
            return None;
        }
        let (peer, claim) = ahead[(random % ahead.len() as u64) as usize];
        let request = Request {
            peer,
            from: head + 1,
            to: claim.min(head + BATCH),
        };
        self.in_flight = Some(InFlight { request, sent: now });
        Some(request)
    }

    /// A `sync_response` from `peer` was handled and `applied` blocks of it were new. An
    /// answer to our request ends it; one that brought nothing costs the peer its claim
    /// (and its claims stop counting for [`Sync::reach`] until it serves a block).
    pub fn answered(&mut self, peer: Address, applied: usize) {
        if applied > 0 {
            self.unserved.remove(&peer);
        }
        if self.in_flight.is_some_and(|f| f.request.peer == peer) {
            self.in_flight = None;
            if applied == 0 {
                self.claims.remove(&peer);
                self.unserved.insert(peer);
            }
        }
    }
}

/// §16.5, sync before signing: whether consensus may start (and so sign) at a height.
/// The first height after start-up: not while a counted claim ([`Sync::reach`]) is
/// `>= height`: a node restarted on an empty or older store would sign again where its old
/// self signed (amnesia). Nor before every peer has claimed or [`STARTUP_GRACE`] has passed
/// since the first ask: until the statuses come the node cannot know what the chain
/// finalized. Once a height started, the store records what the node signs, so claims
/// hold nothing more: a node a block behind whose outbound links are cut could not sync
/// and would stall for good.
#[derive(Debug, Clone)]
pub struct StartGate {
    peers: Vec<Address>,
    grace: Duration,
    /// The end of the start-up grace, set by the first ask.
    grace_until: Option<Instant>,
    /// A height has started since start-up.
    started: bool,
}

impl StartGate {
    pub fn new(peers: Vec<Address>, grace: Duration) -> Self {
        StartGate {
            peers,
            grace,
            grace_until: None,
            started: false,
        }
    }

    pub fn allows(&mut self, height: u64, now: Instant, sync: &Sync) -> bool {
        if self.started {
            return true;
        }
        let until = *self.grace_until.get_or_insert(now + self.grace);
        if now < until && !self.peers.iter().all(|p| sync.heard_from(p)) {
            return false;
        }
        self.started = height > sync.reach();
        self.started
    }
}

/// The heights to serve for `sync_request{from, to}` with our head at `head`:
/// `from ..= min(to, from + 31, head)`, or none.
pub fn served_range(from: u64, to: u64, head: u64) -> Option<(u64, u64)> {
    if from == 0 || from > to || from > head {
        return None;
    }
    Some((from, to.min(from + BATCH - 1).min(head)))
}

/// What to do with an entry of a `sync_response` at `height` with our head at `head`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// At or below the head: already here.
    Skip,
    /// The next block: verify and apply.
    Apply,
    /// A gap: the rest of the answer is useless.
    Stop,
}

pub fn entry(height: u64, head: u64) -> Entry {
    if height <= head {
        Entry::Skip
    } else if height == head + 1 {
        Entry::Apply
    } else {
        Entry::Stop
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(i: u8) -> Address {
        Address([i; 20])
    }

    #[test]
    fn nothing_is_asked_when_nobody_claims_more() {
        let mut s = Sync::default();
        let now = Instant::now();
        assert_eq!(s.next_request(5, now, 0), None);
        s.claim(peer(1), 5);
        assert_eq!(s.next_request(5, now, 0), None);
    }

    #[test]
    fn a_peer_claiming_more_is_asked_for_one_batch_and_only_once_at_a_time() {
        let mut s = Sync::default();
        let now = Instant::now();
        s.claim(peer(1), 100);
        s.claim(peer(2), 3);
        let r = s.next_request(5, now, 7).unwrap();
        assert_eq!(
            r,
            Request {
                peer: peer(1),
                from: 6,
                to: 37
            }
        );
        assert_eq!(s.next_request(5, now + Duration::from_millis(500), 0), None);
        s.answered(peer(1), 32);
        let r = s.next_request(37, now, 0).unwrap();
        assert_eq!((r.from, r.to), (38, 69));
    }

    #[test]
    fn the_batch_stops_at_the_claim() {
        let mut s = Sync::default();
        s.claim(peer(1), 7);
        let r = s.next_request(5, Instant::now(), 0).unwrap();
        assert_eq!((r.from, r.to), (6, 7));
    }

    #[test]
    fn an_unanswered_or_empty_request_costs_the_peer_its_claim() {
        let mut s = Sync::default();
        let now = Instant::now();
        s.claim(peer(1), 50);
        s.claim(peer(2), 50);
        let first = s.next_request(5, now, 0).unwrap();
        assert_eq!(first.peer, peer(1));
        // No answer within a second: peer 1 loses its claim, peer 2 is asked.
        let second = s.next_request(5, now + RETRY_AFTER, 0).unwrap();
        assert_eq!(second.peer, peer(2));
        assert_eq!(s.claim_of(&peer(1)), None);
        // Peer 2 answers with nothing new: it loses its claim too.
        s.answered(peer(2), 0);
        assert_eq!(s.claim_of(&peer(2)), None);
        assert_eq!(s.next_request(5, now + RETRY_AFTER, 0), None);
        // A new claim makes it a candidate again.
        s.claim(peer(2), 51);
        assert!(s.next_request(5, now + RETRY_AFTER, 0).is_some());
    }

    #[test]
    fn an_unsolicited_answer_leaves_the_request_in_flight() {
        let mut s = Sync::default();
        let now = Instant::now();
        s.claim(peer(1), 50);
        s.next_request(5, now, 0).unwrap();
        s.answered(peer(2), 0);
        assert_eq!(s.next_request(5, now, 0), None);
    }

    #[test]
    fn reach_leaves_out_a_peer_that_left_a_request_unserved_until_it_serves() {
        let mut s = Sync::default();
        let now = Instant::now();
        assert_eq!(s.reach(), 0);
        s.claim(peer(1), 40);
        s.claim(peer(2), 7);
        assert_eq!(s.reach(), 40);
        assert_eq!(s.next_request(5, now, 0).unwrap().peer, peer(1));
        s.next_request(5, now + RETRY_AFTER, 1); // unanswered: peer 1 loses its claim
        s.claim(peer(1), 90); // and claims again: whom to ask, but it does not count
        assert_eq!((s.best_claim(), s.reach()), (90, 7));
        assert!(s.heard_from(&peer(1)));
        s.answered(peer(1), 3); // it served blocks we applied
        assert_eq!(s.reach(), 90);
        s.claim(peer(2), 95);
        s.answered(peer(2), 0); // the request in flight (to peer 2) brought nothing
        assert_eq!(s.reach(), 90);
    }

    #[test]
    fn only_the_first_height_after_start_up_waits_for_the_claims() {
        let mut s = Sync::default();
        let mut gate = StartGate::new(Vec::new(), STARTUP_GRACE);
        let now = Instant::now();
        s.claim(peer(1), 5);
        assert!(!gate.allows(5, now, &s)); // a restarted node syncs before it signs
        assert!(gate.allows(6, now, &s));
        s.claim(peer(1), 9); // the peers decided 7 before our block interval was over
        assert!(gate.allows(7, now, &s)); // the store covers what we sign: start, not stall
    }

    #[test]
    fn the_first_height_waits_for_every_peers_claim_or_the_grace() {
        let peers = vec![peer(1), peer(2)];
        let t0 = Instant::now();
        let mut s = Sync::default();
        let mut gate = StartGate::new(peers.clone(), STARTUP_GRACE);
        assert!(!gate.allows(1, t0, &s)); // the grace starts with the first ask
        s.claim(peer(1), 0);
        assert!(!gate.allows(1, t0 + STARTUP_GRACE / 2, &s));
        s.claim(peer(2), 3);
        assert!(!gate.allows(1, t0 + STARTUP_GRACE / 2, &s)); // peer 2 finalized up to 3
        assert!(gate.allows(4, t0 + STARTUP_GRACE / 2, &s));

        let mut s = Sync::default();
        let mut gate = StartGate::new(peers, STARTUP_GRACE);
        s.claim(peer(1), 0); // peer 2 stays silent
        assert!(!gate.allows(1, t0, &s));
        assert!(!gate.allows(1, t0 + STARTUP_GRACE - Duration::from_millis(1), &s));
        assert!(gate.allows(1, t0 + STARTUP_GRACE, &s));
    }

    #[test]
    fn served_ranges_are_clipped_to_a_batch_and_the_head() {
        assert_eq!(served_range(1, 100, 10), Some((1, 10)));
        assert_eq!(served_range(1, 100, 1000), Some((1, 32)));
        assert_eq!(served_range(5, 6, 1000), Some((5, 6)));
        assert_eq!(served_range(11, 20, 10), None);
        assert_eq!(served_range(0, 20, 10), None);
        assert_eq!(served_range(6, 5, 10), None);
    }

    #[test]
    fn entries_apply_in_order_only() {
        assert_eq!(entry(3, 5), Entry::Skip);
        assert_eq!(entry(5, 5), Entry::Skip);
        assert_eq!(entry(6, 5), Entry::Apply);
        assert_eq!(entry(7, 5), Entry::Stop);
    }
}
