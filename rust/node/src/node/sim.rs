//! A deterministic in-memory network of [`Node`]s (tests): messages are delivered in
//! order, the clock jumps to the next timer or gossip tick when nothing is in flight, and
//! directed links can be cut and healed.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clp::{Address, ClpManager};
use clp_consensus::ConsensusMessage;
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
    /// (node, height) of every consensus message a node sent that it signed itself.
    pub signed: Vec<(usize, u64)>,
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
            signed: Vec::new(),
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
            peers: (0..self.addrs.len())
                .filter(|j| *j != i)
                .map(|j| self.addrs[j])
                .collect(),
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

    /// Gives the stopped node `i` an empty store and view, as an upgrade to the other
    /// implementation does: it forgets what it signed.
    pub fn wipe(&mut self, i: usize) {
        assert!(self.nodes[i].node.is_none(), "wipe a stopped node");
        let dir = TempDir::new("sim");
        let n = &mut self.nodes[i];
        n.store = Arc::new(Store::open(&Store::path_in(&dir.0)).unwrap());
        n.view = Arc::new(View::new(
            &self.genesis,
            clp::Hash32([7; 32]),
            Hooks::new(true),
            Metrics::new(),
        ));
        n._dir = dir;
    }

    pub fn index(&self, a: &Address) -> usize {
        self.addrs.iter().position(|x| x == a).unwrap()
    }

    pub fn node(&self, i: usize) -> &Node {
        self.nodes[i].node.as_ref().unwrap()
    }

    /// Node `i` answers no challenge from now on (the `lazy` test hook).
    pub fn make_lazy(&mut self, i: usize) {
        self.nodes[i]
            .view
            .hooks
            .set(crate::view::FaultsChange {
                lazy: Some(true),
                ..Default::default()
            })
            .unwrap();
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
        for o in &out {
            let (Out::To(_, Message::Consensus { msg }) | Out::All(Message::Consensus { msg })) = o
            else {
                continue;
            };
            let (signer, height) = match msg {
                ConsensusMessage::Vote(v) => (v.validator, v.height),
                ConsensusMessage::Proposal(p) => (p.proposer, p.height),
            };
            if signer == self.addrs[from] {
                self.signed.push((from, height));
            }
        }
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
                let out = node
                    .on_tick(self.now, &SimLinks { sim: self, from: i })
                    .unwrap();
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
    fn a_validator_on_an_empty_store_signs_nothing_the_others_finalized() {
        // Node 1 proposes height 1, round 0 (addresses sorted, (h + r) mod n): without
        // the rule it would sign a new block 1 the moment it starts.
        let mut sim = Sim::new(4);
        sim.run_until(Duration::from_secs(30), |s| s.height(1) >= 5);
        sim.kill(1);
        sim.run_until(Duration::from_secs(60), |s| s.height(0) >= 40);
        sim.wipe(1);
        let finalized = sim.height(0);
        sim.signed.clear();
        sim.boot(1);
        assert_eq!(sim.height(1), 0, "an empty store");
        assert_eq!(
            sim.node(1).held(),
            Some(1),
            "nothing starts before the peers claim"
        );
        let target = finalized + 5;
        sim.run_until(Duration::from_secs(60), |s| {
            (0..4).all(|i| s.height(i) >= target)
        });
        agree(&sim, target);
        let early: Vec<u64> = sim
            .signed
            .iter()
            .filter(|(i, h)| *i == 1 && *h <= finalized)
            .map(|(_, h)| *h)
            .collect();
        assert!(
            early.is_empty(),
            "signed again at finalized heights {early:?}"
        );
        assert!(
            sim.signed.iter().any(|(i, h)| *i == 1 && *h > finalized),
            "it takes part again once synced"
        );
    }

    #[test]
    fn a_lazy_validator_is_slashed_and_the_rest_are_not() {
        let mut sim = Sim::new(4);
        sim.make_lazy(3);
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
        sim.make_lazy(3);
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

    #[test]
    fn every_vote_is_held_once_and_answers_within_the_window() {
        use clp_consensus::VoteType;
        let before = crate::view::unix_now_ms();
        let mut sim = Sim::new(4);
        sim.make_lazy(3);
        sim.run_until(Duration::from_secs(30), |s| {
            (0..4).all(|i| s.height(i) >= 6)
        });
        let view = &sim.nodes[0].view;
        assert!(view.ledger_served());
        let (votes, oldest) = view.votes(1, 5);
        assert_eq!(oldest, 1, "a fresh node holds everything from height 1");
        let mut seen = BTreeSet::new();
        for v in &votes {
            assert!(
                seen.insert(serde_json::to_string(v).unwrap()),
                "held once: {v:?}"
            );
        }
        for h in 1..=5 {
            // Its own prevote and precommit, and a quorum of precommits for the block.
            let of = |t: VoteType| {
                votes
                    .iter()
                    .filter(|v| v.height == h && v.vote_type == t)
                    .map(|v| v.validator)
                    .collect::<BTreeSet<_>>()
            };
            assert!(of(VoteType::Prevote).contains(&sim.addrs[0]), "height {h}");
            assert!(of(VoteType::Precommit).len() >= 3, "height {h}");
        }
        // Received ones too, from every validator.
        let voters: BTreeSet<_> = votes.iter().map(|v| v.validator).collect();
        assert_eq!(voters.len(), 4);
        // Answers: node 0 answered with its system time; the lazy node 3 answered none.
        let head = sim.height(0);
        let (answers, _) = view.answers(1, head);
        assert!(!answers.is_empty());
        let after = crate::view::unix_now_ms();
        for (h, t) in &answers {
            assert!(*h <= head, "{h}");
            assert!((before..=after).contains(t), "{t}");
        }
        assert!(sim.nodes[3].view.answers(1, head).0.is_empty());

        // Two epochs (E = 20) later, what is below the window is gone.
        sim.run_until(Duration::from_secs(120), |s| s.height(0) >= 45);
        let head = sim.height(0);
        let floor = crate::ledger::window_floor(head, 20);
        let (votes, oldest) = sim.nodes[0].view.votes(1, head + 1);
        assert_eq!(oldest, floor);
        assert_eq!(votes.first().map(|v| v.height), Some(floor));
        assert!(votes.iter().any(|v| v.height == head));
    }

    #[test]
    fn double_sign_sends_two_prevotes_logs_one_and_turns_itself_off() {
        use clp_consensus::{ConsensusMessage, VoteType};
        let mut sim = Sim::new(4);
        sim.run_until(Duration::from_secs(30), |s| s.height(0) >= 2);
        let arm = crate::view::FaultsChange {
            double_sign: Some(true),
            ..Default::default()
        };
        sim.nodes[1].view.hooks.set(arm).unwrap();
        let me = sim.addrs[1];
        sim.run_until(Duration::from_secs(10), |s| {
            !s.nodes[1].view.hooks.double_sign()
        });
        let prevotes_of = |sim: &Sim, i: usize| {
            let (votes, _) = sim.nodes[i].view.votes(1, 1000);
            votes
                .into_iter()
                .filter(|v| v.validator == me && v.vote_type == VoteType::Prevote)
                .collect::<Vec<_>>()
        };
        let mine = prevotes_of(&sim, 1);
        let (h, r) = mine
            .windows(2)
            .find(|w| (w[0].height, w[0].round) == (w[1].height, w[1].round))
            .map(|w| (w[0].height, w[0].round))
            .expect("two prevotes for one height and round");
        let pair: Vec<_> = mine
            .iter()
            .filter(|v| (v.height, v.round) == (h, r))
            .cloned()
            .collect();
        assert_eq!(pair.len(), 2);
        assert_ne!(pair[0].block_hash, pair[1].block_hash);
        // The restart log keeps the first only: the one with a block when there was one.
        let stored: Vec<ConsensusMessage> = sim.nodes[1].store.own_messages(h).unwrap();
        let logged: Vec<_> = stored
            .iter()
            .filter_map(|m| match m {
                ConsensusMessage::Vote(v)
                    if (v.height, v.round, v.vote_type) == (h, r, VoteType::Prevote) =>
                {
                    Some(v.clone())
                }
                _ => None,
            })
            .collect();
        assert_eq!(logged.len(), 1);
        assert!(pair.contains(&logged[0]));
        // Restarted at once (the height is not decided yet), it goes on with the chain.
        assert!(!sim.nodes[1].view.hooks.get().double_sign);
        assert_eq!(sim.height(1), h - 1, "still deciding {h}");
        sim.kill(1);
        sim.boot(1);
        assert_eq!(
            sim.nodes[1].view.ledger_oldest(),
            h + 1,
            "what it received at the height it was deciding is not complete"
        );
        let target = sim.height(0) + 3;
        sim.run_until(Duration::from_secs(60), |s| {
            (0..4).all(|i| s.height(i) >= target)
        });
        agree(&sim, target);
        // A peer that was at that height holds both as evidence.
        assert!(
            (0..4).filter(|i| *i != 1).any(|i| prevotes_of(&sim, i)
                .iter()
                .filter(|v| v.height == h)
                .count()
                == 2),
            "no peer kept the equivocation"
        );
        let later = prevotes_of(&sim, 1)
            .into_iter()
            .filter(|v| v.height > h)
            .collect::<Vec<_>>();
        let slots: BTreeSet<_> = later.iter().map(|v| (v.height, v.round)).collect();
        assert_eq!(slots.len(), later.len(), "signed twice only once");
    }
}
