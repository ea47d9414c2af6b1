//! Test fixtures: a testnet directory as `clp-testnet init` writes it (docs/protocol.md §12)
//! and a chain of signed blocks with certificates.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use clp::{ClpManager, ClpResponse};
use clp_consensus::{Block, CommitCertificate, Vote, VoteType};
use clp_node_rs::files::{Genesis, KeyFile};
use clp_node_rs::store::Store;
use serde_json::json;

pub const CHAIN_ID: &str = "clp-testnet";
pub const TOKEN: &str = "0123456789abcdef0123456789abcdef";

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p =
            std::env::temp_dir().join(format!("clp-node-rs-it-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A free local TCP port (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A testnet of `n` validators: `genesis.json`, `vN/key.json`, `vN/node.toml`.
pub struct Net {
    pub dir: TempDir,
    /// Keys in name order: `keys[i]` is `vi`.
    pub keys: Vec<KeyFile>,
    pub api_ports: Vec<u16>,
}

impl Net {
    pub fn new(tag: &str, n: usize, hooks: bool) -> Self {
        let dir = TempDir::new(tag);
        let keys: Vec<KeyFile> = (0..n)
            .map(|i| KeyFile::from_seed_text(&format!("{tag}/v{i}")))
            .collect();
        let mut validators: Vec<_> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| json!({"name": format!("v{i}"), "address": k.address, "public_key": k.public_key, "stake": 100000}))
            .collect();
        validators.sort_by_key(|v| v["address"].as_str().unwrap().to_owned());
        let genesis = json!({
            "chain_id": CHAIN_ID,
            "clp": {"epoch_length": 20, "challenge_interval": 2, "response_window": 4,
                    "min_response_rate_bps": 5000, "slash_fraction_bps": 1000,
                    "max_consecutive_failures": 12, "min_stake": 1000, "min_committee_size": 4,
                    "systemic_fault_bps": 3334},
            "consensus": {"block_interval_ms": 200, "timeout_propose_ms": 600,
                          "timeout_prevote_ms": 300, "timeout_precommit_ms": 300,
                          "timeout_delta_ms": 200},
            "validators": validators,
        });
        std::fs::write(
            dir.0.join("genesis.json"),
            serde_json::to_string_pretty(&genesis).unwrap(),
        )
        .unwrap();
        let api_ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        for (i, k) in keys.iter().enumerate() {
            let node = dir.0.join(format!("v{i}"));
            std::fs::create_dir_all(&node).unwrap();
            std::fs::write(
                node.join("key.json"),
                serde_json::to_string_pretty(&k.to_json()).unwrap(),
            )
            .unwrap();
            let mut toml = format!(
                "[node]\nname = \"v{i}\"\nkey_file = \"key.json\"\ngenesis_file = \"../genesis.json\"\ndata_dir = \"data\"\n\n\
                 [listen]\np2p = \"127.0.0.1:0\"\napi = \"127.0.0.1:{}\"\n\n[log]\nlevel = \"info\"\n",
                api_ports[i]
            );
            if hooks {
                toml += &format!("\n[test_hooks]\nenabled = true\ntoken = \"{TOKEN}\"\n");
            }
            for (j, p) in keys.iter().enumerate().filter(|(j, _)| *j != i) {
                toml += &format!(
                    "\n[[peers]]\nname = \"v{j}\"\naddress = \"{}\"\nendpoint = \"127.0.0.1:{}\"\n",
                    p.address,
                    20000 + j
                );
            }
            std::fs::write(node.join("node.toml"), toml).unwrap();
        }
        Self {
            dir,
            keys,
            api_ports,
        }
    }

    pub fn root(&self) -> &Path {
        &self.dir.0
    }

    pub fn config(&self, i: usize) -> PathBuf {
        self.dir.0.join(format!("v{i}/node.toml"))
    }

    pub fn genesis(&self) -> Genesis {
        Genesis::load(&self.dir.0.join("genesis.json")).unwrap()
    }
}

/// Builds, stores and applies blocks `from..=to` on `manager`: proposer `keys[0]`, every
/// key precommits, and every validator but the last answers each challenge in the next
/// block. Returns each block and what applying it did.
pub fn extend_chain(
    store: &Store,
    manager: &mut ClpManager,
    keys: &[KeyFile],
    parent: clp::Hash32,
    to: u64,
) -> Vec<(Block, clp::BlockOutcome)> {
    let mut parent = parent;
    let mut out = Vec::new();
    for h in manager.height() + 1..=to {
        let mut responses: Vec<ClpResponse> = manager
            .active_challenges()
            .iter()
            .filter(|c| c.height == h - 1)
            .flat_map(|c| {
                keys[..keys.len() - 1]
                    .iter()
                    .map(|k| {
                        ClpResponse::sign(CHAIN_ID, c.height, &c.value, &k.signing_key.to_bytes())
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        responses.sort_by_key(ClpResponse::key);
        let block = Block::new(
            CHAIN_ID,
            h,
            1_764_620_000_000 + h * 200,
            parent,
            keys[0].address,
            responses,
        )
        .unwrap();
        let votes = keys
            .iter()
            .map(|k| {
                Vote::sign(
                    CHAIN_ID,
                    VoteType::Precommit,
                    h,
                    0,
                    Some(block.hash),
                    k.address,
                    &k.signing_key,
                )
            })
            .collect();
        let cert = CommitCertificate {
            height: h,
            round: 0,
            block_hash: block.hash,
            votes,
        };
        store
            .put_block(h, &block.hash.to_hex(), &block, &cert)
            .unwrap();
        let outcome = manager
            .apply_block(h, &block.hash, &block.responses)
            .unwrap();
        parent = block.hash;
        out.push((block, outcome));
    }
    out
}
