//! Keys, validator sets and blocks for the unit tests.

use ed25519_dalek::SigningKey;

use crate::{Address, Block, BlockHash, Validator, ValidatorSet};

pub(crate) const CHAIN: &str = "clp-testnet";

/// The address of a key (§5).
pub(crate) fn address_of(key: &SigningKey) -> Address {
    Address::from_public_key(&clp::PublicKey(key.verifying_key().to_bytes()))
}

/// Validators with seeds `[i + 1; 32]` and the given stakes, indexed in address order.
pub(crate) struct Net {
    pub keys: Vec<SigningKey>,
    pub addrs: Vec<Address>,
    pub set: ValidatorSet,
}

impl Net {
    pub(crate) fn new(stakes: &[u64]) -> Net {
        let mut keyed: Vec<(Address, SigningKey)> = (0..stakes.len())
            .map(|i| {
                let key = SigningKey::from_bytes(&[i as u8 + 1; 32]);
                (address_of(&key), key)
            })
            .collect();
        keyed.sort_by_key(|(a, _)| *a);
        let members = keyed
            .iter()
            .zip(stakes)
            .map(|((address, key), stake)| Validator {
                address: *address,
                public_key: key.verifying_key(),
                stake: *stake,
            })
            .collect();
        Net {
            addrs: keyed.iter().map(|(a, _)| *a).collect(),
            keys: keyed.into_iter().map(|(_, k)| k).collect(),
            set: ValidatorSet::new(members).expect("a usable set"),
        }
    }

    /// The index (address order) of a validator.
    pub(crate) fn index(&self, address: &Address) -> usize {
        self.addrs.iter().position(|a| a == address).expect("known")
    }
}

/// A block at `height` told apart from others by `tag` (its time).
pub(crate) fn block(height: u64, tag: u64, proposer: Address) -> Block {
    Block::new(
        CHAIN,
        height,
        1_000 + tag,
        BlockHash::from([7; 32]),
        proposer,
        vec![],
    )
    .expect("hashable")
}
