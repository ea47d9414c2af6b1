//! When to re-send what (§16.7). The transport loses frames silently when a link dies, so
//! the node re-sends its own consensus messages of the undecided height (and relays the
//! polka or the decision) and its pending responses: at once when the link to a peer was
//! re-established (its generation changed), else every [`CONSENSUS_EVERY`] per peer, and
//! each response [`RESPONSES_EVERY`] after it last went out. Pure: the caller passes the
//! clock and the links' generations.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use clp::{Address, Hash32};

/// Own consensus messages of the current height go to each peer at least this often.
pub const CONSENSUS_EVERY: Duration = Duration::from_secs(2);
/// A pending response is re-sent this long after it last went out (§16.7 item 4: "after
/// 1 s"; timed per response, so one signed just before a peer's turn waits its second).
pub const RESPONSES_EVERY: Duration = Duration::from_secs(1);
/// A `status` goes to every peer this often: §16.7 asks for one at least every 2 s, and
/// the 250 ms tick may add one tick (the reference sends one a second; each is N - 1
/// frames, so at 128 validators 16,000 a second through the proxies).
pub const STATUS_EVERY: Duration = Duration::from_millis(1750);
/// Someone else's consensus messages (the polka, the decision) are relayed once they
/// have been here this long (§16.7's should): most peers got them from their signers.
pub const RELAY_AFTER: Duration = Duration::from_millis(500);
/// Someone else's pooled response is relayed once this many blocks were committed here
/// without it (§16.7: at most `W - 1`).
pub const RELAY_AFTER_BLOCKS: u64 = 2;

/// What to re-send to one peer now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Due {
    /// Our consensus messages of the height (and the relays).
    pub consensus: bool,
    /// A new connection: every pending response too, whatever its own schedule.
    pub fresh: bool,
}

#[derive(Debug, Clone, Copy, Default)]
struct PeerSchedule {
    generation: Option<u64>,
    consensus: Option<Instant>,
}

/// A pending response, as the pool keys it: `(challenge_height, validator)`.
pub type ResponseKey = (u64, Address);

/// What the node would relay: the polka of (height, round) for a block, or the decision
/// of that height (`true`).
pub type RelaySet = (u64, u64, Hash32, bool);

/// The re-send schedule of every peer.
#[derive(Debug, Default)]
pub struct Gossip {
    peers: BTreeMap<Address, PeerSchedule>,
    status: Option<Instant>,
    relay_since: Option<(RelaySet, Instant)>,
    responses: BTreeMap<ResponseKey, Instant>,
}

fn due(last: &mut Option<Instant>, now: Instant, every: Duration) -> bool {
    if last.is_some_and(|t| now.duration_since(t) < every) {
        return false;
    }
    *last = Some(now);
    true
}

impl Gossip {
    /// What is due for `peer` at `now`, its link at `generation` (None: not connected,
    /// frames queue until it is). Marks what it returns as sent.
    pub fn due(&mut self, peer: Address, generation: Option<u64>, now: Instant) -> Due {
        let s = self.peers.entry(peer).or_default();
        let fresh = generation != s.generation;
        if fresh {
            // A new connection: whatever was sent before may be lost.
            s.generation = generation;
            s.consensus = None;
        }
        Due {
            consensus: due(&mut s.consensus, now, CONSENSUS_EVERY),
            fresh,
        }
    }

    /// Which of the pending responses `pending` are re-sent at `now`: those that went out
    /// [`RESPONSES_EVERY`] ago or more (marked as going out now). A response seen here
    /// for the first time counts as sent now: an own or POSTed one went to every peer when
    /// it was signed or POSTed; someone else's is not relayed before that anyway.
    /// Responses no longer pending are forgotten.
    pub fn responses_due(
        &mut self,
        pending: impl IntoIterator<Item = ResponseKey>,
        now: Instant,
    ) -> BTreeSet<ResponseKey> {
        let pending: BTreeSet<ResponseKey> = pending.into_iter().collect();
        self.responses.retain(|key, _| pending.contains(key));
        let mut resend = BTreeSet::new();
        for key in pending {
            let last = self.responses.entry(key).or_insert(now);
            if now.duration_since(*last) >= RESPONSES_EVERY {
                *last = now;
                resend.insert(key);
            }
        }
        resend
    }

    /// Whether our `status` is due.
    pub fn status_due(&mut self, now: Instant) -> bool {
        due(&mut self.status, now, STATUS_EVERY)
    }

    /// Whether the relay set `set` (None: nothing to relay) has been here for
    /// [`RELAY_AFTER`] at `now`: every message in it arrived before it formed.
    pub fn relays_due(&mut self, set: Option<RelaySet>, now: Instant) -> bool {
        let Some(set) = set else {
            self.relay_since = None;
            return false;
        };
        match self.relay_since {
            Some((seen, since)) if seen == set => now.duration_since(since) >= RELAY_AFTER,
            _ => {
                self.relay_since = Some((set, now));
                false
            }
        }
    }

    /// The consensus messages just went to every peer (a new height, a new vote): the
    /// next periodic re-send can wait a full interval.
    pub fn sent_consensus_to_all(&mut self, now: Instant) {
        for s in self.peers.values_mut() {
            s.consensus = Some(now);
        }
    }
}

/// Whether a peer that claims `claim` may still need the consensus messages of `height`
/// (§16.7 item 2: not to a peer whose claim is already `>= height`).
pub fn peer_needs_height(claim: Option<u64>, height: u64) -> bool {
    claim.is_none_or(|c| c < height)
}

/// Whether a pooled response is re-sent: our own always (until included, unless we are
/// lazy), someone else's once it waited [`RELAY_AFTER_BLOCKS`] blocks here.
pub fn resend_response(own: bool, lazy: bool, pooled_at: u64, head: u64) -> bool {
    if own {
        !lazy
    } else {
        head >= pooled_at + RELAY_AFTER_BLOCKS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Address = Address([1; 20]);

    #[test]
    fn first_contact_sends_everything_then_waits_for_the_interval() {
        let mut g = Gossip::default();
        let t0 = Instant::now();
        let all = Due {
            consensus: true,
            fresh: true,
        };
        assert_eq!(g.due(P, Some(1), t0), all);
        assert_eq!(
            g.due(P, Some(1), t0 + Duration::from_millis(250)),
            Due::default()
        );
        assert_eq!(
            g.due(P, Some(1), t0 + CONSENSUS_EVERY),
            Due {
                consensus: true,
                fresh: false
            }
        );
    }

    #[test]
    fn a_response_is_resent_a_full_interval_after_it_went_out() {
        let mut g = Gossip::default();
        let t0 = Instant::now();
        let (a, b): (ResponseKey, ResponseKey) = ((10, P), (10, Address([2; 20])));
        // First seen: it just went to every peer.
        assert!(g.responses_due([a], t0).is_empty());
        let t1 = t0 + RESPONSES_EVERY / 2;
        assert!(g.responses_due([a, b], t1).is_empty());
        // a's second is up, b (seen half a second later) waits for its own.
        assert_eq!(
            g.responses_due([a, b], t0 + RESPONSES_EVERY),
            BTreeSet::from([a])
        );
        assert_eq!(
            g.responses_due([a, b], t1 + RESPONSES_EVERY),
            BTreeSet::from([b])
        );
        // Included (no longer pending): forgotten, so pending again means new.
        assert!(g.responses_due([b], t0 + RESPONSES_EVERY * 3).contains(&b));
        assert!(g.responses_due([a, b], t0 + RESPONSES_EVERY * 3).is_empty());
    }

    #[test]
    fn a_new_connection_resends_at_once() {
        let mut g = Gossip::default();
        let t0 = Instant::now();
        g.due(P, Some(1), t0);
        let d = g.due(P, Some(2), t0 + Duration::from_millis(10));
        assert!(d.consensus && d.fresh);
    }

    #[test]
    fn a_broadcast_postpones_the_next_resend() {
        let mut g = Gossip::default();
        let t0 = Instant::now();
        g.due(P, Some(1), t0);
        let t1 = t0 + Duration::from_millis(1900);
        g.sent_consensus_to_all(t1);
        assert!(!g.due(P, Some(1), t0 + CONSENSUS_EVERY).consensus);
        assert!(g.due(P, Some(1), t1 + CONSENSUS_EVERY).consensus);
    }

    #[test]
    fn a_relay_set_is_relayed_once_it_has_been_here_long_enough() {
        let mut g = Gossip::default();
        let t0 = Instant::now();
        let polka: RelaySet = (5, 0, Hash32([7; 32]), false);
        assert!(!g.relays_due(None, t0));
        assert!(!g.relays_due(Some(polka), t0));
        assert!(!g.relays_due(Some(polka), t0 + RELAY_AFTER / 2));
        assert!(g.relays_due(Some(polka), t0 + RELAY_AFTER));
        // A new set (the decision) starts its own wait.
        let decided: RelaySet = (5, 0, Hash32([7; 32]), true);
        let t1 = t0 + RELAY_AFTER * 2;
        assert!(!g.relays_due(Some(decided), t1));
        assert!(g.relays_due(Some(decided), t1 + RELAY_AFTER));
        assert!(!g.relays_due(None, t1 + RELAY_AFTER * 2));
        assert!(!g.relays_due(Some(decided), t1 + RELAY_AFTER * 2)); // seen anew
    }

    #[test]
    fn status_goes_out_once_a_status_period_within_two_seconds() {
        let mut g = Gossip::default();
        let t0 = Instant::now();
        assert!(g.status_due(t0));
        assert!(!g.status_due(t0 + STATUS_EVERY - Duration::from_millis(1)));
        assert!(g.status_due(t0 + STATUS_EVERY));
        assert!(STATUS_EVERY + super::super::run::TICK <= Duration::from_secs(2));
    }

    #[test]
    fn consensus_messages_skip_peers_past_the_height() {
        assert!(peer_needs_height(None, 5));
        assert!(peer_needs_height(Some(4), 5));
        assert!(!peer_needs_height(Some(5), 5));
    }

    #[test]
    fn own_responses_are_resent_unless_lazy_others_after_two_blocks() {
        assert!(resend_response(true, false, 10, 10));
        assert!(!resend_response(true, true, 10, 10));
        assert!(!resend_response(false, false, 10, 11));
        assert!(resend_response(false, false, 10, 12));
    }
}
