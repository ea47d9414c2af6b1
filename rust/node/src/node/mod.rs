//! The node loop (docs/protocol.md §9, §16): Tendermint over the epoch's committee, block
//! building and validation, commits into the store, the CLP manager and the view,
//! challenge answers, the response pool, gossip that survives lossy links, and block sync.
//!
//! - [`chain`]: the head, block validity (§16.8) and a height's validator set (§16.6).
//! - [`pool`]: pending responses, proposed sorted by `(h, validator)`.
//! - [`gossip`], [`sync`], [`timers`]: pure schedules and decisions.
//! - [`driver`]: the node's state and handlers; returns what to send.
//! - [`run`]: the shell around it (network, select loop).

pub mod chain;
pub mod driver;
pub mod gossip;
pub mod pool;
pub mod run;
#[cfg(test)]
mod sim;
pub mod sync;
#[cfg(test)]
mod testkit;
pub mod timers;

pub use run::run;
