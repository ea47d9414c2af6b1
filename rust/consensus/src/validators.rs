//! The stake-weighted validator set of a height (§3) and its integer quorum arithmetic.
//!
//! Voting power is the stake in the epoch's committee snapshot. A committee member with
//! stake 0 stays in the CLP committee but is not in the validator set (§16.6): it neither
//! votes nor proposes, and a certificate vote of it is a non-member's.

use ed25519_dalek::VerifyingKey;

use crate::Address;

/// One committee member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validator {
    /// Its address (must be the address of `public_key`; the caller derives it).
    pub address: Address,
    /// Its Ed25519 key, which votes and proposals are verified under.
    pub public_key: VerifyingKey,
    /// Its stake in the committee snapshot: its voting power.
    pub stake: u64,
}

/// A validator set that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidatorSetError {
    /// The same address twice.
    #[error("validator {0} appears twice")]
    Duplicate(Address),
    /// Nobody has voting power: no quorum is possible.
    #[error("no validator has voting power")]
    NoPower,
}

/// The committee of one height, in address order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatorSet {
    members: Vec<Validator>,
    total_power: u128,
}

impl ValidatorSet {
    /// Builds the set from the committee (any order; members with stake 0 left out).
    pub fn new(mut members: Vec<Validator>) -> Result<ValidatorSet, ValidatorSetError> {
        members.sort_by_key(|v| v.address);
        members.retain(|v| v.stake > 0);
        if let Some(pair) = members.windows(2).find(|p| p[0].address == p[1].address) {
            return Err(ValidatorSetError::Duplicate(pair[0].address));
        }
        let total_power = members.iter().map(|v| u128::from(v.stake)).sum();
        if total_power == 0 {
            return Err(ValidatorSetError::NoPower);
        }
        Ok(ValidatorSet {
            members,
            total_power,
        })
    }

    /// The validators (stake > 0) in address order.
    pub fn members(&self) -> &[Validator] {
        &self.members
    }

    /// The member with this address.
    pub fn get(&self, address: &Address) -> Option<&Validator> {
        self.members
            .binary_search_by(|v| v.address.cmp(address))
            .ok()
            .map(|i| &self.members[i])
    }

    /// The voting power of `address` (0 for a non-member).
    pub fn power(&self, address: &Address) -> u64 {
        self.get(address).map_or(0, |v| v.stake)
    }

    /// The sum of all stakes.
    pub fn total_power(&self) -> u128 {
        self.total_power
    }

    /// `power` is MORE than 2/3 of the total (`3 * power > 2 * total`, the same as §16.6's
    /// `power >= total * 2 // 3 + 1`): Algorithm 1's 2f+1.
    pub fn is_quorum(&self, power: u128) -> bool {
        3 * power > 2 * self.total_power
    }

    /// `power` is MORE than 1/3 of the total (`3 * power > total`): Algorithm 1's f+1, at
    /// least one honest validator among them.
    pub fn is_one_third(&self, power: u128) -> bool {
        3 * power > self.total_power
    }

    /// The proposer of `(height, round)` (§16.6): `members[(height + round) mod len]` in
    /// address order. Rotating through every validator keeps one from censoring
    /// responses for W blocks (§9).
    pub fn proposer(&self, height: u64, round: u64) -> &Validator {
        &self.members[proposer_index(height, round, self.members.len())]
    }
}

/// Where the proposer of `(height, round)` stands among `count` members in address order
/// (§16.6), for a caller that has the addresses but not a [`ValidatorSet`]. `count > 0`.
pub fn proposer_index(height: u64, round: u64, count: usize) -> usize {
    ((u128::from(height) + u128::from(round)) % count as u128) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::Net;

    #[test]
    fn quorum_is_strictly_more_than_two_thirds_in_integers() {
        let set = Net::new(&[1, 1, 1]).set; // total 3
        assert!(!set.is_quorum(2));
        assert!(set.is_quorum(3));
        let set = Net::new(&[100, 100, 100, 1]).set; // total 301: 2/3 = 200.67
        assert!(!set.is_quorum(200));
        assert!(set.is_quorum(201));
        // The §16.6 formula agrees on every power.
        for total_stakes in [&[1u64, 1, 1, 1][..], &[5, 7, 11, 13, 17], &[3, 3, 3]] {
            let set = Net::new(total_stakes).set;
            let total = set.total_power();
            for power in 0..=total {
                // §16.6: `power >= total * 2 // 3 + 1`.
                let threshold = total * 2 / 3 + 1;
                assert_eq!(set.is_quorum(power), power >= threshold);
            }
        }
    }

    #[test]
    fn one_third_is_strictly_more_than_a_third() {
        let set = Net::new(&[1, 1, 1]).set;
        assert!(!set.is_one_third(1));
        assert!(set.is_one_third(2));
        let set = Net::new(&[1, 1, 1, 1]).set;
        assert!(set.is_one_third(2));
        assert!(!set.is_one_third(1));
    }

    #[test]
    fn proposer_rotates_by_height_plus_round_in_address_order() {
        let net = Net::new(&[10, 20, 30, 40]);
        for h in 0..6u64 {
            for r in 0..6u64 {
                let expected = net.addrs[((h + r) % 4) as usize];
                assert_eq!(net.set.proposer(h, r).address, expected);
            }
        }
        assert!(net.addrs.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn zero_stake_members_are_left_out() {
        let net = Net::new(&[10, 0, 30, 40]);
        assert_eq!(net.set.members().len(), 3);
        assert_eq!(net.set.total_power(), 80);
        assert!(net.set.get(&net.addrs[1]).is_none());
        assert_eq!(net.set.power(&net.addrs[1]), 0);
        let proposers: Vec<_> = (0..3).map(|h| net.set.proposer(h, 0).address).collect();
        assert!(!proposers.contains(&net.addrs[1]));
        assert_eq!(proposers.len(), 3);
    }

    #[test]
    fn duplicates_and_powerless_sets_are_refused() {
        let net = Net::new(&[1, 1]);
        let mut members = net.set.members().to_vec();
        members.push(members[0].clone());
        assert_eq!(
            ValidatorSet::new(members),
            Err(ValidatorSetError::Duplicate(net.addrs[0]))
        );
        let mut members = net.set.members().to_vec();
        for m in &mut members {
            m.stake = 0;
        }
        assert_eq!(ValidatorSet::new(members), Err(ValidatorSetError::NoPower));
    }
}
