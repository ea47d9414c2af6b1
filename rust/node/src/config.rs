//! The node config `vN/node.toml` (docs/protocol.md §12.3, harness/contract/schemas/
//! node-config.schema.json): sections `node`, `listen`, `peers` required; `test_hooks`,
//! `log`, `p2p` optional; unknown sections and keys refused. Relative paths are relative to
//! the config file's directory.

use std::path::{Path, PathBuf};

use clp::Address;

use crate::error::FileError;
use crate::fields::{Obj, Res};

/// Frame size cap when `[p2p] max_frame_bytes` is absent.
pub const DEFAULT_MAX_FRAME_BYTES: u64 = 4 * 1024 * 1024;
/// The smallest `[p2p] max_frame_bytes` the schema allows.
pub const MIN_MAX_FRAME_BYTES: u64 = 1024;
/// The shortest hooks token (docs/hooks.md).
pub const MIN_HOOKS_TOKEN_CHARS: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogLevel {
    Debug,
    #[default]
    Info,
    Warning,
    Error,
}

impl LogLevel {
    pub const NAMES: [&'static str; 4] = ["debug", "info", "warning", "error"];

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "debug" => Some(Self::Debug),
            "info" => Some(Self::Info),
            "warning" => Some(Self::Warning),
            "error" => Some(Self::Error),
            _ => None,
        }
    }
}

/// A `host:port` as written in the config (resolved when the node binds or dials it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

impl HostPort {
    /// `host:port`, IPv6 hosts in brackets; port 0..=65535.
    pub fn parse(text: &str) -> Option<Self> {
        let (host, port) = text.rsplit_once(':')?;
        if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let port: u16 = port.parse().ok()?;
        let host = if let Some(inner) = host.strip_prefix('[') {
            let inner = inner.strip_suffix(']')?;
            let ok = !inner.is_empty()
                && inner
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.');
            ok.then_some(inner)?
        } else {
            let bad = |c: char| c.is_whitespace() || matches!(c, ':' | '[' | ']');
            (!host.is_empty() && !host.contains(bad)).then_some(host)?
        };
        Some(Self {
            host: host.to_owned(),
            port,
        })
    }

    /// The form `ToSocketAddrs` takes.
    pub fn to_addr_string(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl std::fmt::Display for HostPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_addr_string())
    }
}

/// A peer: the endpoint this node DIALS to send to it (§10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerConfig {
    pub name: String,
    pub address: Address,
    pub endpoint: HostPort,
}

/// The parsed, checked `node.toml`. Paths are absolute or relative to the current
/// directory (already joined to the config's directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    /// The config file itself (for messages).
    pub path: PathBuf,
    pub name: String,
    pub key_file: PathBuf,
    pub genesis_file: PathBuf,
    pub data_dir: PathBuf,
    pub listen_p2p: HostPort,
    pub listen_api: HostPort,
    pub peers: Vec<PeerConfig>,
    /// `Some(token)` iff `[test_hooks] enabled = true` (docs/hooks.md).
    pub hooks_token: Option<String>,
    pub log_level: LogLevel,
    pub max_frame_bytes: u64,
}

impl NodeConfig {
    /// Reads and checks the config file.
    pub fn load(path: &Path) -> Result<Self, FileError> {
        let bytes = std::fs::read(path)
            .map_err(|e| FileError::new(path, "", format!("cannot read: {e}")))?;
        let text = String::from_utf8(bytes)
            .map_err(|e| FileError::new(path, "", format!("not UTF-8 text: {e}")))?;
        Self::parse(path, &text)
    }

    /// Checks the config text; `path` names the file and anchors relative paths.
    pub fn parse(path: &Path, text: &str) -> Result<Self, FileError> {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| FileError::new(path, "", format!("not TOML: {e}")))?;
        let doc = serde_json::to_value(&table)
            .map_err(|e| FileError::new(path, "", format!("not TOML: {e}")))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let rel = |p: &str| dir.join(p);

        let root = Obj::root(path, &doc)?;
        root.only(&["node", "listen", "peers", "test_hooks", "log", "p2p"])?;

        let node = root.obj("node")?;
        node.only(&["name", "key_file", "genesis_file", "data_dir"])?;
        let name = node.text("name")?.to_owned();
        let key_file = rel(node.text("key_file")?);
        let genesis_file = rel(node.text("genesis_file")?);
        let data_dir = rel(node.text("data_dir")?);

        let listen = root.obj("listen")?;
        listen.only(&["p2p", "api"])?;
        let listen_p2p = host_port(&listen, "p2p")?;
        let listen_api = host_port(&listen, "api")?;

        let mut peers: Vec<PeerConfig> = Vec::new();
        for p in root.objs("peers")? {
            p.only(&["name", "address", "endpoint"])?;
            let peer = PeerConfig {
                name: p.text("name")?.to_owned(),
                address: p
                    .str("address")?
                    .parse()
                    .map_err(|e| p.err("address", format!("not an address: {e}")))?,
                endpoint: host_port(&p, "endpoint")?,
            };
            if let Some(i) = peers.iter().position(|q| q.address == peer.address) {
                return Err(p.err("address", format!("the address of peers[{i}] too")));
            }
            peers.push(peer);
        }

        let hooks_token = match root.opt_obj("test_hooks")? {
            None => None,
            Some(h) => {
                h.only(&["enabled", "token"])?;
                let enabled = h.opt_bool("enabled")?.unwrap_or(false);
                let token = h.opt_str("token")?;
                if let Some(t) = token {
                    if t.chars().count() < MIN_HOOKS_TOKEN_CHARS {
                        return Err(h.err(
                            "token",
                            format!("shorter than {MIN_HOOKS_TOKEN_CHARS} characters"),
                        ));
                    }
                }
                match (enabled, token) {
                    (false, _) => None,
                    (true, Some(t)) => Some(t.to_owned()),
                    (true, None) => {
                        return Err(h.err("token", "missing: enabled hooks need a token"))
                    }
                }
            }
        };

        let log_level = match root.opt_obj("log")? {
            None => LogLevel::default(),
            Some(l) => {
                l.only(&["level"])?;
                match l.opt_str("level")? {
                    None => LogLevel::default(),
                    Some(s) => LogLevel::parse(s).ok_or_else(|| {
                        l.err(
                            "level",
                            format!("{s:?} is not one of {}", LogLevel::NAMES.join(", ")),
                        )
                    })?,
                }
            }
        };

        let max_frame_bytes = match root.opt_obj("p2p")? {
            None => DEFAULT_MAX_FRAME_BYTES,
            Some(p) => {
                p.only(&["max_frame_bytes"])?;
                match p.opt_uint("max_frame_bytes")? {
                    None => DEFAULT_MAX_FRAME_BYTES,
                    Some(n) if n < MIN_MAX_FRAME_BYTES => {
                        return Err(p.err(
                            "max_frame_bytes",
                            format!("{n} is below the minimum {MIN_MAX_FRAME_BYTES}"),
                        ))
                    }
                    Some(n) => n,
                }
            }
        };

        Ok(Self {
            path: path.to_path_buf(),
            name,
            key_file,
            genesis_file,
            data_dir,
            listen_p2p,
            listen_api,
            peers,
            hooks_token,
            log_level,
            max_frame_bytes,
        })
    }

    /// An error about a field of this config file.
    pub fn err(&self, field: &str, message: impl Into<String>) -> FileError {
        FileError::new(&self.path, field, message)
    }
}

fn host_port(obj: &Obj<'_>, key: &str) -> Res<HostPort> {
    let text = obj.str(key)?;
    HostPort::parse(text)
        .ok_or_else(|| obj.err(key, format!("{text:?} is not host:port (port 0-65535)")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
[node]
name = "v0"
key_file = "key.json"
genesis_file = "../genesis.json"
data_dir = "data"

[listen]
p2p = "127.0.0.1:16934"
api = "[::1]:11418"

[[peers]]
name = "v1"
address = "f61b1dbb8b895cb2557f664ba509f3636e8720dd"
endpoint = "127.0.0.1:23595"
"#;

    fn parse(text: &str) -> Result<NodeConfig, FileError> {
        NodeConfig::parse(Path::new("/net/v0/node.toml"), text)
    }

    fn refused(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn the_documented_example_parses_with_paths_relative_to_the_config() {
        let c = parse(BASE).unwrap();
        assert_eq!(c.name, "v0");
        assert_eq!(c.key_file, Path::new("/net/v0/key.json"));
        assert_eq!(c.genesis_file, Path::new("/net/v0/../genesis.json"));
        assert_eq!(c.listen_api.host, "::1");
        assert_eq!(c.listen_api.to_addr_string(), "[::1]:11418");
        assert_eq!(c.peers.len(), 1);
        assert_eq!(c.peers[0].endpoint.port, 23595);
        assert_eq!(c.hooks_token, None);
        assert_eq!(c.log_level, LogLevel::Info);
        assert_eq!(c.max_frame_bytes, DEFAULT_MAX_FRAME_BYTES);
    }

    #[test]
    fn absolute_paths_stay_absolute() {
        let c = parse(&BASE.replace("\"data\"", "\"/data\"")).unwrap();
        assert_eq!(c.data_dir, Path::new("/data"));
    }

    #[test]
    fn optional_sections() {
        let text = format!(
            "{BASE}\n[test_hooks]\nenabled = true\ntoken = \"{}\"\n[log]\nlevel = \"warning\"\n[p2p]\nmax_frame_bytes = 1024\n",
            "t".repeat(16)
        );
        let c = parse(&text).unwrap();
        assert_eq!(c.hooks_token.as_deref(), Some("tttttttttttttttt"));
        assert_eq!(c.log_level, LogLevel::Warning);
        assert_eq!(c.max_frame_bytes, 1024);
        let off = parse(&format!("{BASE}\n[test_hooks]\nenabled = false\n")).unwrap();
        assert_eq!(off.hooks_token, None);
    }

    #[test]
    fn an_empty_peer_list_is_a_one_validator_net() {
        // A top-level key must come before the first table header.
        let text = format!("peers = []\n{}", BASE.split("[[peers]]").next().unwrap());
        assert!(parse(&text).unwrap().peers.is_empty());
    }

    #[test]
    fn refusals_name_the_field() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "name = \"v0\"",
                "name = \"v0\"\nkey_flie = \"x\"",
                "node.key_flie: unknown key",
            ),
            ("name = \"v0\"\n", "", "node.name: missing"),
            ("name = \"v0\"", "name = \"\"", "node.name: is empty"),
            (
                "name = \"v0\"",
                "name = 3",
                "node.name: is an integer, want a string",
            ),
            (
                "16934\"",
                "99999\"",
                "listen.p2p: \"127.0.0.1:99999\" is not host:port",
            ),
            ("16934\"", "x\"", "listen.p2p:"),
            ("\"f61b", "\"F61B", "peers[0].address: not an address"),
            ("[listen]", "[extra]\n[listen]", "extra: unknown key"),
        ];
        for (from, to, want) in cases {
            let got = refused(&BASE.replacen(from, to, 1));
            assert!(got.contains(want), "{got} lacks {want}");
            assert!(got.starts_with("/net/v0/node.toml: "), "{got}");
        }
    }

    #[test]
    fn missing_sections_and_bad_optional_values() {
        assert!(refused(&BASE.replace("[[peers]]", "[[nopeers]]")).contains("nopeers: unknown key"));
        let no_peers = BASE.split("[[peers]]").next().unwrap();
        assert!(refused(no_peers).contains("peers: missing"));
        let hooks = format!("{BASE}\n[test_hooks]\nenabled = true\n");
        assert!(refused(&hooks).contains("test_hooks.token: missing"));
        let short = format!("{BASE}\n[test_hooks]\nenabled = true\ntoken = \"short\"\n");
        assert!(refused(&short).contains("test_hooks.token: shorter"));
        let yes = format!("{BASE}\n[test_hooks]\nenabled = \"yes\"\n");
        assert!(refused(&yes).contains("test_hooks.enabled: is a string, want a boolean"));
        let level = format!("{BASE}\n[log]\nlevel = \"loud\"\n");
        assert!(refused(&level).contains("log.level: \"loud\" is not one of"));
        let frame = format!("{BASE}\n[p2p]\nmax_frame_bytes = 1023\n");
        assert!(refused(&frame).contains("p2p.max_frame_bytes: 1023 is below"));
        let twice = format!(
            "{BASE}\n[[peers]]\nname = \"v2\"\naddress = \"f61b1dbb8b895cb2557f664ba509f3636e8720dd\"\nendpoint = \"h:1\"\n"
        );
        assert!(refused(&twice).contains("peers[1].address: the address of peers[0] too"));
        assert!(refused("[node\n").contains("not TOML"));
    }

    #[test]
    fn host_port_forms() {
        assert_eq!(HostPort::parse("0.0.0.0:0").unwrap().port, 0);
        assert_eq!(HostPort::parse("[fe80::1]:65535").unwrap().host, "fe80::1");
        for bad in [
            "nohost", ":80", "h:", "h:123456", "a b:1", "::1:80", "[]:1", "[x]:1",
        ] {
            assert_eq!(HostPort::parse(bad), None, "{bad}");
        }
    }
}
