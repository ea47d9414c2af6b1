//! `clp-node-rs`: a CLP validator node written from docs/protocol.md (docs/rust-node.md).
//!
//! The shell services live here: files and config ([`config`], [`files`]), the durable
//! store ([`store`]), what the API reads ([`view`]), the REST API ([`api`]), metrics,
//! logs and the command line. The consensus, gossip and sync loop drives them.

pub mod api;
pub mod cli;
pub mod config;
pub mod error;
pub mod fields;
pub mod files;
pub mod ledger;
pub mod logs;
pub mod metrics;
pub mod node;
pub mod openapi;
pub mod shell;
pub mod store;
pub mod view;
