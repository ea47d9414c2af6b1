//! A deterministic in-memory network of [`Node`]s (tests): messages are delivered in
//! order, the clock jumps to the next timer or gossip tick when nothing is in flight, and
//! directed links can be cut and healed.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clp::{Address, ClpManager};
use clp_p2p::Message;

use super::driver::{Links, Node, Out, Setup};
use super::run::TICK;
use super::testkit::{genesis_chain, TestKey, CHAIN_ID};
use crate::files::ConsensusTiming;
use crate::metrics::Metrics;
use crate::store::tests::TempDir;
use crate::store::Store;
use crate::view::{Hooks, View};

pub const TIMING: ConsensusTiming = ConsensusTiming {
    block_interval_ms: 200,
    timeout_propose_ms: 600,
    timeout_prevote_ms: 300,
    timeout_precommit_ms: 300,
    timeout_delta_ms: 200,
};

pub struct SimNode {
    pub node: Option<Node>,
    pub view: Arc<View>,
    pub store: Arc<Store>,
    pub key: TestKey,
    _dir: TempDir,
}

pub struct Sim {
    pub nodes: Vec<SimNode>,
    pub addrs: Vec<Address>,
    genesis: ClpManager,
    pub now: Instant,
    next_tick: Instant,
    queue: VecDeque<(usize, usize, Message)>,
    /// Directed links that lose everything: (from, to).
    cut: BTreeSet<(usize, usize)>,
    /// Link generations, bumped when a cut link is healed.
    generation: Vec<Vec<u64>>,
    pub delivered: u64,
}

struct SimLinks<'a> {
    sim: &'a Sim,
    from: usize,
}

impl Links for SimLinks<'_> {
    fn peers(&self) -> Vec<Address> {
        (0..self.sim.addrs.len())
            .filter(|j| *j != self.from)
            .map(|j| self.sim.addrs[j])
            .collect()
    }

    fn connected_generation(&self, peer: &Address) -> Option<u64> {
        let to = self.sim.index(peer);
        if self.sim.cut.contains(&(self.from, to)) {
            None
        } else {
            Some(self.sim.generation[self.from][to])
        }
    }
}

impl Sim {
    pub fn new(n: u8) -> Sim {
        let chain = genesis_chain(n);
        let now = Instant::now();
        let mut sim = Sim {
            nodes: Vec::new(),
            addrs: chain.keys.iter().map(|k| k.address).collect(),
            genesis: chain.manager.clone(),
            now,
            next_tick: now + TICK,
            queue: VecDeque::new(),
            cut: BTreeSet::new(),
            generation: vec![vec![0; n as usize]; n as usize],
            delivered: 0,
        };
        for (i, key) in chain.keys.into_iter().enumerate() {
            let dir = TempDir::new("sim");
            let store = Arc::new(Store::open(&Store::path_in(&dir.0)).unwrap());
            let view = Arc::new(View::new(
                &sim.genesis,
                chain.head.hash,
                Hooks::new(true),
                Metrics::new(),
            ));
            sim.nodes.push(SimNode {
                node: None,
                view,
                store,
                key,
                _dir: dir,
            });
            sim.boot(i);
        }
        sim
    }

    /// Starts (or restarts, from its store) node `i`.
    pub fn boot(&mut self, i: usize) {
        let n = &self.nodes[i];
        let setup = Setup {
            chain_id: CHAIN_ID.into(),
            genesis_hash: clp::Hash32([7; 32]),
            manager: self.genesis.clone(),
            timing: TIMING,
            key: n.key.signing_key(),
            store: n.store.clone(),
            view: n.view.clone(),
        };
        let (node, out) = Node::start(setup, self.now).unwrap();
        self.nodes[i].node = Some(node);
        self.route(i, out);
    }

    /// Stops node `i` (a crash: what it had not stored is gone).
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].node = None;
        self.queue.retain(|(_, to, _)| *to != i);
    }

    pub fn index(&self, a: &Address) -> usize {
        self.addrs.iter().position(|x| x == a).unwrap()
    }

    pub fn node(&self, i: usize) -> &Node {
        self.nodes[i].node.as_ref().unwrap()
    }

    pub fn height(&self, i: usize) -> u64 {
        self.nodes[i].node.as_ref().map_or(0, |n| n.head().height)
    }

    /// Cuts every link between `i` and the others, both ways.
    pub fn isolate(&mut self, i: usize) {
        for j in 0..self.addrs.len() {
            if j != i {
                self.cut.insert((i, j));
                self.cut.insert((j, i));
            }
        }
    }

    pub fn cut_link(&mut self, from: usize, to: usize) {
        self.cut.insert((from, to));
    }

    pub fn heal(&mut self) {
        for (from, to) in std::mem::take(&mut self.cut) {
            self.generation[from][to] += 1;
        }
    }

    fn route(&mut self, from: usize, out: Vec<Out>) {
        for o in out {
            match o {
                Out::To(peer, m) => {
                    let to = self.index(&peer);
                    self.queue.push_back((from, to, m));
                }
                Out::All(m) => {
                    for to in 0..self.addrs.len() {
                        if to != from {
                            self.queue.push_back((from, to, m.clone()));
                        }
                    }
                }
                Out::Rejected(_) => {}
            }
        }
    }

    /// Delivers one message, or moves the clock to the next event.
    pub fn step(&mut self) {
        if let Some((from, to, m)) = self.queue.pop_front() {
            if self.cut.contains(&(from, to)) {
                return;
            }
            let peer = self.addrs[from];
            let now = self.now;
            if let Some(node) = self.nodes[to].node.as_mut() {
                self.delivered += 1;
                let out = node.on_message(peer, Ok(m), now).unwrap();
                self.route(to, out);
            }
            return;
        }
        let deadline = self
            .nodes
            .iter()
            .filter_map(|n| n.node.as_ref()?.next_deadline())
            .min();
        let tick = deadline.is_none_or(|d| self.next_tick <= d);
        self.now = if tick {
            self.next_tick
        } else {
            deadline.unwrap()
        }
        .max(self.now);
        for i in 0..self.nodes.len() {
            let now = self.now;
            if let Some(node) = self.nodes[i].node.as_mut() {
                let out = node.on_timers(now).unwrap();
                self.route(i, out);
            }
        }
        if tick {
            self.next_tick = self.now + TICK;
            for i in 0..self.nodes.len() {
                let Some(mut node) = self.nodes[i].node.take() else {
                    continue;
                };
                let out = node.on_tick(self.now, &SimLinks { sim: self, from: i });
                self.nodes[i].node = Some(node);
                self.route(i, out);
            }
        }
    }

    /// Steps until `done` holds; panics after `budget` of simulated time.
    pub fn run_until(&mut self, budget: Duration, done: impl Fn(&Sim) -> bool) {
        let end = self.now + budget;
        while !done(self) {
            assert!(
                self.now < end,
                "not done within {budget:?}: heights {:?}",
                (0..self.nodes.len())
                    .map(|i| self.height(i))
                    .collect::<Vec<_>>()
            );
            self.step();
        }
    }

    /// The stored hash of block `h` on node `i`.
    pub fn hash_at(&self, i: usize, h: u64) -> Option<String> {
        self.nodes[i].store.block_row(h).unwrap().map(|r| r.hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agree(sim: &Sim, upto: u64) {
        for h in 1..=upto {
            let first = sim.hash_at(0, h);
            assert!(first.is_some(), "node 0 lacks block {h}");
            for i in 1..sim.nodes.len() {
                assert_eq!(sim.hash_at(i, h), first, "node {i} block {h}");
            }
        }
    }

    #[test]
    fn four_validators_finalize_an_epoch_and_answer_every_challenge() {
        let mut sim = Sim::new(4);
        sim.run_until(Duration::from_secs(60), |s| {
            (0..4).all(|i| s.height(i) >= 21)
        });
        agree(&sim, 21);
        for i in 0..4 {
            let result = sim
                .node(i)
                .manager()
                .epoch_result(0)
                .expect("epoch 0 evaluated");
            assert!(!result.systemic);
            for v in &result.validators {
                assert_eq!((v.challenges, v.responses), (8, 8), "{v:?}");
            }
        }
        // Proposers rotate: every validator built blocks.
        let proposers: BTreeSet<String> = (1..=21)
            .map(|h| {
                let row = sim.nodes[0].store.block_row(h).unwrap().unwrap();
                let block: serde_json::Value = serde_json::from_str(&row.block).unwrap();
                block["proposer"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(proposers.len(), 4);
        let status = sim.nodes[0].view.consensus_status();
        assert_eq!(
            status["peers"].as_array().map(Vec::len),
            Some(3),
            "{status}"
        );
        assert!(status["height"].as_u64() >= Some(21), "{status}");
    }

    #[test]
    fn an_isolated_validator_syncs_back_and_the_others_go_on_meanwhile() {
        let mut sim = Sim::new(4);
        sim.run_until(Duration::from_secs(30), |s| s.height(0) >= 3);
        sim.isolate(3);
        let cut_at = sim.height(3);
        sim.run_until(Duration::from_secs(60), |s| s.height(0) >= 15);
        assert!(sim.height(3) <= cut_at + 1, "isolated node moved on");
        sim.heal();
        let target = sim.height(0) + 3;
        sim.run_until(Duration::from_secs(60), |s| {
            (0..4).all(|i| s.height(i) >= target)
        });
        agree(&sim, target);
    }

    #[test]
    fn a_lost_link_is_made_up_by_resending() {
        // 0 -> 1 loses everything for a while: 1 still decides with the other two, and
        // once healed everything it missed is re-sent.
        let mut sim = Sim::new(4);
        sim.cut_link(0, 1);
        sim.cut_link(2, 1);
        // With two of three incoming links cut, 1 cannot see a quorum: it must sync.
        sim.run_until(Duration::from_secs(60), |s| s.height(0) >= 8);
        sim.heal();
        let target = sim.height(0) + 2;
        sim.run_until(Duration::from_secs(60), |s| {
            (0..4).all(|i| s.height(i) >= target)
        });
        agree(&sim, target);
    }

    #[test]
    fn a_killed_validator_replays_its_store_and_rejoins() {
        let mut sim = Sim::new(4);
        sim.run_until(Duration::from_secs(30), |s| s.height(2) >= 5);
        sim.kill(2);
        sim.run_until(Duration::from_secs(60), |s| s.height(0) >= 12);
        sim.boot(2);
        assert!(sim.height(2) >= 5, "replayed its stored blocks");
        let target = sim.height(0) + 3;
        sim.run_until(Duration::from_secs(60), |s| {
            (0..4).all(|i| s.height(i) >= target)
        });
        agree(&sim, target);
    }

    #[test]
    fn a_lazy_validator_is_slashed_and_the_rest_are_not() {
        let mut sim = Sim::new(4);
        sim.nodes[3].view.hooks.set(Some(true), None).unwrap();
        sim.run_until(Duration::from_secs(60), |s| {
            (0..4).all(|i| s.height(i) >= 20)
        });
        let lazy = sim.addrs[3];
        for i in 0..4 {
            let result = sim.node(i).manager().epoch_result(0).unwrap();
            for v in &result.validators {
                let slashed = v.address == lazy;
                assert_eq!(v.slashed > 0, slashed, "{v:?}");
            }
        }
    }

    #[test]
    fn posted_responses_are_judged_pooled_and_relayed() {
        let mut sim = Sim::new(4);
        sim.nodes[3].view.hooks.set(Some(true), None).unwrap();
        sim.run_until(Duration::from_secs(30), |s| s.height(0) >= 2);
        let challenge = sim.node(0).manager().challenge(2).unwrap().clone();
        let key = sim.nodes[3].key.clone();
        let genuine = clp::ClpResponse::sign(CHAIN_ID, 2, &challenge.value, &key.seed);
        let mut forged = genuine.clone();
        forged.signature = clp::Signature([1; 64]);
        let node = sim.nodes[0].node.as_mut().unwrap();
        let (verdict, out) = node.on_submission(forged);
        assert_eq!(verdict, Err(clp::RejectReason::BadSignature));
        assert!(out.is_empty());
        let (verdict, out) = node.on_submission(genuine.clone());
        assert_eq!(verdict, Ok(()));
        assert_eq!(out, vec![Out::All(Message::ClpResponse(genuine.clone()))]);
        let (verdict, _) = node.on_submission(genuine);
        assert_eq!(verdict, Err(clp::RejectReason::Duplicate));
        sim.route(0, out);
        sim.run_until(Duration::from_secs(30), |s| {
            (0..4).all(|i| s.height(i) >= 7)
        });
        let c = sim.node(1).manager().validator_statuses()[&sim.addrs[3]];
        assert_eq!(c.responses, 1, "the posted response was included");
    }
}
