//! The node loop's shell: starts the P2P network, then runs one task that owns the
//! [`Node`] and feeds it messages, POSTed responses, timers and the gossip tick, sending
//! what it returns. Everything the node decides is in [`super::driver`].

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use clp::Address;
use clp_p2p::{Message, NetConfig, Network, PeerSpec, StatsSnapshot};

use super::driver::{Links, Node, Out, Setup};
use crate::shell::Services;

/// How often the node checks what it must re-send, ask or announce (§16.7: the reference
/// checks every 250 ms).
pub const TICK: Duration = Duration::from_millis(250);

struct NetLinks<'a>(&'a Network);

impl Links for NetLinks<'_> {
    fn peers(&self) -> Vec<Address> {
        self.0.peers().into_iter().collect()
    }

    fn connected_generation(&self, peer: &Address) -> Option<u64> {
        if self.0.is_connected(peer) {
            self.0.link_generation(peer)
        } else {
            None
        }
    }
}

fn send(net: &Network, out: Vec<Out>) {
    for o in out {
        let sent = match &o {
            Out::To(peer, m) => net.send(peer, m).map(|_| ()),
            Out::All(m) => net.broadcast(m).map(|_| ()).map_err(Into::into),
            Out::Rejected(reason) => {
                net.count_rejected(reason);
                Ok(())
            }
        };
        if let Err(e) = sent {
            tracing::warn!(event = "p2p.send_failed", error = %e);
        }
    }
}

/// Copies the transport's counters into the node's metrics (they only grow).
#[derive(Default)]
struct NetMetrics {
    rejected: BTreeMap<String, u64>,
}

impl NetMetrics {
    fn update(&mut self, net: &Network, view: &crate::view::View) {
        let stats = net.stats();
        view.metrics
            .peers_connected
            .set(crate::metrics::as_i64(stats.connected_peers as u64));
        for (reason, total) in refusals_by_reason(&stats) {
            let seen = self.rejected.entry(reason.clone()).or_default();
            if total > *seen {
                for _ in *seen..total {
                    view.metrics.frame_rejected(&reason);
                }
                *seen = total;
            }
        }
    }
}

/// Connections and frames refused, before and after the handshake together, by reason:
/// the one series `alphaos_p2p_frames_rejected_total{reason}` counts both, and a reason
/// such as `oversized` occurs in both (compared apart, the smaller total was never counted).
fn refusals_by_reason(stats: &StatsSnapshot) -> BTreeMap<String, u64> {
    let mut totals = BTreeMap::new();
    for (reason, n) in stats
        .rejected_frames
        .iter()
        .chain(stats.handshake_failures.iter())
    {
        *totals.entry(reason.clone()).or_default() += n;
    }
    totals
}

/// The consensus loop [`crate::shell::run_node`] runs.
pub async fn run(services: Services) -> Result<(), String> {
    let Services {
        files,
        store,
        stored_head: _,
        view,
        mut submissions,
        p2p_listener,
        ready,
        mut shutdown,
    } = services;
    let genesis = &files.genesis;
    let setup = Setup {
        chain_id: genesis.chain_id.clone(),
        genesis_hash: genesis.hash(),
        manager: genesis.clp_manager().map_err(|e| e.to_string())?,
        timing: genesis.consensus,
        key: files.key.signing_key.clone(),
        store: store.clone(),
        view: view.clone(),
        peers: files.config.peers.iter().map(|p| p.address).collect(),
    };
    let (mut node, first) = Node::start(setup, Instant::now())?;
    let _ = ready.send(());

    let peers = files
        .config
        .peers
        .iter()
        .map(|p| {
            let v = genesis
                .validator(&p.address)
                .ok_or_else(|| format!("peer {} is not a genesis validator", p.address))?;
            Ok(PeerSpec {
                address: p.address,
                public_key: v.public_key.0,
                endpoint: p.endpoint.to_addr_string(),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    // The shell bound the socket (a taken address fails the start); the network keeps it.
    let listen = p2p_listener.local_addr().map_err(|e| e.to_string())?;
    let mut cfg = NetConfig::new(
        genesis.chain_id.clone(),
        files.key.signing_key.clone(),
        listen.to_string(),
        peers,
    );
    cfg.max_frame_bytes = u32::try_from(files.config.max_frame_bytes).unwrap_or(u32::MAX);
    let (net, mut inbound) = Network::start_on(cfg, p2p_listener).map_err(|e| e.to_string())?;
    send(&net, first);
    send(
        &net,
        vec![Out::All(Message::Status {
            height: node.head().height,
        })],
    );

    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut net_metrics = NetMetrics::default();
    let far = Duration::from_secs(3600);
    let result = loop {
        let deadline = node.next_deadline().unwrap_or_else(|| Instant::now() + far);
        // Biased in this order: a flood of peer messages can delay neither the timers
        // nor the gossip tick (each of those is ready only now and then).
        let step = tokio::select! {
            biased;
            _ = shutdown.wait() => break Ok(()),
            _ = tokio::time::sleep_until(deadline.into()) => node.on_timers(Instant::now()),
            _ = tick.tick() => {
                net_metrics.update(&net, &view);
                node.on_tick(Instant::now(), &NetLinks(&net))
            }
            s = submissions.recv() => match s {
                Some(s) => {
                    let (verdict, out) = node.on_submission(s.response);
                    let _ = s.verdict.send(verdict);
                    Ok(out)
                }
                None => break Ok(()),
            },
            m = inbound.recv() => match m {
                Some(m) => node.on_message(m.peer, m.message, Instant::now()),
                None => break Err("the p2p network stopped".to_string()),
            },
        };
        match step {
            Ok(out) => send(&net, out),
            Err(fatal) => break Err(fatal),
        }
    };
    net.shutdown();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_refused_before_and_after_the_handshake_counts_both() {
        let mut stats = StatsSnapshot::default();
        stats.handshake_failures.insert("oversized".into(), 2);
        stats.handshake_failures.insert("timeout".into(), 1);
        stats.rejected_frames.insert("oversized".into(), 1);
        stats.rejected_frames.insert("not_json".into(), 3);
        let totals = refusals_by_reason(&stats);
        let want = [("not_json", 3), ("oversized", 3), ("timeout", 1)];
        assert_eq!(
            totals,
            want.map(|(r, n)| (r.to_string(), n)).into_iter().collect()
        );
    }
}
