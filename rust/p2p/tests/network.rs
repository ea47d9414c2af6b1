//! Two or more real networks on loopback: links, the listener, and what it does with
//! hostile connections (docs/protocol.md §16.2–§16.4).

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use clp::{Address, PublicKey};
use clp_p2p::frame::{encode_frame, FrameReader, HANDSHAKE_MAX_FRAME_BYTES, KEEPALIVE_FRAME};
use clp_p2p::handshake;
use clp_p2p::{AdmissionLimits, Inbound, Message, NetConfig, Network, PeerSpec, Timing};
use ed25519_dalek::SigningKey;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc::Receiver;

const CHAIN: &str = "clp-testnet";

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn address(k: &SigningKey) -> Address {
    Address::from_public_key(&PublicKey(k.verifying_key().to_bytes()))
}

/// A port nobody listens on right now (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn peer(k: &SigningKey, port: u16) -> PeerSpec {
    PeerSpec {
        address: address(k),
        public_key: k.verifying_key().to_bytes(),
        endpoint: format!("127.0.0.1:{port}"),
    }
}

fn fast() -> Timing {
    Timing {
        connect_timeout: Duration::from_secs(1),
        handshake_timeout: Duration::from_secs(2),
        backoff_initial: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        keepalive_interval: Duration::from_millis(100),
        dead_after: Duration::from_millis(1500),
    }
}

fn config(me: &SigningKey, port: u16, peers: Vec<PeerSpec>) -> NetConfig {
    let mut cfg = NetConfig::new(CHAIN, me.clone(), format!("127.0.0.1:{port}"), peers);
    cfg.timing = fast();
    cfg
}

/// Polls `check` until it yields a value or `secs` pass.
async fn wait_for<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn next(rx: &mut Receiver<Inbound>) -> Inbound {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a message in time")
        .expect("channel open")
}

/// A client that passed the handshake as `as_key` against the node at `addr`.
async fn authenticated(addr: SocketAddr, as_key: &SigningKey, node_key: &SigningKey) -> TcpStream {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut reader = FrameReader::new(read, HANDSHAKE_MAX_FRAME_BYTES);
    let expected = node_key.verifying_key().to_bytes();
    handshake::dial(
        &mut reader,
        &mut write,
        as_key,
        CHAIN,
        &expected,
        handshake::new_nonce(),
    )
    .await
    .unwrap();
    reader.into_inner().reunite(write).unwrap()
}

/// Reads until EOF (or reset) within 5 s; what the node sent, if anything.
async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut got))
        .await
        .expect("the node closes the connection");
    got
}

#[tokio::test]
async fn a_node_started_on_a_bound_listener_keeps_that_socket() {
    let (ka, kb) = (key(1), key(2));
    let bound = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let pa = bound.local_addr().unwrap().port();
    let pb = free_port();
    let (a, mut a_in) = Network::start_on(config(&ka, pa, vec![peer(&kb, pb)]), bound).unwrap();
    assert_eq!(a.local_addr().port(), pa);
    // The port stays taken: nobody else can bind it now.
    assert!(std::net::TcpListener::bind(("127.0.0.1", pa)).is_err());
    let (b, _b_in) = Network::start(config(&kb, pb, vec![peer(&ka, pa)]))
        .await
        .unwrap();
    b.broadcast(&Message::Status { height: 3 }).unwrap();
    let got = next(&mut a_in).await;
    assert_eq!(
        (got.peer, got.message.unwrap()),
        (address(&kb), Message::Status { height: 3 })
    );
}

#[tokio::test]
async fn two_nodes_exchange_messages_both_ways() {
    let (ka, kb) = (key(1), key(2));
    let (pa, pb) = (free_port(), free_port());
    let (a, mut a_in) = Network::start(config(&ka, pa, vec![peer(&kb, pb)]))
        .await
        .unwrap();
    let (b, mut b_in) = Network::start(config(&kb, pb, vec![peer(&ka, pa)]))
        .await
        .unwrap();
    a.send(&address(&kb), &Message::Status { height: 7 })
        .unwrap();
    b.broadcast(&Message::SyncRequest { from: 1, to: 4 })
        .unwrap();
    let got = next(&mut b_in).await;
    assert_eq!(
        (got.peer, got.message.unwrap()),
        (address(&ka), Message::Status { height: 7 })
    );
    let got = next(&mut a_in).await;
    assert_eq!(
        (got.peer, got.message.unwrap()),
        (address(&kb), Message::SyncRequest { from: 1, to: 4 })
    );
    wait_for(5, "both links up", || async {
        let up = a.connected_peers().contains(&address(&kb))
            && b.inbound_peers().contains(&address(&ka));
        up.then_some(())
    })
    .await;
    // Many messages keep their order on one link.
    for h in 0..500 {
        a.send(&address(&kb), &Message::Status { height: h })
            .unwrap();
    }
    for h in 0..500 {
        assert_eq!(
            next(&mut b_in).await.message.unwrap(),
            Message::Status { height: h }
        );
    }
    let stats = a.stats();
    assert_eq!(stats.connected_peers, 1);
    assert!(a.is_connected(&address(&kb)));
    assert!(!a.is_connected(&address(&key(9))), "not a peer");
    assert!(stats.frames_out >= 501, "{stats:?}");
    assert!(b.stats().frames_in >= 501);
    assert!(a
        .send(&address(&key(9)), &Message::Status { height: 1 })
        .is_err());
}

#[tokio::test]
async fn a_link_redials_after_its_peer_comes_back() {
    let (ka, kb) = (key(1), key(2));
    let (pa, pb) = (free_port(), free_port());
    let (a, _a_in) = Network::start(config(&ka, pa, vec![peer(&kb, pb)]))
        .await
        .unwrap();
    // B is not up yet: the message waits in the queue while A keeps dialling.
    a.send(&address(&kb), &Message::Status { height: 1 })
        .unwrap();
    let (b, mut b_in) = Network::start(config(&kb, pb, vec![peer(&ka, pa)]))
        .await
        .unwrap();
    assert_eq!(
        next(&mut b_in).await.message.unwrap(),
        Message::Status { height: 1 }
    );
    let generation = a.link_generation(&address(&kb)).unwrap();
    b.shutdown();
    drop((b, b_in));
    wait_for(5, "A to notice B is gone", || async {
        (!a.connected_peers().contains(&address(&kb))).then_some(())
    })
    .await;
    assert!(
        !a.is_connected(&address(&kb)),
        "down as connected_peers says"
    );
    let (_b, mut b_in) = Network::start(config(&kb, pb, vec![peer(&ka, pa)]))
        .await
        .unwrap();
    a.send(&address(&kb), &Message::Status { height: 2 })
        .unwrap();
    assert_eq!(
        next(&mut b_in).await.message.unwrap(),
        Message::Status { height: 2 }
    );
    assert!(
        a.link_generation(&address(&kb)).unwrap() > generation,
        "a reconnect is a new generation"
    );
    assert!(a.stats().disconnects >= 1);
}

#[tokio::test]
async fn the_listener_answers_keepalives_with_keepalives_only() {
    let (kn, kp) = (key(1), key(2));
    let (node, _rx) = Network::start(config(&kn, 0, vec![peer(&kp, free_port())]))
        .await
        .unwrap();
    let mut client = authenticated(node.local_addr(), &kp, &kn).await;
    client
        .write_all(&[KEEPALIVE_FRAME, KEEPALIVE_FRAME].concat())
        .await
        .unwrap();
    let mut answer = [1u8; 8];
    client.read_exact(&mut answer).await.unwrap();
    assert_eq!(answer, [0u8; 8]);
}

#[tokio::test]
async fn bad_frames_after_auth_close_the_connection_and_are_counted() {
    let (kn, kp) = (key(1), key(2));
    let (node, mut rx) = Network::start(config(&kn, 0, vec![peer(&kp, free_port())]))
        .await
        .unwrap();
    let cases: [(&str, Vec<u8>); 3] = [
        (
            "oversized",
            [&(4 * 1024 * 1024 + 1u32).to_be_bytes()[..], b"xxxx"].concat(),
        ),
        (
            "not_json",
            encode_frame(b"\x01\x02 garbage", 1 << 20).unwrap(),
        ),
        ("not_object", encode_frame(b"[1,2,3]", 1 << 20).unwrap()),
    ];
    for (reason, bytes) in cases {
        let mut client = authenticated(node.local_addr(), &kp, &kn).await;
        client.write_all(&bytes).await.unwrap();
        assert_eq!(read_to_close(&mut client).await, b"", "{reason}");
        wait_for(5, reason, || async {
            (node.stats().rejected_frames.get(reason) == Some(&1)).then_some(())
        })
        .await;
    }
    // A truncated frame: EOF inside the body.
    let mut client = authenticated(node.local_addr(), &kp, &kn).await;
    client.write_all(&[0, 0, 0, 10, b'{']).await.unwrap();
    client.shutdown().await.unwrap();
    wait_for(5, "truncated", || async {
        node.stats().rejected_frames.get("truncated").copied()
    })
    .await;
    // The listener is still there, and a good message still arrives.
    let mut client = authenticated(node.local_addr(), &kp, &kn).await;
    client
        .write_all(&encode_frame(br#"{"type":"status","height":3}"#, 1 << 20).unwrap())
        .await
        .unwrap();
    assert_eq!(
        next(&mut rx).await.message.unwrap(),
        Message::Status { height: 3 }
    );
}

#[tokio::test]
async fn a_bad_message_is_delivered_as_an_error_and_the_connection_stays() {
    let (kn, kp) = (key(1), key(2));
    let (node, mut rx) = Network::start(config(&kn, 0, vec![peer(&kp, free_port())]))
        .await
        .unwrap();
    let mut client = authenticated(node.local_addr(), &kp, &kn).await;
    for payload in [
        &br#"{"type":"status","height":-4}"#[..],
        br#"{"type":"nope"}"#,
        br#"{"type":"status","height":4}"#,
    ] {
        client
            .write_all(&encode_frame(payload, 1 << 20).unwrap())
            .await
            .unwrap();
    }
    assert_eq!(
        next(&mut rx).await.message.unwrap_err().reason(),
        "bad_message"
    );
    assert_eq!(
        next(&mut rx).await.message.unwrap_err().reason(),
        "unknown_type"
    );
    let got = next(&mut rx).await;
    assert_eq!(
        (got.peer, got.message.unwrap()),
        (address(&kp), Message::Status { height: 4 })
    );
    let rejected = node.stats().rejected_frames;
    assert_eq!(
        (rejected.get("bad_message"), rejected.get("unknown_type")),
        (Some(&1), Some(&1))
    );
    node.count_rejected("bad_message");
    assert_eq!(node.stats().rejected_frames.get("bad_message"), Some(&2));
}

/// Sends a hello as `as_key` on `chain`; returns what the node sent before closing.
async fn refused_hello(node: SocketAddr, as_key: &SigningKey, chain: &str) -> Vec<u8> {
    let mut stream = TcpStream::connect(node).await.unwrap();
    let hello = handshake::hello_payload(chain, &as_key.verifying_key().to_bytes(), &[3; 32]);
    stream
        .write_all(&encode_frame(&hello, 4096).unwrap())
        .await
        .unwrap();
    read_to_close(&mut stream).await
}

#[tokio::test]
async fn the_listener_refuses_strangers_silently_and_counts_why() {
    let (kn, kp) = (key(1), key(2));
    let mut cfg = config(&kn, 0, vec![peer(&kp, free_port())]);
    cfg.timing.handshake_timeout = Duration::from_millis(300);
    let (node, _rx) = Network::start(cfg).await.unwrap();
    let at = node.local_addr();
    assert_eq!(refused_hello(at, &kp, "other-chain").await, b"");
    assert_eq!(refused_hello(at, &key(7), CHAIN).await, b"");
    assert_eq!(refused_hello(at, &kn, CHAIN).await, b"");
    let mut silent = TcpStream::connect(at).await.unwrap();
    assert_eq!(read_to_close(&mut silent).await, b"");
    let mut huge = TcpStream::connect(at).await.unwrap();
    huge.write_all(&5000u32.to_be_bytes()).await.unwrap();
    assert_eq!(read_to_close(&mut huge).await, b"");
    let failures = wait_for(5, "five refusals counted", || async {
        let f = node.stats().handshake_failures;
        (f.values().sum::<u64>() == 5).then_some(f)
    })
    .await;
    for reason in [
        "wrong_chain",
        "unknown_peer",
        "self",
        "timeout",
        "oversized",
    ] {
        assert_eq!(failures.get(reason), Some(&1), "{reason}: {failures:?}");
    }
    assert!(node.inbound_peers().is_empty());
}

async fn idle_connection_from(source: &str, to: SocketAddr) -> Option<TcpStream> {
    let socket = TcpSocket::new_v4().ok()?;
    socket.bind(format!("{source}:0").parse().unwrap()).ok()?;
    socket.connect(to).await.ok()
}

#[tokio::test]
async fn a_flood_of_unauthenticated_connections_does_not_keep_a_peer_out() {
    let (kn, kp) = (key(1), key(2));
    let (pn, pp) = (free_port(), free_port());
    let mut cfg = config(&kn, pn, vec![peer(&kp, pp)]);
    // Idle connections would only time out after a minute: admission alone must cope.
    cfg.timing.handshake_timeout = Duration::from_secs(60);
    cfg.admission = AdmissionLimits {
        max_waiting: 32,
        max_waiting_per_source: 8,
        max_handshakes: 8,
        max_handshakes_per_source: 2,
    };
    let (node, mut rx) = Network::start(cfg).await.unwrap();
    let at = node.local_addr();
    // An unknown source (127.0.0.2 is loopback too) and the peers' own source.
    let mut flood = Vec::new();
    for i in 0..120 {
        let source = if i % 2 == 0 { "127.0.0.2" } else { "127.0.0.1" };
        if let Some(s) = idle_connection_from(source, at).await {
            flood.push(s);
        }
    }
    assert!(
        flood.len() >= 100,
        "could open only {} connections",
        flood.len()
    );
    wait_for(5, "the pools to settle at their bounds", || async {
        let (waiting, handshaking) = node.pending_handshakes();
        (waiting <= 32 && handshaking == 0).then_some(())
    })
    .await;
    let (_peer, _peer_rx) = Network::start(config(&kp, pp, vec![peer(&kn, pn)]))
        .await
        .unwrap();
    _peer
        .send(&address(&kn), &Message::Status { height: 11 })
        .unwrap();
    let got = next(&mut rx).await;
    assert_eq!(
        (got.peer, got.message.unwrap()),
        (address(&kp), Message::Status { height: 11 })
    );
    // Every connection beyond the waiting bound displaced another, and the unknown
    // source was held to its own bound.
    let failures = node.stats().handshake_failures;
    let evicted = failures.get("source_limit").copied().unwrap_or(0)
        + failures.get("too_many_pending").copied().unwrap_or(0);
    assert!(evicted as usize >= flood.len() - 32, "{failures:?}");
    assert!(
        failures.get("source_limit").copied().unwrap_or(0) >= 1,
        "{failures:?}"
    );
    drop(flood);
}

#[tokio::test]
async fn a_link_counts_why_its_dials_fail_and_keeps_dialling() {
    let (ka, kb, impostor) = (key(1), key(2), key(3));
    // A TCP server that accepts and never speaks, and a node with the wrong key.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let _keep = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let (wrong, _wrong_rx) = Network::start(config(&impostor, 0, vec![peer(&ka, free_port())]))
        .await
        .unwrap();
    let mut cfg = config(
        &ka,
        0,
        vec![
            peer(&kb, silent_port),
            PeerSpec {
                endpoint: wrong.local_addr().to_string(),
                ..peer(&key(4), 0)
            },
        ],
    );
    cfg.timing.handshake_timeout = Duration::from_millis(200);
    let (a, _a_rx) = Network::start(cfg).await.unwrap();
    let failures = wait_for(10, "timeouts and unexpected peers, repeatedly", || async {
        let f = a.stats().dial_failures;
        let seen = |r: &str| f.get(r).copied().unwrap_or(0) >= 2;
        (seen("timeout") && seen("unexpected_peer")).then_some(f)
    })
    .await;
    assert!(a.connected_peers().is_empty(), "{failures:?}");
}

#[tokio::test]
async fn a_config_that_breaks_a_rule_is_refused_with_a_reason() {
    let me = key(1);
    let mismatched = PeerSpec {
        address: address(&key(5)),
        ..peer(&key(2), 1)
    };
    let cases = [
        (vec![peer(&me, 1)], "own address"),
        (vec![mismatched], "does not match"),
        (vec![peer(&key(2), 1), peer(&key(2), 2)], "listed twice"),
    ];
    for (peers, why) in cases {
        let err = Network::start(config(&me, 0, peers))
            .await
            .err()
            .expect(why);
        assert!(err.to_string().contains(why), "{err}");
    }
    let mut cfg = config(&me, 0, vec![]);
    cfg.timing.dead_after = cfg.timing.keepalive_interval;
    assert!(Network::start(cfg).await.is_err());
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let err = Network::start(config(&me, port, vec![]))
        .await
        .err()
        .expect("port in use");
    assert!(err.to_string().contains("cannot listen"), "{err}");
}

#[tokio::test]
async fn dials_in_flight_are_bounded_and_the_rest_wait_their_turn() {
    // 40 peers all at one silent server (accepts, never speaks): each dial holds its
    // permit until its handshake times out, so the server sees at most max_dials at once.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    let _keep = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(s);
        }
    });
    let peers = (10..50).map(|seed| peer(&key(seed), port)).collect();
    let mut cfg = config(&key(1), 0, peers);
    cfg.max_dials = 4;
    cfg.timing.handshake_timeout = Duration::from_secs(2);
    let started = tokio::time::Instant::now();
    let (a, _rx) = Network::start(cfg).await.unwrap();
    wait_for(10, "the first dials", || async {
        (accepted.load(std::sync::atomic::Ordering::SeqCst) >= 4).then_some(())
    })
    .await;
    let first = accepted.load(std::sync::atomic::Ordering::SeqCst);
    if started.elapsed() < Duration::from_millis(1500) {
        // Well inside the first handshake timeout: no permit came free yet.
        assert_eq!(first, 4, "dials in flight before any handshake timed out");
    }
    // The waiting dials get their turn as the held ones time out.
    wait_for(10, "more than one round of dials", || async {
        (accepted.load(std::sync::atomic::Ordering::SeqCst) > 8).then_some(())
    })
    .await;
    assert!(a.connected_peers().is_empty());
}
