//! The files a node starts from (docs/protocol.md §12): genesis (§12.1), the key file
//! (§12.2), and — with the config (§12.3, [`crate::config`]) — the checks that span them:
//! the key is a validator of genesis and not a peer's, the data directory is usable and
//! its store belongs to this chain, the listen addresses can be bound.
//!
//! Every refusal is a [`FileError`] naming the file and the field.

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::path::{Path, PathBuf};

use clp::{blake2b_256, Address, ClpConfig, GenesisValidator, Hash32, PublicKey};
use clp_consensus::{Block, CommitCertificate, TimeoutConfig};
use ed25519_dalek::SigningKey;
use serde::Serialize;
use serde_json::Value;

use crate::config::{HostPort, NodeConfig};
use crate::error::FileError;
use crate::fields::{hex_bytes, Obj, Res};
use crate::store::{self, Store, StoreError};

/// The domain tag of the genesis hash (the parent hash of block 1, §9.1).
pub const GENESIS_HASH_TAG: &[u8] = b"clp.genesis.v1";
/// The longest chain id (§12.1).
pub const MAX_CHAIN_ID_CHARS: usize = 64;

/// Reads a JSON file: it must exist, be UTF-8 and parse.
fn read_json(path: &Path) -> Res<Value> {
    let bytes =
        std::fs::read(path).map_err(|e| FileError::new(path, "", format!("cannot read: {e}")))?;
    let text = String::from_utf8(bytes)
        .map_err(|e| FileError::new(path, "", format!("not UTF-8 text: {e}")))?;
    serde_json::from_str(&text).map_err(|e| FileError::new(path, "", format!("not JSON: {e}")))
}

/// The `consensus` section of genesis: the target block interval and round timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ConsensusTiming {
    pub block_interval_ms: u64,
    pub timeout_propose_ms: u64,
    pub timeout_prevote_ms: u64,
    pub timeout_precommit_ms: u64,
    pub timeout_delta_ms: u64,
}

impl ConsensusTiming {
    /// The section's key names, in the documented order.
    pub const FIELDS: [&'static str; 5] = [
        "block_interval_ms",
        "timeout_propose_ms",
        "timeout_prevote_ms",
        "timeout_precommit_ms",
        "timeout_delta_ms",
    ];

    /// The round timeouts as the consensus core takes them.
    pub fn timeouts(&self) -> TimeoutConfig {
        TimeoutConfig {
            propose_ms: self.timeout_propose_ms,
            prevote_ms: self.timeout_prevote_ms,
            precommit_ms: self.timeout_precommit_ms,
            delta_ms: self.timeout_delta_ms,
        }
    }
}

/// `genesis.json`, checked (§12.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Genesis {
    pub chain_id: String,
    pub clp: ClpConfig,
    pub consensus: ConsensusTiming,
    /// The committee of epoch 0, sorted by address.
    pub validators: Vec<GenesisValidator>,
}

impl Genesis {
    pub fn load(path: &Path) -> Res<Self> {
        Self::from_value(path, &read_json(path)?)
    }

    /// Checks a parsed genesis document; `path` names it in errors.
    pub fn from_value(path: &Path, doc: &Value) -> Res<Self> {
        let root = Obj::root(path, doc)?;
        root.only(&["chain_id", "clp", "consensus", "validators"])?;

        let chain_id = root.str("chain_id")?;
        let printable = chain_id.bytes().all(|b| (0x20..=0x7e).contains(&b));
        if chain_id.is_empty() || chain_id.len() > MAX_CHAIN_ID_CHARS || !printable {
            return Err(root.err(
                "chain_id",
                format!("{chain_id:?} is not 1-{MAX_CHAIN_ID_CHARS} printable ASCII characters"),
            ));
        }

        let clp_doc = root.req("clp")?;
        let clp: ClpConfig = serde_json::from_value(clp_doc.clone()).map_err(|e| {
            // The clp crate names the field: "clp.FIELD: reason".
            let text = e.to_string();
            match text.split_once(": ") {
                Some((field, reason)) if field.starts_with("clp") => {
                    FileError::new(path, field, reason)
                }
                _ => root.err("clp", text),
            }
        })?;

        let c = root.obj("consensus")?;
        c.only(&ConsensusTiming::FIELDS)?;
        let positive = |key: &str| -> Res<u64> {
            match c.uint(key)? {
                0 => Err(c.err(key, "must be >= 1, got 0")),
                n => Ok(n),
            }
        };
        let consensus = ConsensusTiming {
            block_interval_ms: positive("block_interval_ms")?,
            timeout_propose_ms: positive("timeout_propose_ms")?,
            timeout_prevote_ms: positive("timeout_prevote_ms")?,
            timeout_precommit_ms: positive("timeout_precommit_ms")?,
            timeout_delta_ms: positive("timeout_delta_ms")?,
        };

        let items = root.objs("validators")?;
        if items.is_empty() {
            return Err(root.err("validators", "empty: genesis needs a committee"));
        }
        let mut validators: Vec<GenesisValidator> = Vec::with_capacity(items.len());
        let mut total: u64 = 0;
        for (i, v) in items.iter().enumerate() {
            v.only(&["name", "address", "public_key", "stake"])?;
            let name = v.text("name")?.to_owned();
            let address = Address(
                hex_bytes::<20>(v.str("address")?)
                    .ok_or_else(|| v.err("address", "not 40 lowercase hex characters"))?,
            );
            let public_key = PublicKey(
                hex_bytes::<32>(v.str("public_key")?)
                    .ok_or_else(|| v.err("public_key", "not 64 lowercase hex characters"))?,
            );
            if Address::from_public_key(&public_key) != address {
                return Err(v.err("address", "is not the address of its public_key"));
            }
            let stake = v.uint("stake")?;
            if stake == 0 {
                return Err(v.err("stake", "must be a positive integer, got 0"));
            }
            total = total
                .checked_add(stake)
                .ok_or_else(|| v.err("stake", "the total stake overflows 64 bits"))?;
            if let Some(prev) = validators.last() {
                if prev.address == address {
                    return Err(v.err(
                        "address",
                        format!("the address of validators[{}] too", i - 1),
                    ));
                }
                if prev.address > address {
                    return Err(v.err(
                        "address",
                        format!("not sorted: below validators[{}]'s address", i - 1),
                    ));
                }
            }
            validators.push(GenesisValidator {
                name,
                address,
                public_key,
                stake,
            });
        }
        let genesis = Self {
            chain_id: chain_id.to_owned(),
            clp,
            consensus,
            validators,
        };
        // The CLP core's own checks (none should remain after the ones above).
        genesis
            .clp_manager()
            .map_err(|e| FileError::new(path, "", e.to_string()))?;
        Ok(genesis)
    }

    /// A fresh CLP state machine at height 0 for this chain.
    pub fn clp_manager(&self) -> Result<clp::ClpManager, clp::GenesisError> {
        clp::ClpManager::new(&self.chain_id, self.clp, self.validators.clone())
    }

    /// The genesis hash, the parent hash of block 1, as docs/protocol.md §16.8 fixes it for
    /// every implementation: `BLAKE2b-256("clp.genesis.v1" || C)`, C the canonical JSON of
    /// the checked genesis (keys sorted at every level, compact, non-ASCII escaped), so
    /// nodes of both implementations agree on block 1's parent whatever the file looks like.
    pub fn hash(&self) -> Hash32 {
        let mut preimage = GENESIS_HASH_TAG.to_vec();
        preimage.extend(self.canonical_json().into_bytes());
        Hash32(blake2b_256(&preimage))
    }

    /// The §16.8 canonical JSON of this genesis.
    pub fn canonical_json(&self) -> String {
        use serde_json::{json, Value};
        let c = &self.clp;
        let t = &self.consensus;
        // Every object's keys are written in sorted order, whichever map serde_json uses.
        let validators: Vec<Value> = self
            .validators
            .iter()
            .map(|v| {
                json!({
                    "address": v.address.to_string(),
                    "name": v.name,
                    "public_key": v.public_key.to_string(),
                    "stake": v.stake,
                })
            })
            .collect();
        let doc = json!({
            "chain_id": self.chain_id,
            "clp": {
                "challenge_interval": c.challenge_interval,
                "epoch_length": c.epoch_length,
                "max_consecutive_failures": c.max_consecutive_failures,
                "min_committee_size": c.min_committee_size,
                "min_response_rate_bps": c.min_response_rate_bps,
                "min_stake": c.min_stake,
                "response_window": c.response_window,
                "slash_fraction_bps": c.slash_fraction_bps,
                "systemic_fault_bps": c.systemic_fault_bps,
            },
            "consensus": {
                "block_interval_ms": t.block_interval_ms,
                "timeout_delta_ms": t.timeout_delta_ms,
                "timeout_precommit_ms": t.timeout_precommit_ms,
                "timeout_prevote_ms": t.timeout_prevote_ms,
                "timeout_propose_ms": t.timeout_propose_ms,
            },
            "validators": validators,
        });
        ascii_escaped(&sorted(doc).to_string())
    }

    pub fn validator(&self, address: &Address) -> Option<&GenesisValidator> {
        self.validators.iter().find(|v| &v.address == address)
    }

    /// The genesis name of `address`, if it is a validator.
    pub fn name_of(&self, address: &Address) -> Option<&str> {
        self.validator(address).map(|v| v.name.as_str())
    }
}

/// A validator's key file (§12.2), checked: the public key and address derive from the seed.
#[derive(Clone)]
pub struct KeyFile {
    pub address: Address,
    pub public_key: PublicKey,
    pub signing_key: SigningKey,
}

impl std::fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the seed.
        write!(f, "KeyFile({})", self.address)
    }
}

impl KeyFile {
    pub fn load(path: &Path) -> Res<Self> {
        let doc = read_json(path)?;
        let root = Obj::root(path, &doc)?;
        root.only(&["address", "public_key", "private_key"])?;
        let seed = hex_bytes::<32>(root.str("private_key")?)
            .ok_or_else(|| root.err("private_key", "not 64 lowercase hex characters"))?;
        let key = Self::from_seed(seed);
        let public_key = hex_bytes::<32>(root.str("public_key")?)
            .ok_or_else(|| root.err("public_key", "not 64 lowercase hex characters"))?;
        if public_key != key.public_key.0 {
            return Err(root.err("public_key", "is not the public key of private_key"));
        }
        let address = hex_bytes::<20>(root.str("address")?)
            .ok_or_else(|| root.err("address", "not 40 lowercase hex characters"))?;
        if address != key.address.0 {
            return Err(root.err("address", "is not the address of public_key"));
        }
        Ok(key)
    }

    /// The key of a 32-byte Ed25519 seed.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let signing_key = SigningKey::from_bytes(&seed);
        let public_key = PublicKey(signing_key.verifying_key().to_bytes());
        Self {
            address: Address::from_public_key(&public_key),
            public_key,
            signing_key,
        }
    }

    /// A fresh random key.
    pub fn generate() -> Self {
        let mut seed = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
        Self::from_seed(seed)
    }

    /// A reproducible key: the seed is BLAKE2b-256 of `text` (as the harness derives
    /// its testnet keys).
    pub fn from_seed_text(text: &str) -> Self {
        Self::from_seed(blake2b_256(text.as_bytes()))
    }

    /// The key file document of §12.2.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "address": self.address.to_hex(),
            "public_key": self.public_key.to_hex(),
            "private_key": hex::encode(self.signing_key.to_bytes()),
        })
    }

    /// Writes the key file, readable by its owner only (mode 0600), refusing to overwrite.
    pub fn write_new(&self, path: &Path) -> std::io::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        let mut text = serde_json::to_string_pretty(&self.to_json())?;
        text.push('\n');
        f.write_all(text.as_bytes())?;
        f.sync_all()
    }
}

/// The two listen sockets, bound (so "address in use" is a start-up error naming the
/// field, and the node loop takes a socket that is already listening).
#[derive(Debug)]
pub struct Listeners {
    pub p2p: TcpListener,
    pub api: TcpListener,
}

/// Resolves and binds `listen.FIELD`.
pub fn bind(config: &NodeConfig, field: &str, hp: &HostPort) -> Res<TcpListener> {
    let field = format!("listen.{field}");
    let addrs: Vec<SocketAddr> = hp
        .to_addr_string()
        .to_socket_addrs()
        .map_err(|e| config.err(&field, format!("cannot resolve {hp}: {e}")))?
        .collect();
    let mut last = None;
    for addr in &addrs {
        match TcpListener::bind(addr) {
            Ok(l) => return Ok(l),
            Err(e) => last = Some((addr, e)),
        }
    }
    Err(match last {
        None => config.err(&field, format!("cannot resolve {hp}: no address")),
        Some((addr, e)) if e.kind() == std::io::ErrorKind::AddrInUse => {
            config.err(&field, format!("{addr} is in use"))
        }
        Some((addr, e)) => config.err(&field, format!("cannot listen on {addr}: {e}")),
    })
}

/// Everything a node starts from, loaded and cross-checked.
#[derive(Debug)]
pub struct NodeFiles {
    pub config: NodeConfig,
    pub genesis: Genesis,
    pub key: KeyFile,
}

impl NodeFiles {
    /// Loads the config, genesis and key file and checks them against each other.
    pub fn load(config_path: &Path) -> Res<Self> {
        let config = NodeConfig::load(config_path)?;
        let genesis = Genesis::load(&config.genesis_file)?;
        let key = KeyFile::load(&config.key_file)?;
        let files = Self {
            config,
            genesis,
            key,
        };
        files.cross_check()?;
        Ok(files)
    }

    fn cross_check(&self) -> Res<()> {
        let (c, g, k) = (&self.config, &self.genesis, &self.key);
        if let Some((i, p)) = c
            .peers
            .iter()
            .enumerate()
            .find(|(_, p)| p.address == k.address)
        {
            return Err(FileError::new(
                &c.key_file,
                "address",
                format!(
                    "{} is the address of peers[{i}] ({}) in {}: each node needs its own key",
                    k.address,
                    p.name,
                    c.path.display()
                ),
            ));
        }
        if g.validator(&k.address).is_none() {
            return Err(FileError::new(
                &c.key_file,
                "address",
                format!(
                    "{} is not a validator of genesis {}",
                    k.address,
                    c.genesis_file.display()
                ),
            ));
        }
        for (i, p) in c.peers.iter().enumerate() {
            if g.validator(&p.address).is_none() {
                return Err(c.err(
                    &format!("peers[{i}].address"),
                    format!("{} is not a validator of genesis", p.address),
                ));
            }
        }
        Ok(())
    }

    /// Creates the data directory when missing.
    pub fn prepare_data_dir(&self) -> Res<PathBuf> {
        let dir = &self.config.data_dir;
        if dir.exists() && !dir.is_dir() {
            return Err(self.config.err(
                "node.data_dir",
                format!("{} is not a directory", dir.display()),
            ));
        }
        std::fs::create_dir_all(dir).map_err(|e| {
            self.config.err(
                "node.data_dir",
                format!("cannot create {}: {e}", dir.display()),
            )
        })?;
        Ok(dir.clone())
    }

    /// Opens the store in the data directory, checks it belongs to this chain and that
    /// every stored block decodes, hashes right and links to its parent. Returns it with
    /// its head height.
    pub fn open_store(&self) -> Res<(Store, u64)> {
        let dir = self.prepare_data_dir()?;
        let path = Store::path_in(&dir);
        let refuse = |e: StoreError| FileError::new(&path, "", e.to_string());
        let store = Store::open(&path).map_err(refuse)?;
        store
            .bind_chain(&self.genesis.chain_id, &self.genesis.hash().to_hex())
            .map_err(refuse)?;
        let chain_id = self.genesis.chain_id.clone();
        let mut parent = self.genesis.hash();
        let head = store
            .check_blocks(|row| {
                let (block, cert): (Block, CommitCertificate) =
                    store::decode(row).map_err(|e| e.to_string())?;
                check_stored_block(&chain_id, row, &block, &cert, &parent)?;
                parent = block.hash;
                Ok(())
            })
            .map_err(refuse)?;
        Ok((store, head))
    }

    /// Binds both listen addresses.
    pub fn bind_listeners(&self) -> Res<Listeners> {
        let c = &self.config;
        Ok(Listeners {
            p2p: bind(c, "p2p", &c.listen_p2p)?,
            api: bind(c, "api", &c.listen_api)?,
        })
    }
}

/// A stored block is the block of its row: its height and hash, its chain, its parent,
/// and a certificate for it. (Signatures were checked before it was stored.)
fn check_stored_block(
    chain_id: &str,
    row: &store::BlockRow,
    block: &Block,
    cert: &CommitCertificate,
    parent: &Hash32,
) -> Result<(), String> {
    if block.height != row.height {
        return Err(format!("holds a block of height {}", block.height));
    }
    block.check_stateless(chain_id).map_err(|e| e.to_string())?;
    if block.hash.to_hex() != row.hash {
        return Err(format!(
            "row hash {} is not the block's {}",
            row.hash, block.hash
        ));
    }
    if block.parent_hash.0 != parent.0 {
        return Err("does not link to the block below it".into());
    }
    if cert.height != block.height || cert.block_hash != block.hash {
        return Err("its certificate is for another block".into());
    }
    Ok(())
}

/// `value` with every object's keys in sorted order (serde_json may keep insertion order).
fn sorted(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// JSON text with every non-ASCII character written as `\uXXXX` (UTF-16, surrogate pairs
/// above U+FFFF): outside strings valid JSON is ASCII already, so this only touches strings.
fn ascii_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        if ch.is_ascii() {
            out.push(ch);
        } else {
            let mut units = [0u16; 2];
            for unit in ch.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        let mut keys: Vec<KeyFile> = (0..4)
            .map(|i| KeyFile::from_seed_text(&format!("files-test/{i}")))
            .collect();
        keys.sort_by_key(|k| k.address);
        let validators: Vec<Value> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                json!({"name": format!("v{i}"), "address": k.address,
                       "public_key": k.public_key, "stake": 100000})
            })
            .collect();
        json!({"chain_id": "clp-testnet",
               "clp": {"epoch_length": 20, "challenge_interval": 2, "response_window": 4,
                       "min_response_rate_bps": 5000, "slash_fraction_bps": 1000,
                       "max_consecutive_failures": 12, "min_stake": 1000,
                       "min_committee_size": 4, "systemic_fault_bps": 3334},
               "consensus": {"block_interval_ms": 200, "timeout_propose_ms": 600,
                             "timeout_prevote_ms": 300, "timeout_precommit_ms": 300,
                             "timeout_delta_ms": 200},
               "validators": validators})
    }

    fn load(doc: &Value) -> Res<Genesis> {
        Genesis::from_value(Path::new("genesis.json"), doc)
    }

    #[test]
    fn the_genesis_hash_depends_on_the_content_not_the_formatting() {
        let d = doc();
        let g = load(&d).unwrap();
        let reparsed: Value =
            serde_json::from_str(&serde_json::to_string_pretty(&d).unwrap()).unwrap();
        assert_eq!(load(&reparsed).unwrap().hash(), g.hash());
        let mut other = d.clone();
        other["validators"][0]["stake"] = json!(100001);
        assert_ne!(load(&other).unwrap().hash(), g.hash());
        let mut other = d;
        other["chain_id"] = json!("another");
        assert_ne!(load(&other).unwrap().hash(), g.hash());
    }

    #[test]
    fn genesis_refusals_name_the_field() {
        let cases: Vec<(&str, Value, &str)> = vec![
            ("/chain_id", json!("x".repeat(65)), "chain_id:"),
            ("/chain_id", json!("tab\there"), "chain_id:"),
            ("/clp/response_window", json!(1), "clp.response_window:"),
            (
                "/clp/slash_fraction_bps",
                json!(10001),
                "clp.slash_fraction_bps:",
            ),
            (
                "/consensus/block_interval_ms",
                json!(0),
                "consensus.block_interval_ms:",
            ),
            (
                "/consensus/block_interval_ms",
                json!(1.5),
                "consensus.block_interval_ms:",
            ),
            (
                "/validators/1/address",
                json!("ab".repeat(20)),
                "validators[1].address:",
            ),
            (
                "/validators/2/public_key",
                json!("zz"),
                "validators[2].public_key:",
            ),
            ("/validators/3/name", json!(""), "validators[3].name:"),
            ("/validators", json!([]), "validators:"),
        ];
        for (pointer, value, want) in cases {
            let mut d = doc();
            *d.pointer_mut(pointer).unwrap() = value;
            let got = load(&d).unwrap_err().to_string();
            assert!(
                got.starts_with(&format!("genesis.json: {want}")),
                "{pointer}: {got}"
            );
        }
        let mut d = doc();
        d["extra"] = json!(1);
        assert_eq!(load(&d).unwrap_err().field, "extra");
    }

    /// The worked example of docs/protocol.md §16.9: the reference node's genesis hash.
    #[test]
    fn the_genesis_hash_is_the_contracts_worked_example() {
        let text = r#"{"chain_id":"clp-testnet","clp":{"epoch_length":360,"challenge_interval":10,"response_window":5,"min_response_rate_bps":5000,"slash_fraction_bps":100,"max_consecutive_failures":36,"min_stake":1000,"min_committee_size":4,"systemic_fault_bps":3334},"consensus":{"block_interval_ms":1000,"timeout_propose_ms":3000,"timeout_prevote_ms":1000,"timeout_precommit_ms":1000,"timeout_delta_ms":500},"validators":[{"name":"v0","address":"8d2d1c260127c74476b27136c5e38c003b66b889","public_key":"ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c","stake":100000}]}"#;
        let dir = std::env::temp_dir().join(format!("clp-genesis-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("genesis.json");
        std::fs::write(&path, text).unwrap();
        let genesis = Genesis::load(&path).unwrap();
        assert_eq!(
            genesis.hash().to_string(),
            "a8828cd69a106668e306dc697f42c69063668962c4e1f9923f409ed4579a39df"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn non_ascii_is_escaped_as_utf16() {
        assert_eq!(
            ascii_escaped("{\"n\":\"é𝄞\"}"),
            "{\"n\":\"\\u00e9\\ud834\\udd1e\"}"
        );
    }
}
