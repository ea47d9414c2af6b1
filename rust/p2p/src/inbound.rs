//! The receiving side: accept connections, admit and authenticate them, read frames and
//! hand each message to the node (docs/protocol.md §16.2–§16.4).
//!
//! After the handshake the listener only reads; it writes nothing but one keepalive answer
//! per keepalive. A connection that breaks a framing rule is closed and counted; one bad
//! connection never affects another, and nothing it sends can crash the listener.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use clp::Address;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::admission::{Arrival, ConnId};
use crate::frame::{Frame, FrameReader, ReadError, HANDSHAKE_MAX_FRAME_BYTES};
use crate::handshake::{self, HandshakeError, HandshakeFailure};
use crate::network::{Inbound, Shared};
use crate::stats::{Group, NetStats};
use crate::wire::{self, DecodeError};

/// Keepalive answers a dialler may leave unread before its connection is closed.
const MAX_UNREAD_ANSWERS: usize = 16 * 1024;

/// Accepts connections until the task is aborted.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    deliver: mpsc::Sender<Inbound>,
) {
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // E.g. out of file descriptors: wait a little instead of spinning.
                tracing::warn!(event = "p2p.accept_failed", error = %e);
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let conn = shared.next_conn.fetch_add(1, Ordering::Relaxed);
        let arrival = {
            let mut admission = shared.admission.lock().expect("admission lock");
            admission.arrive(conn, remote.ip(), |s| shared.is_known_source(s))
        };
        evict(&shared, &arrival);
        // The handle is registered before the task can end, so its guard always finds it.
        let mut conns = shared.conns.lock().expect("conns lock");
        let task = tokio::spawn(serve(conn, stream, remote, shared.clone(), deliver.clone()));
        conns.insert(conn, task.abort_handle());
    }
}

/// Close a displaced connection; it is counted here, as its task is gone.
fn evict(shared: &Shared, arrival: &Arrival) {
    if let Some(victim) = arrival.evicted {
        if let Some(handle) = shared.conns.lock().expect("conns lock").remove(&victim) {
            handle.abort();
        }
        shared
            .admission
            .lock()
            .expect("admission lock")
            .leave(victim);
        shared.refused(Group::HandshakeFailures, arrival.reason, "evicted");
    }
}

/// Frees a connection's admission slot and registry entries however its task ends
/// (abort included).
struct ConnGuard {
    conn: ConnId,
    shared: Arc<Shared>,
    peer: Option<Address>,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.shared
            .admission
            .lock()
            .expect("admission lock")
            .leave(self.conn);
        self.shared
            .conns
            .lock()
            .expect("conns lock")
            .remove(&self.conn);
        if let Some(peer) = self.peer {
            let mut inbound = self.shared.inbound.lock().expect("inbound lock");
            if inbound.get(&peer) == Some(&self.conn) {
                inbound.remove(&peer);
            }
        }
    }
}

async fn serve(
    conn: ConnId,
    stream: TcpStream,
    remote: SocketAddr,
    shared: Arc<Shared>,
    deliver: mpsc::Sender<Inbound>,
) {
    let mut guard = ConnGuard {
        conn,
        shared: shared.clone(),
        peer: None,
    };
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let mut reader = FrameReader::new(read, HANDSHAKE_MAX_FRAME_BYTES);
    // One deadline from accept to authenticated, whatever the stage.
    let authenticated = tokio::time::timeout(
        shared.cfg.timing.handshake_timeout,
        authenticate(conn, &shared, &mut reader, &mut write),
    )
    .await;
    let peer = match authenticated {
        Ok(Ok(peer)) => peer,
        Ok(Err(e)) => {
            shared.refused(Group::HandshakeFailures, e.kind.reason(), &e.detail);
            return;
        }
        Err(_) => {
            let reason = HandshakeFailure::Timeout.reason();
            shared.refused(
                Group::HandshakeFailures,
                reason,
                "no complete handshake in time",
            );
            return;
        }
    };
    shared.admission.lock().expect("admission lock").leave(conn);
    guard.peer = Some(peer);
    let old = shared
        .inbound
        .lock()
        .expect("inbound lock")
        .insert(peer, conn);
    if let Some(old) = old {
        // The peer reconnected: its old connection is dead or half-dead on its side.
        if let Some(handle) = shared.conns.lock().expect("conns lock").remove(&old) {
            handle.abort();
        }
    }
    NetStats::add(&shared.stats.inbound_connects, 1);
    tracing::info!(event = "p2p.inbound_connected", peer = %peer, remote = %remote, replaced = old.is_some());
    let reason = receive(peer, &shared, reader, write, &deliver).await;
    NetStats::add(&shared.stats.inbound_disconnects, 1);
    if reason.starts_with("rejected") {
        tracing::warn!(event = "p2p.inbound_disconnected", peer = %peer, reason = %reason);
    } else {
        tracing::info!(event = "p2p.inbound_disconnected", peer = %peer, reason = %reason);
    }
}

async fn authenticate(
    conn: ConnId,
    shared: &Shared,
    reader: &mut FrameReader<OwnedReadHalf>,
    writer: &mut OwnedWriteHalf,
) -> Result<Address, HandshakeError> {
    let hello = handshake::read_message(reader).await?;
    let step = {
        let mut admission = shared.admission.lock().expect("admission lock");
        admission.hello(conn, |s| shared.is_known_source(s))
    };
    evict(shared, &step);
    if step.refused {
        return Err(HandshakeError::new(
            HandshakeFailure::TooManyPending,
            "no handshake slot free",
        ));
    }
    handshake::listen(
        reader,
        writer,
        &shared.cfg.key,
        &shared.cfg.chain_id,
        &shared.allowed,
        &hello,
        handshake::new_nonce(),
    )
    .await
}

/// Reads frames of an authenticated connection until it ends; returns why it ended.
async fn receive(
    peer: Address,
    shared: &Shared,
    mut reader: FrameReader<OwnedReadHalf>,
    mut writer: OwnedWriteHalf,
    deliver: &mpsc::Sender<Inbound>,
) -> String {
    reader.set_max_frame_bytes(shared.cfg.max_frame_bytes);
    // Keepalive answers go through their own task: a dialler that stops reading must
    // not stall this reader, and its unread answers are bounded.
    let (answers, mut pending) = mpsc::channel::<()>(MAX_UNREAD_ANSWERS);
    let answerer = tokio::spawn(async move {
        while pending.recv().await.is_some() {
            let mut n = 1;
            while pending.try_recv().is_ok() {
                n += 1;
            }
            if writer.write_all(&vec![0u8; 4 * n]).await.is_err() {
                return;
            }
        }
    });
    let _stop_answerer = AbortOnDrop(answerer.abort_handle());
    let dead_after = shared.cfg.timing.dead_after;
    loop {
        let payload = match reader.next(Some(dead_after)).await {
            Ok(None) => return "eof".into(),
            Ok(Some(Frame::Keepalive)) => {
                if answers.try_send(()).is_err() {
                    return "dialler_not_reading".into();
                }
                continue;
            }
            Ok(Some(Frame::Payload(p))) => p,
            Err(ReadError::Frame(e)) => {
                shared.refused(
                    Group::RejectedFrames,
                    e.reason(),
                    &format!("peer {peer}: {e}"),
                );
                return format!("rejected:{}", e.reason());
            }
            Err(ReadError::Idle(_)) => return "keepalive_timeout".into(),
            Err(ReadError::Io(_)) => return "reset".into(),
        };
        shared.stats.bytes_in(peer, payload.len() as u64 + 4);
        let message = match wire::decode(&payload) {
            Ok(message) => Ok(message),
            Err(DecodeError::Frame(e)) => {
                shared.refused(
                    Group::RejectedFrames,
                    e.reason(),
                    &format!("peer {peer}: {e}"),
                );
                return format!("rejected:{}", e.reason());
            }
            Err(DecodeError::Message(e)) => {
                // Well-formed JSON the node cannot use: counted, the connection stays.
                shared.refused(
                    Group::RejectedFrames,
                    e.reason(),
                    &format!("peer {peer}: {e}"),
                );
                Err(e)
            }
        };
        if deliver.send(Inbound { peer, message }).await.is_err() {
            return "stopped".into();
        }
    }
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
