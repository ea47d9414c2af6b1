//! Pending CLP responses (§5, §16.4): valid responses waiting for inclusion, keyed and
//! therefore ordered by `(challenge_height, validator)` as a block must list them, and
//! responses to challenges above the head, parked until their challenge block arrives.
//! Pure: the caller passes the [`ClpManager`] at its head.

use std::collections::BTreeMap;

use clp::{Address, ClpManager, ClpResponse, RejectReason};

/// Responses kept for challenges not derived here yet (as the reference: 4096).
pub const MAX_PARKED: usize = 4096;

/// A pooled response and what gossip needs to know about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pooled {
    pub response: ClpResponse,
    /// Signed by this node (re-sent until included, §16.7 item 4).
    pub own: bool,
    /// The head height when it was pooled (relaying others' waits for a few blocks).
    pub since: u64,
}

/// What became of a response offered to the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// Valid for the next block and new here: pooled.
    Pooled,
    /// For a challenge above the head: kept and judged again after each block.
    Parked,
    /// Refused with this §5 reason (for a pooled one, `DUPLICATE`).
    Refused(RejectReason),
}

/// See the module documentation.
#[derive(Debug, Default)]
pub struct Pool {
    pooled: BTreeMap<(u64, Address), Pooled>,
    parked: BTreeMap<(u64, Address), ClpResponse>,
}

impl Pool {
    /// Judges `response` for the next block (§5 against the chain first, so a forged
    /// signature is `BAD_SIGNATURE` even when a genuine response is pooled; then a pooled
    /// one for the same `(h, validator)` makes it `DUPLICATE`).
    pub fn judge(&self, manager: &ClpManager, response: &ClpResponse) -> Result<(), RejectReason> {
        manager.check_response(manager.height() + 1, response, &[])?;
        if self.pooled.contains_key(&response.key()) {
            return Err(RejectReason::Duplicate);
        }
        Ok(())
    }

    /// Offers a response from a peer, a client or this node. `park` keeps one whose
    /// challenge is above the head (gossip; a client is told `UNKNOWN_CHALLENGE`).
    pub fn offer(
        &mut self,
        manager: &ClpManager,
        response: ClpResponse,
        own: bool,
        park: bool,
    ) -> Offer {
        match self.judge(manager, &response) {
            Ok(()) => {
                self.pooled.insert(
                    response.key(),
                    Pooled {
                        response,
                        own,
                        since: manager.height(),
                    },
                );
                Offer::Pooled
            }
            Err(RejectReason::UnknownChallenge)
                if park
                    && response.challenge_height > manager.height()
                    && clp::should_generate(manager.config(), response.challenge_height) =>
            {
                if self.parked.len() >= MAX_PARKED && !self.parked.contains_key(&response.key()) {
                    return Offer::Refused(RejectReason::UnknownChallenge);
                }
                self.parked.insert(response.key(), response);
                Offer::Parked
            }
            Err(reason) => Offer::Refused(reason),
        }
    }

    /// After a block with responses `included` was applied to `manager`: drops what is
    /// no longer valid and judges the parked responses again. A pooled response can only
    /// become invalid by inclusion or expiry (its committee and signature do not change),
    /// so no signature is checked again. Returns the newly pooled ones.
    pub fn after_commit(
        &mut self,
        manager: &ClpManager,
        included: &[ClpResponse],
    ) -> Vec<ClpResponse> {
        for r in included {
            self.pooled.remove(&r.key());
            self.parked.remove(&r.key());
        }
        let b = manager.height() + 1;
        let w = manager.config().response_window;
        self.pooled.retain(|(h, _), _| b <= h.saturating_add(w));
        let head = manager.height();
        let ready: Vec<(u64, Address)> = self
            .parked
            .range(..=(head, Address([0xff; 20])))
            .map(|(k, _)| *k)
            .collect();
        let mut pooled = Vec::new();
        for key in ready {
            if let Some(r) = self.parked.remove(&key) {
                if self.offer(manager, r.clone(), false, false) == Offer::Pooled {
                    pooled.push(r);
                }
            }
        }
        pooled
    }

    /// The responses of the block this node proposes at `manager.height() + 1`: every
    /// pooled one still valid, sorted by `(challenge_height, validator)`.
    pub fn for_block(&self, manager: &ClpManager) -> Vec<ClpResponse> {
        let b = manager.height() + 1;
        let mut out: Vec<ClpResponse> = Vec::new();
        for p in self.pooled.values() {
            if manager.check_response(b, &p.response, &out).is_ok() {
                out.push(p.response.clone());
            }
        }
        out
    }

    /// Whether a response for `(h, validator)` is pooled.
    pub fn contains(&self, key: &(u64, Address)) -> bool {
        self.pooled.contains_key(key)
    }

    /// The pooled responses in block order.
    pub fn pooled(&self) -> impl Iterator<Item = &Pooled> {
        self.pooled.values()
    }

    /// How many are pooled and parked.
    pub fn len(&self) -> (usize, usize) {
        (self.pooled.len(), self.parked.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::testkit::genesis_chain;

    #[test]
    fn valid_responses_are_pooled_once_proposed_sorted_and_dropped_when_included() {
        let mut chain = genesis_chain(4);
        chain.extend(vec![]);
        let c = chain.extend(vec![]).unwrap();
        let mut pool = Pool::default();
        // Offered in reverse address order; the block lists them sorted.
        for k in chain.keys.iter().rev() {
            let r = chain.respond(&c, k);
            assert_eq!(pool.offer(&chain.manager, r, false, true), Offer::Pooled);
        }
        let again = chain.respond(&c, &chain.keys[1]);
        assert_eq!(
            pool.offer(&chain.manager, again, false, true),
            Offer::Refused(RejectReason::Duplicate)
        );
        let block = pool.for_block(&chain.manager);
        assert_eq!(block.len(), 4);
        assert!(block.windows(2).all(|w| w[0].key() < w[1].key()));
        // Two of them land in a block; the other two stay pooled.
        chain.extend(block[..2].to_vec());
        assert!(pool.after_commit(&chain.manager, &block[..2]).is_empty());
        assert_eq!(pool.len(), (2, 0));
        assert_eq!(pool.for_block(&chain.manager), block[2..].to_vec());
    }

    #[test]
    fn a_forged_signature_is_bad_signature_even_with_a_genuine_one_pooled() {
        let mut chain = genesis_chain(4);
        chain.extend(vec![]);
        let c = chain.extend(vec![]).unwrap();
        let mut pool = Pool::default();
        let genuine = chain.respond(&c, &chain.keys[2]);
        pool.offer(&chain.manager, genuine.clone(), false, true);
        let mut forged = genuine;
        forged.signature = clp::Signature([3; 64]);
        assert_eq!(
            pool.judge(&chain.manager, &forged),
            Err(RejectReason::BadSignature)
        );
    }

    #[test]
    fn responses_expire_with_their_window() {
        let mut chain = genesis_chain(4);
        chain.extend(vec![]);
        let c = chain.extend(vec![]).unwrap();
        let mut pool = Pool::default();
        pool.offer(
            &chain.manager,
            chain.respond(&c, &chain.keys[0]),
            true,
            true,
        );
        // W = 4: the last block that may include it is 2 + 4 = 6 (head 5).
        for _ in 0..3 {
            chain.extend(vec![]);
            pool.after_commit(&chain.manager, &[]);
        }
        assert_eq!(pool.len(), (1, 0));
        chain.extend(vec![]);
        pool.after_commit(&chain.manager, &[]);
        assert_eq!(pool.len(), (0, 0));
    }

    #[test]
    fn a_response_to_a_challenge_above_the_head_is_parked_then_pooled() {
        let mut ahead = genesis_chain(4);
        ahead.extend(vec![]);
        let c = ahead.extend(vec![]).unwrap();
        let early = ahead.respond(&c, &ahead.keys[3]);

        let mut behind = genesis_chain(4);
        let mut pool = Pool::default();
        assert_eq!(
            pool.offer(&behind.manager, early.clone(), false, false),
            Offer::Refused(RejectReason::UnknownChallenge)
        );
        assert_eq!(
            pool.offer(&behind.manager, early.clone(), false, true),
            Offer::Parked
        );
        behind.extend(vec![]);
        assert!(pool.after_commit(&behind.manager, &[]).is_empty());
        assert_eq!(pool.len(), (0, 1));
        behind.extend(vec![]);
        assert_eq!(pool.after_commit(&behind.manager, &[]), vec![early]);
        assert_eq!(pool.len(), (1, 0));
    }

    #[test]
    fn a_response_for_a_non_challenge_height_is_never_parked() {
        let chain = genesis_chain(4);
        let mut pool = Pool::default();
        let r = ClpResponse {
            challenge_height: 3,
            validator: chain.keys[0].address,
            signature: clp::Signature([0; 64]),
        };
        // 3 is above the head but never a challenge height (K = 2).
        assert_eq!(
            pool.offer(&chain.manager, r, false, true),
            Offer::Refused(RejectReason::UnknownChallenge)
        );
        assert_eq!(pool.len(), (0, 0));
    }
}
