//! The binary: its command line, the one-line refusals of bad files (exit status 2,
//! docs/protocol.md §10), a clean stop on SIGTERM, and a restart that keeps the chain.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use clp_node_rs::store::Store;
use common::{extend_chain, Net};

const BIN: &str = env!("CARGO_BIN_EXE_clp-node-rs");

fn node(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Both `check-config` and start-up refuse with the same single stderr line, exit 2,
/// naming everything in `needles`.
fn refused(config: &Path, needles: &[&str]) {
    let check = node(&["check-config", "--config", path_str(config)]);
    let start = node(&["--config", path_str(config)]);
    for out in [&check, &start] {
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.starts_with("clp-node-rs: error: "), "{err}");
        for n in needles {
            assert!(err.contains(n), "{n:?} not in {err}");
        }
    }
    assert_eq!(check.stderr, start.stderr);
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from} not in {}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn a_good_config_checks_ok() {
    let net = Net::new("cli-ok", 4, true);
    let out = node(&["check-config", "--config", path_str(&net.config(0))]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with("ok: v0"), "{text}");
    assert!(
        net.root().join("v0/data/chain.sqlite").exists(),
        "the store is created"
    );
}

#[test]
fn bad_configs_are_one_line_naming_file_and_field() {
    let net = Net::new("cli-bad-config", 4, false);
    let cfg = net.config(0);
    let original = std::fs::read_to_string(&cfg).unwrap();
    let cfg_s = path_str(&cfg).to_owned();
    let reset = || std::fs::write(&cfg, &original).unwrap();

    std::fs::write(&cfg, [b"\xff\xfe".as_slice(), original.as_bytes()].concat()).unwrap();
    refused(&cfg, &[&cfg_s, "UTF-8"]);
    reset();
    edit(
        &cfg,
        "name = \"v0\"",
        "name = \"v0\"\nkey_flie = \"key.json\"",
    );
    refused(&cfg, &[&cfg_s, "node.key_flie", "unknown key"]);
    reset();
    edit(
        &cfg,
        "key_file = \"key.json\"",
        "key_file = \"../v1/key.json\"",
    );
    refused(&cfg, &["v1/key.json", "peers[0]"]);
    reset();
    edit(&cfg, "[log]", "[test_hooks]\nenabled = true\n\n[log]");
    refused(&cfg, &[&cfg_s, "test_hooks.token"]);
    reset();
    edit(
        &cfg,
        "p2p = \"127.0.0.1:0\"",
        "p2p = \"no-such-host.invalid:0\"",
    );
    refused(&cfg, &[&cfg_s, "listen.p2p", "cannot resolve"]);
    reset();
    edit(&cfg, "p2p = \"127.0.0.1:0\"", "p2p = \"203.0.113.7:0\"");
    refused(&cfg, &[&cfg_s, "listen.p2p", "cannot listen"]);
    reset();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    edit(
        &cfg,
        &format!("api = \"127.0.0.1:{}\"", net.api_ports[0]),
        &format!("api = \"127.0.0.1:{port}\""),
    );
    refused(&cfg, &[&cfg_s, "listen.api", "in use"]);
    drop(busy);
    reset();
    std::fs::write(net.root().join("v0/afile"), "x").unwrap();
    edit(&cfg, "data_dir = \"data\"", "data_dir = \"afile\"");
    refused(&cfg, &[&cfg_s, "node.data_dir", "afile"]);
    reset();
    edit(
        &cfg,
        "data_dir = \"data\"",
        "data_dir = \"/proc/clp-x/data\"",
    );
    refused(&cfg, &["node.data_dir", "/proc/clp-x"]);
    reset();
    refused(
        &net.root().join("v0/nothing.toml"),
        &["nothing.toml", "cannot read"],
    );
}

#[test]
fn a_key_outside_genesis_or_not_matching_itself_is_refused() {
    let net = Net::new("cli-bad-key", 4, false);
    let cfg = net.config(0);
    let stranger = net.root().join("stranger.json");
    let out = node(&["keygen", "--out", path_str(&stranger), "--seed-text", "x"]);
    assert_eq!(out.status.code(), Some(0));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&stranger).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let again = node(&["keygen", "--out", path_str(&stranger)]);
    assert_eq!(again.status.code(), Some(2), "keygen never overwrites");
    edit(
        &cfg,
        "key_file = \"key.json\"",
        "key_file = \"../stranger.json\"",
    );
    refused(&cfg, &["stranger.json", "not a validator of genesis"]);
    let key = net.root().join("stranger.json");
    let text = std::fs::read_to_string(&key).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let other = net.keys[1].public_key.to_hex();
    std::fs::write(
        &key,
        text.replace(doc["public_key"].as_str().unwrap(), &other),
    )
    .unwrap();
    refused(&cfg, &["stranger.json", "public_key"]);
}

#[test]
fn a_bad_genesis_is_refused_naming_the_field() {
    let net = Net::new("cli-bad-genesis", 4, false);
    let cfg = net.config(0);
    let g = net.root().join("genesis.json");
    let original = std::fs::read_to_string(&g).unwrap();
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "\"challenge_interval\": 2",
            "\"challenge_interval\": 0",
            &["clp.challenge_interval"],
        ),
        (
            "\"challenge_interval\": 2",
            "\"challenge_interval\": true",
            &["clp.challenge_interval", "integer"],
        ),
        (
            "\"epoch_length\": 20",
            "\"epoch_length\": 5",
            &["clp.epoch_length"],
        ),
        (
            "\"min_stake\": 1000",
            "\"min_stake\": 1000, \"extra\": 1",
            &["clp.extra"],
        ),
        (
            "\"timeout_delta_ms\": 200",
            "\"timeout_delta_ms\": 0",
            &["consensus.timeout_delta_ms"],
        ),
        (
            "\"chain_id\": \"clp-testnet\"",
            "\"chain_id\": \"\"",
            &["chain_id"],
        ),
        (
            "\"stake\": 100000",
            "\"stake\": 0",
            &["validators[0].stake"],
        ),
        (
            "\"stake\": 100000",
            "\"stake\": -5",
            &["validators[0].stake"],
        ),
    ];
    for (from, to, needles) in cases {
        std::fs::write(&g, original.replacen(from, to, 1)).unwrap();
        let mut all = vec!["genesis.json"];
        all.extend_from_slice(needles);
        refused(&cfg, &all);
    }
    // Validators out of address order.
    let mut doc: serde_json::Value = serde_json::from_str(&original).unwrap();
    doc["validators"].as_array_mut().unwrap().swap(0, 1);
    std::fs::write(&g, doc.to_string()).unwrap();
    refused(&cfg, &["genesis.json", "validators[1].address", "sorted"]);
}

#[test]
fn a_store_that_is_not_this_nodes_chain_is_refused() {
    let net = Net::new("cli-bad-store", 4, false);
    let cfg = net.config(0);
    let data = net.root().join("v0/data");
    std::fs::create_dir_all(&data).unwrap();
    let store_path = Store::path_in(&data);
    std::fs::write(&store_path, b"not a database at all".repeat(100)).unwrap();
    refused(&cfg, &["chain.sqlite"]);
    std::fs::remove_file(&store_path).unwrap();
    {
        let store = Store::open(&store_path).unwrap();
        store
            .put_block(
                1,
                "aa",
                &serde_json::json!({"x": 1}),
                &serde_json::json!({}),
            )
            .unwrap();
    }
    refused(&cfg, &["chain.sqlite", "block 1"]);
}

fn http_get(port: u16, path: &str) -> Option<(u16, serde_json::Value)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n")?.1;
    Some((status, serde_json::from_str(body).ok()?))
}

fn wait_health(child: &mut Child, port: u16) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some((200, body)) = http_get(port, "/health") {
            return body;
        }
        assert!(child.try_wait().unwrap().is_none(), "the node exited");
        assert!(Instant::now() < deadline, "no /health within 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn stop(child: Child) -> Output {
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    child.wait_with_output().unwrap()
}

#[test]
fn sigterm_stops_cleanly_and_a_restart_serves_the_stored_chain() {
    let net = Net::new("cli-run", 4, true);
    let port = net.api_ports[0];
    let start = || {
        Command::new(BIN)
            .args(["--config", path_str(&net.config(0))])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut child = start();
    assert_eq!(
        wait_health(&mut child, port),
        serde_json::json!({"status": "ok", "height": 0})
    );
    let out = stop(child);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let logs = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        lines
            .iter()
            .all(|l| l["time"].is_number() && l["level"].is_string() && l["node"] == "v0"),
        "{logs}"
    );
    let events: Vec<&str> = lines.iter().filter_map(|l| l["event"].as_str()).collect();
    assert!(
        events.contains(&"node.starting") && events.last() == Some(&"node.stopped"),
        "{events:?}"
    );

    // Blocks committed while the node was down (as if by its consensus loop before a kill).
    let genesis = net.genesis();
    let store = Store::open(&Store::path_in(&net.root().join("v0/data"))).unwrap();
    let mut manager = genesis.clp_manager().unwrap();
    let blocks = extend_chain(&store, &mut manager, &net.keys, genesis.hash(), 12);
    drop(store);
    let mut child = start();
    assert_eq!(wait_health(&mut child, port)["height"], 12);
    let (_, head) = http_get(port, "/alpha/chain/head").unwrap();
    assert_eq!(head["hash"], blocks.last().unwrap().0.hash.to_hex());
    let (_, st) = http_get(port, "/alpha/clp/status").unwrap();
    assert_eq!(st["height"], 12);
    let (status, b5) = http_get(port, "/alpha/chain/block/5").unwrap();
    assert_eq!(
        (status, b5["block"]["hash"].as_str()),
        (200, Some(blocks[4].0.hash.to_hex().as_str()))
    );
    let out = stop(child);
    assert_eq!(out.status.code(), Some(0));
}
