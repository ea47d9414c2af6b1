//! A deterministic network simulator: 4-7 validators with random stakes run the core
//! through message delays, drops and a partition before a global stabilisation time (GST)
//! and a crash-restart of one validator from its recorded messages. Checked: agreement
//! (no two validators decide different blocks at a height, every certificate verifies),
//! no honest validator ever signs two different votes for one (height, round, type), and
//! liveness (after GST every validator decides the next heights).

use std::collections::{BTreeMap, HashMap};

use clp_consensus::{
    Action, Address, Application, Block, BlockHash, CommitCertificate, Consensus, ConsensusMessage,
    Recorded, Timeout, TimeoutConfig, Validator, ValidatorSet, VoteType,
};
use ed25519_dalek::SigningKey;
use proptest::prelude::*;

const CHAIN: &str = "clp-sim";
/// Longer than the testnet's 200 ms: fewer heights per simulated second keep the
/// (unoptimised, signature-heavy) test fast without changing what it checks.
const BLOCK_INTERVAL_MS: u64 = 1_000;
const GOSSIP_EVERY_MS: u64 = 1000;
const MAX_DRIFT_MS: u64 = 2000;
const AFTER_GST_DELAY_MS: u64 = 100;
/// Heights every validator must decide after GST, within `LIVENESS_WINDOW_MS`.
const NEXT_HEIGHTS: u64 = 2;
const LIVENESS_WINDOW_MS: u64 = 60_000;

/// SplitMix64: the simulator's only source of choices, seeded by proptest.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    fn percent(&mut self, p: u64) -> bool {
        self.next() % 100 < p
    }
}

/// The scenario proptest chooses.
#[derive(Debug, Clone)]
struct Scenario {
    seed: u64,
    stakes: Vec<u64>,
    gst_ms: u64,
    /// The highest drop rate of a link; each directed link draws its own rate up to it,
    /// so validators see different parts of a round (what locks are for).
    drop_percent: u64,
    max_delay_ms: u64,
    /// Nodes cut off from the rest during `partition_ms` (before GST).
    partition: Vec<bool>,
    partition_ms: (u64, u64),
    /// `(node, crash at, restart at)`, restart before GST; `u64::MAX` for none.
    crash: (usize, u64, u64),
    /// Also crash a node right after it records a vote of this type and height (before
    /// sending it), restarting it 500 ms later.
    crash_after_recording: Option<(usize, VoteType, u64)>,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (4usize..=7)
        .prop_flat_map(|n| {
            (
                any::<u64>(),
                proptest::collection::vec(1u64..=100, n),
                3_000u64..=8_000,
                0u64..=50,
                0u64..=1_500,
                proptest::collection::vec(any::<bool>(), n),
                (0u64..=8_000, 0u64..=8_000),
                (0..n, 0u64..=8_000, 0u64..=4_000),
                proptest::option::of((0..n, any::<bool>(), 1u64..=2)),
            )
        })
        .prop_map(
            |(
                seed,
                stakes,
                gst_ms,
                drop_percent,
                max_delay_ms,
                partition,
                (a, b),
                (node, at, down),
                after,
            )| {
                let (start, end) = (a.min(b).min(gst_ms), a.max(b).min(gst_ms));
                let crash_at = at.min(gst_ms);
                Scenario {
                    seed,
                    stakes,
                    gst_ms,
                    drop_percent,
                    max_delay_ms,
                    partition,
                    partition_ms: (start, end),
                    crash: (node, crash_at, (crash_at + down).min(gst_ms)),
                    crash_after_recording: after.map(|(node, precommit, height)| {
                        let t = if precommit {
                            VoteType::Precommit
                        } else {
                            VoteType::Prevote
                        };
                        (node, t, height)
                    }),
                }
            },
        )
}

/// What a node stored durably: its chain and its own signed messages per height.
#[derive(Default)]
struct Disk {
    chain: Vec<(Block, CommitCertificate)>,
    recorded: BTreeMap<u64, Recorded>,
}

/// The node side of the core: its chain head and clock.
struct SimApp {
    me: Address,
    now_ms: u64,
    head_height: u64,
    head_hash: BlockHash,
    head_time_ms: u64,
}

impl Application for SimApp {
    fn validate(&mut self, block: &Block) -> Result<(), String> {
        if block.height != self.head_height + 1 {
            return Err("WRONG_HEIGHT".into());
        }
        if block.parent_hash != self.head_hash {
            return Err("WRONG_PARENT".into());
        }
        if block.time_ms < self.head_time_ms {
            return Err("TIME_NOT_MONOTONIC".into());
        }
        Ok(())
    }

    fn is_timely(&mut self, block: &Block) -> bool {
        block.time_ms.abs_diff(self.now_ms) <= MAX_DRIFT_MS
    }

    fn build_block(&mut self, height: u64, _round: u64) -> Option<Block> {
        let time = self.now_ms.max(self.head_time_ms);
        Block::new(CHAIN, height, time, self.head_hash, self.me, vec![]).ok()
    }
}

struct Node {
    key: SigningKey,
    address: Address,
    core: Option<Consensus>,
    /// Bumped at each crash: events of an earlier life are dropped.
    life: u64,
    disk: Disk,
}

enum Payload {
    Consensus(String),
    Status(u64),
    SyncRequest(u64),
    SyncResponse(Vec<(Block, CommitCertificate)>),
}

enum Event {
    Deliver {
        to: usize,
        from: usize,
        payload: Payload,
    },
    Timeout {
        node: usize,
        life: u64,
        timeout: Timeout,
    },
    StartHeight {
        node: usize,
        life: u64,
        height: u64,
    },
    Tick {
        node: usize,
        life: u64,
    },
    Crash {
        node: usize,
    },
    Restart {
        node: usize,
    },
}

struct Sim {
    scenario: Scenario,
    rng: Rng,
    now: u64,
    seq: u64,
    events: BTreeMap<(u64, u64), Event>,
    nodes: Vec<Node>,
    set: ValidatorSet,
    genesis_hash: BlockHash,
    /// Every decision anywhere: height → block hash (agreement).
    decided: HashMap<u64, BlockHash>,
    /// Every own vote signed anywhere: (validator, height, round, type) → value.
    signed_votes: HashMap<(Address, u64, u64, VoteType), Option<BlockHash>>,
    stats: Stats,
    /// Drop rate of each directed link before GST.
    link_drop: Vec<Vec<u64>>,
    /// Crash this node right after it records its first vote of this type and height,
    /// before sending it; restart it 500 ms later.
    crash_after_recording: Option<(usize, VoteType, u64)>,
}

/// What a run went through, to see that the scenarios reach the interesting cases.
#[derive(Debug, Default)]
struct Stats {
    decisions: u64,
    decisions_after_round_0: u64,
    synced_blocks: u64,
    restarts_with_record: u64,
    max_round: u64,
}

impl Sim {
    fn new(scenario: Scenario) -> Sim {
        let nodes: Vec<Node> = (0..scenario.stakes.len())
            .map(|i| {
                let key = SigningKey::from_bytes(&[i as u8 + 1; 32]);
                let address =
                    Address::from_public_key(&clp::PublicKey(key.verifying_key().to_bytes()));
                Node {
                    key,
                    address,
                    core: None,
                    life: 0,
                    disk: Disk::default(),
                }
            })
            .collect();
        let set = ValidatorSet::new(
            nodes
                .iter()
                .zip(&scenario.stakes)
                .map(|(n, stake)| Validator {
                    address: n.address,
                    public_key: n.key.verifying_key(),
                    stake: *stake,
                })
                .collect(),
        )
        .unwrap();
        let mut rng = Rng(scenario.seed);
        let n = scenario.stakes.len();
        let link_drop = (0..n)
            .map(|_| {
                (0..n)
                    .map(|_| rng.range(0, scenario.drop_percent))
                    .collect()
            })
            .collect();
        Sim {
            crash_after_recording: scenario.crash_after_recording,
            link_drop,
            rng,
            scenario,
            now: 0,
            seq: 0,
            events: BTreeMap::new(),
            nodes,
            set,
            genesis_hash: BlockHash::from([0x5e; 32]),
            decided: HashMap::new(),
            signed_votes: HashMap::new(),
            stats: Stats::default(),
        }
    }

    fn at(&mut self, time: u64, event: Event) {
        self.seq += 1;
        self.events.insert((time, self.seq), event);
    }

    fn app(&self, i: usize) -> SimApp {
        let node = &self.nodes[i];
        let (head_height, head_hash, head_time_ms) = match node.disk.chain.last() {
            Some((b, _)) => (b.height, b.hash, b.time_ms),
            None => (0, self.genesis_hash, 0),
        };
        SimApp {
            me: node.address,
            now_ms: self.now,
            head_height,
            head_hash,
            head_time_ms,
        }
    }

    fn head(&self, i: usize) -> u64 {
        self.nodes[i].disk.chain.len() as u64
    }

    /// Sends over the simulated link `from → to`: dropped or delayed before GST.
    fn send(&mut self, from: usize, to: usize, payload: Payload) {
        let s = &self.scenario;
        let delay = if self.now < s.gst_ms {
            let (p0, p1) = s.partition_ms;
            let cut = self.now >= p0 && self.now < p1 && s.partition[from] != s.partition[to];
            if cut || self.rng.percent(self.link_drop[from][to]) {
                return;
            }
            let max = s.max_delay_ms;
            self.rng.range(0, max)
        } else {
            self.rng.range(1, AFTER_GST_DELAY_MS)
        };
        self.at(self.now + delay, Event::Deliver { to, from, payload });
    }

    fn broadcast(&mut self, from: usize, message: &ConsensusMessage) {
        let text = serde_json::to_string(message).unwrap();
        for to in 0..self.nodes.len() {
            if to != from {
                self.send(from, to, Payload::Consensus(text.clone()));
            }
        }
    }

    /// Starts the node's next height from its disk (its recorded messages included).
    fn start_next_height(&mut self, i: usize) {
        let height = self.head(i) + 1;
        let recorded = self.nodes[i].disk.recorded.get(&height);
        let recorded = Recorded {
            proposals: recorded.map_or(vec![], |r| r.proposals.clone()),
            votes: recorded.map_or(vec![], |r| r.votes.clone()),
        };
        if !recorded.votes.is_empty() || !recorded.proposals.is_empty() {
            self.stats.restarts_with_record += 1;
        }
        let mut app = self.app(i);
        let key = self.nodes[i].key.clone();
        let set = self.set.clone();
        let core = self.nodes[i].core.as_mut().unwrap();
        let actions = core.start_height(height, set, Some(key), recorded, &mut app);
        self.run(i, actions);
    }

    fn run(&mut self, i: usize, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::SignedProposal(p) => {
                    let record = self.nodes[i].disk.recorded.entry(p.height).or_default();
                    if !record.proposals.contains(&p) {
                        assert!(
                            record.proposals.iter().all(|q| q.round != p.round),
                            "two proposals for one round"
                        );
                        record.proposals.push(p.clone());
                    }
                    self.broadcast(i, &ConsensusMessage::Proposal(p));
                }
                Action::SignedVote(v) => {
                    let key = (v.validator, v.height, v.round, v.vote_type);
                    if let Some(earlier) = self.signed_votes.insert(key, v.block_hash) {
                        assert_eq!(
                            earlier, v.block_hash,
                            "validator {i} signed a conflicting vote"
                        );
                    }
                    let record = self.nodes[i].disk.recorded.entry(v.height).or_default();
                    if !record.votes.contains(&v) {
                        record.votes.push(v.clone());
                    }
                    if self.crash_after_recording == Some((i, v.vote_type, v.height)) {
                        self.crash_after_recording = None;
                        self.crash(i);
                        self.at(self.now + 500, Event::Restart { node: i });
                        return; // recorded, never sent, the rest of the actions lost
                    }
                    self.broadcast(i, &ConsensusMessage::Vote(v));
                }
                Action::ScheduleTimeout(timeout) => {
                    let life = self.nodes[i].life;
                    self.at(
                        self.now + timeout.duration_ms,
                        Event::Timeout {
                            node: i,
                            life,
                            timeout,
                        },
                    );
                }
                Action::Decide(d) => {
                    let h = d.block.height;
                    assert_eq!(h, self.head(i) + 1, "decisions come in height order");
                    d.certificate
                        .verify(CHAIN, h, &d.block.hash, &self.set)
                        .expect("a decision's certificate verifies");
                    if let Some(other) = self.decided.insert(h, d.block.hash) {
                        assert_eq!(other, d.block.hash, "disagreement at height {h}");
                    }
                    self.stats.decisions += 1;
                    self.stats.decisions_after_round_0 += u64::from(d.certificate.round > 0);
                    self.stats.max_round = self.stats.max_round.max(d.certificate.round);
                    self.nodes[i].disk.chain.push((d.block, d.certificate));
                    let life = self.nodes[i].life;
                    self.at(
                        self.now + BLOCK_INTERVAL_MS,
                        Event::StartHeight {
                            node: i,
                            life,
                            height: h + 1,
                        },
                    );
                }
                Action::Equivocation(e) => panic!("an honest validator equivocated: {e:?}"),
            }
        }
    }

    fn deliver(&mut self, to: usize, from: usize, payload: Payload) {
        if self.nodes[to].core.is_none() {
            return;
        }
        match payload {
            Payload::Consensus(text) => {
                let message: ConsensusMessage = serde_json::from_str(&text).unwrap();
                let mut app = self.app(to);
                let core = self.nodes[to].core.as_mut().unwrap();
                let result = match message {
                    ConsensusMessage::Proposal(p) => core.on_proposal(p, &mut app),
                    ConsensusMessage::Vote(v) => core.on_vote(v, &mut app),
                };
                let actions = result.expect("honest messages are accepted");
                self.run(to, actions);
            }
            Payload::Status(claim) => {
                if claim > self.head(to) {
                    let from_height = self.head(to) + 1;
                    self.send(to, from, Payload::SyncRequest(from_height));
                }
            }
            Payload::SyncRequest(first) => {
                let blocks: Vec<_> = self.nodes[to]
                    .disk
                    .chain
                    .iter()
                    .skip(first as usize - 1)
                    .take(32)
                    .cloned()
                    .collect();
                if !blocks.is_empty() {
                    self.send(to, from, Payload::SyncResponse(blocks));
                }
            }
            Payload::SyncResponse(blocks) => {
                for (block, certificate) in blocks {
                    if self.nodes[to].core.is_none() || block.height != self.head(to) + 1 {
                        continue;
                    }
                    let core = self.nodes[to].core.as_ref().unwrap();
                    if core.height() < block.height {
                        // Decided the previous height and waiting out the interval.
                        self.start_next_height(to);
                    }
                    // Starting the height may have recorded a vote the scenario crashes
                    // the node after: the rest of this answer is lost with it.
                    let Some(core) = self.nodes[to].core.as_mut() else {
                        break;
                    };
                    let actions = core
                        .on_certificate(block, certificate)
                        .expect("a synced certificate verifies");
                    self.stats.synced_blocks += 1;
                    self.run(to, actions);
                }
            }
        }
    }

    /// Loses everything but the disk; pending timers of this life are void.
    fn crash(&mut self, i: usize) {
        self.nodes[i].core = None;
        self.nodes[i].life += 1;
    }

    fn tick(&mut self, i: usize) {
        let core = self.nodes[i].core.as_ref().unwrap();
        let (proposals, votes) = core.own_messages();
        // Relays as the node sends them: to each peer less what it signed or its own
        // votes show it holds.
        let mut relays = Vec::new();
        for to in (0..self.nodes.len()).filter(|to| *to != i) {
            let (relay_p, relay_v) = core.relay_messages_for(&self.nodes[to].address);
            for m in relay_p
                .into_iter()
                .map(ConsensusMessage::Proposal)
                .chain(relay_v.into_iter().map(ConsensusMessage::Vote))
            {
                relays.push((to, serde_json::to_string(&m).unwrap()));
            }
        }
        for p in proposals {
            self.broadcast(i, &ConsensusMessage::Proposal(p));
        }
        for v in votes {
            self.broadcast(i, &ConsensusMessage::Vote(v));
        }
        for (to, text) in relays {
            self.send(i, to, Payload::Consensus(text));
        }
        let head = self.head(i);
        for to in 0..self.nodes.len() {
            if to != i {
                self.send(i, to, Payload::Status(head));
            }
        }
        let life = self.nodes[i].life;
        self.at(self.now + GOSSIP_EVERY_MS, Event::Tick { node: i, life });
    }

    fn boot(&mut self, i: usize) {
        self.nodes[i].core = Some(Consensus::new(
            CHAIN,
            TimeoutConfig {
                propose_ms: 600,
                prevote_ms: 300,
                precommit_ms: 300,
                delta_ms: 200,
            },
        ));
        self.start_next_height(i);
        let life = self.nodes[i].life;
        let first_tick = self.now + self.rng.range(1, GOSSIP_EVERY_MS);
        self.at(first_tick, Event::Tick { node: i, life });
    }

    /// Runs until `until_ms`.
    fn run_until(&mut self, until_ms: u64) {
        while let Some(entry) = self.events.first_entry() {
            if entry.key().0 > until_ms {
                break;
            }
            let ((time, _), event) = entry.remove_entry();
            self.now = time;
            let alive = |s: &Sim, node: usize, life: u64| {
                s.nodes[node].core.is_some() && s.nodes[node].life == life
            };
            match event {
                Event::Deliver { to, from, payload } => self.deliver(to, from, payload),
                Event::Timeout {
                    node,
                    life,
                    timeout,
                } => {
                    if alive(self, node, life) {
                        let mut app = self.app(node);
                        let core = self.nodes[node].core.as_mut().unwrap();
                        let actions =
                            core.on_timeout(timeout.kind, timeout.height, timeout.round, &mut app);
                        self.run(node, actions);
                    }
                }
                Event::StartHeight { node, life, height } => {
                    let started = self.nodes[node].core.as_ref().map_or(0, |c| c.height());
                    if alive(self, node, life) && started < height && self.head(node) + 1 == height
                    {
                        self.start_next_height(node);
                    }
                }
                Event::Tick { node, life } => {
                    if alive(self, node, life) {
                        self.tick(node);
                    }
                }
                Event::Crash { node } => self.crash(node),
                Event::Restart { node } => self.boot(node),
            }
        }
        self.now = until_ms;
    }
}

/// Runs a scenario, checks agreement and liveness; returns the heads at GST and the sim.
fn simulate(scenario: Scenario) -> (Vec<u64>, Sim) {
    run_scenario(Sim::new(scenario))
}

fn run_scenario(mut sim: Sim) -> (Vec<u64>, Sim) {
    let gst = sim.scenario.gst_ms;
    let (crashed, crash_at, restart_at) = sim.scenario.crash;
    for i in 0..sim.nodes.len() {
        sim.boot(i);
    }
    if crash_at != u64::MAX {
        sim.at(crash_at, Event::Crash { node: crashed });
        sim.at(restart_at, Event::Restart { node: crashed });
    }
    sim.run_until(gst);
    let at_gst: Vec<u64> = (0..sim.nodes.len()).map(|i| sim.head(i)).collect();
    let highest = *at_gst.iter().max().unwrap();
    let target = highest + NEXT_HEIGHTS;
    let mut until = gst;
    while until < gst + LIVENESS_WINDOW_MS {
        until += 1_000;
        sim.run_until(until);
        if (0..sim.nodes.len()).all(|i| sim.head(i) >= target) {
            break;
        }
    }
    let heads: Vec<u64> = (0..sim.nodes.len()).map(|i| sim.head(i)).collect();
    assert!(
        heads.iter().all(|h| *h >= target),
        "liveness: heads {heads:?} did not all reach {target} within {LIVENESS_WINDOW_MS} ms after GST"
    );
    eprintln!("heads {heads:?} {:?}", sim.stats);
    // Every node's chain is one chain.
    for node in &sim.nodes {
        for (block, _) in &node.disk.chain {
            assert_eq!(sim.decided[&block.height], block.hash);
        }
    }
    (at_gst, sim)
}

proptest! {
    // 12 cases by default (debug-build signatures are slow); PROPTEST_CASES overrides.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(12),
        ..ProptestConfig::default()
    })]

    #[test]
    fn agreement_always_and_liveness_after_gst(s in scenario()) {
        let _ = simulate(s);
    }
}

#[test]
fn a_calm_network_decides_a_block_per_height_in_round_zero() {
    let scenario = Scenario {
        seed: 1,
        stakes: vec![10, 20, 30, 40],
        gst_ms: 0,
        drop_percent: 0,
        max_delay_ms: 0,
        partition: vec![false; 4],
        partition_ms: (0, 0),
        crash: (0, u64::MAX, u64::MAX),
        crash_after_recording: None,
    };
    let mut sim = Sim::new(scenario);
    for i in 0..4 {
        sim.boot(i);
    }
    sim.run_until(5_000);
    for node in &sim.nodes {
        assert!(node.disk.chain.len() >= 4, "{}", node.disk.chain.len());
        assert!(node.disk.chain.iter().all(|(_, c)| c.round == 0));
    }
}

#[test]
fn a_minority_partition_stalls_nobody_and_heals() {
    // Node 3 holds less than a third: the rest go on, and it catches up after GST.
    let scenario = Scenario {
        seed: 7,
        stakes: vec![30, 30, 30, 20],
        gst_ms: 6_000,
        drop_percent: 0,
        max_delay_ms: 50,
        partition: vec![false, false, false, true],
        partition_ms: (0, 6_000),
        crash: (0, u64::MAX, u64::MAX),
        crash_after_recording: None,
    };
    let (at_gst, sim) = simulate(scenario);
    assert_eq!(at_gst[3], 0, "cut off from the start");
    assert!(
        at_gst[..3].iter().all(|h| *h >= 3),
        "the majority went on: {at_gst:?}"
    );
    assert!(
        sim.stats.synced_blocks >= at_gst[0],
        "node 3 caught up by sync"
    );
}

#[test]
fn a_validator_crashed_between_recording_and_sending_resumes_from_its_record() {
    for (node, vote_type, height) in [
        (0, VoteType::Prevote, 1),
        (1, VoteType::Precommit, 1),
        (2, VoteType::Precommit, 2),
        (4, VoteType::Prevote, 3),
    ] {
        let scenario = Scenario {
            seed: height * 10 + node as u64,
            stakes: vec![25, 25, 25, 25, 25],
            gst_ms: 2_000,
            drop_percent: 10,
            max_delay_ms: 300,
            partition: vec![false; 5],
            partition_ms: (0, 0),
            crash: (0, u64::MAX, u64::MAX),
            crash_after_recording: Some((node, vote_type, height)),
        };
        let sim = Sim::new(scenario);
        let (_, sim) = run_scenario(sim);
        assert_eq!(sim.crash_after_recording, None, "the crash happened");
        assert_eq!(
            sim.stats.restarts_with_record, 1,
            "{node} {vote_type:?} {height}"
        );
    }
}
