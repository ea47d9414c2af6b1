//! What the REST API reads, published by the node loop (docs/protocol.md §11, §14).
//!
//! The node loop owns the chain state ([`clp::ClpManager`], consensus). After each commit
//! it calls [`View::publish_commit`]; the API only ever reads the last published snapshot,
//! so a request never waits for consensus and never sees a half-applied block. Blocks and
//! certificates are read from the [`crate::store::Store`], which the loop writes first.
//!
//! The other direction: `POST /alpha/clp/response` hands a parsed response to the loop
//! through [`ResponseQueue`] and awaits its §5 verdict.
//!
//! The §14 test hooks ([`Hooks`]) are set by the API and read by the loop.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use clp::{
    Address, BlockOutcome, ClpChallenge, ClpEpochResult, ClpManager, ClpResponse, Committee,
    Hash32, RejectReason, ValidatorCounters, ValidatorInfo,
};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::ledger::{window_floor, Ledger};
use crate::metrics::Metrics;

/// `GET /alpha/chain/head`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Head {
    pub height: u64,
    pub hash: Hash32,
    /// `epoch(height)`, 0 at height 0 (§3).
    pub epoch: u64,
}

/// `GET /alpha/clp/status` (§11), with the optional `stakes` and `burned`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClpStatus {
    /// §11's *current epoch*: `epoch(n + 1)`, the epoch of the next block.
    pub current_epoch: u64,
    pub height: u64,
    pub active_challenges: Vec<ClpChallenge>,
    pub validator_statuses: BTreeMap<Address, ValidatorCounters>,
    pub last_epoch_result: Option<ClpEpochResult>,
    pub stakes: BTreeMap<Address, u64>,
    pub burned: u64,
}

/// One published state of the chain as the API serves it.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub head: Head,
    /// `committees[e]` is `committee(e)`.
    pub committees: Vec<Committee>,
    /// `results[e]` is the result of epoch e.
    pub results: Vec<ClpEpochResult>,
    pub status: ClpStatus,
    /// Every genesis validator's `/alpha/clp/validator/{address}` record.
    pub validators: BTreeMap<Address, ValidatorInfo>,
}

impl Snapshot {
    /// The state of `manager`, whose last applied block has hash `head_hash` (the genesis
    /// hash at height 0). Keeps the committees and results of `prev`, adding new ones.
    fn of(manager: &ClpManager, head_hash: Hash32, prev: Option<&Snapshot>) -> Self {
        let mut committees = prev.map(|p| p.committees.clone()).unwrap_or_default();
        while let Some(c) = manager.committee(committees.len() as u64) {
            committees.push(c.clone());
        }
        let mut results = prev.map(|p| p.results.clone()).unwrap_or_default();
        while let Some(r) = manager.epoch_result(results.len() as u64) {
            results.push(r.clone());
        }
        let validators = manager
            .validators()
            .keys()
            .filter_map(|a| manager.validator_info(a).map(|i| (*a, i)))
            .collect();
        Self {
            head: Head {
                height: manager.height(),
                hash: head_hash,
                epoch: manager.current_epoch(),
            },
            committees,
            results,
            status: ClpStatus {
                current_epoch: manager.next_block_epoch(),
                height: manager.height(),
                active_challenges: manager.active_challenges(),
                validator_statuses: manager.validator_statuses().clone(),
                last_epoch_result: manager.last_epoch_result().cloned(),
                stakes: manager.stakes().clone(),
                burned: manager.burned(),
            },
            validators,
        }
    }
}

/// The §14 test hooks. With hooks disabled in the config they stay at their defaults
/// (not lazy, no clock offset, no double signing) whatever is asked.
#[derive(Debug, Default)]
pub struct Hooks {
    enabled: bool,
    lazy: AtomicBool,
    clock_offset_ms: AtomicI64,
    /// Armed until the loop signs its next prevote (then twice, and it disarms).
    double_sign: AtomicBool,
}

/// `POST /admin/faults`: the hooks to change (None keeps one).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultsChange {
    pub lazy: Option<bool>,
    pub clock_offset_ms: Option<i64>,
    pub double_sign: Option<bool>,
}

/// The largest `clock_offset_ms` either way (one hour, §14).
pub const MAX_CLOCK_OFFSET_MS: i64 = 3_600_000;

/// `GET /admin/faults`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Faults {
    pub lazy: bool,
    pub clock_offset_ms: i64,
    pub double_sign: bool,
}

impl Hooks {
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            ..Self::default()
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// `lazy`: the validator keeps voting and proposing but sends no CLP responses.
    pub fn lazy(&self) -> bool {
        self.lazy.load(Ordering::Relaxed)
    }

    pub fn clock_offset_ms(&self) -> i64 {
        self.clock_offset_ms.load(Ordering::Relaxed)
    }

    /// `double_sign`: whether the next prevote is to be signed twice (still armed).
    pub fn double_sign(&self) -> bool {
        self.double_sign.load(Ordering::Relaxed)
    }

    /// Disarms `double_sign`; true when it was armed (the caller signs twice, once).
    pub fn take_double_sign(&self) -> bool {
        self.double_sign.swap(false, Ordering::Relaxed)
    }

    pub fn get(&self) -> Faults {
        Faults {
            lazy: self.lazy(),
            clock_offset_ms: self.clock_offset_ms(),
            double_sign: self.double_sign(),
        }
    }

    /// Applies the given fields (a missing one keeps its value); the offset must be
    /// within ±[`MAX_CLOCK_OFFSET_MS`]. Returns the hooks now in force.
    pub fn set(&self, change: FaultsChange) -> Result<Faults, String> {
        let FaultsChange {
            lazy,
            clock_offset_ms,
            double_sign,
        } = change;
        if !self.enabled {
            return Err("test hooks are disabled".into());
        }
        if let Some(o) = clock_offset_ms {
            if !(-MAX_CLOCK_OFFSET_MS..=MAX_CLOCK_OFFSET_MS).contains(&o) {
                return Err(format!(
                    "clock_offset_ms {o} is outside ±{MAX_CLOCK_OFFSET_MS}"
                ));
            }
        }
        if let Some(l) = lazy {
            self.lazy.store(l, Ordering::Relaxed);
        }
        if let Some(o) = clock_offset_ms {
            self.clock_offset_ms.store(o, Ordering::Relaxed);
        }
        if let Some(d) = double_sign {
            self.double_sign.store(d, Ordering::Relaxed);
        }
        Ok(self.get())
    }

    /// The node's block-time clock: Unix milliseconds plus the hooked offset.
    pub fn now_ms(&self) -> u64 {
        let now = i64::try_from(unix_now_ms()).unwrap_or(i64::MAX);
        now.saturating_add(self.clock_offset_ms()).max(0) as u64
    }
}

/// The system clock in Unix milliseconds, never shifted by a hook (when an answer was
/// sent, §11).
pub fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A response POSTed to the API, waiting for the node loop's verdict: `Ok(())` when it is
/// valid for the next block and was taken into the pool (then gossiped), else the §5
/// reason. The loop answers every submission it receives.
#[derive(Debug)]
pub struct Submission {
    pub response: ClpResponse,
    pub verdict: oneshot::Sender<Result<(), RejectReason>>,
}

/// The API's end of the submission channel.
#[derive(Debug, Clone)]
pub struct ResponseQueue(mpsc::Sender<Submission>);

/// How many POSTed responses may wait for the loop at once; more get 503.
pub const SUBMISSION_QUEUE: usize = 1024;

/// A submission channel: the API keeps the queue, the node loop receives.
pub fn response_channel() -> (ResponseQueue, mpsc::Receiver<Submission>) {
    let (tx, rx) = mpsc::channel(SUBMISSION_QUEUE);
    (ResponseQueue(tx), rx)
}

/// Why a submission got no verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// The queue is full.
    Busy,
    /// The node loop stopped.
    Stopped,
}

impl ResponseQueue {
    /// Hands `response` to the node loop and waits for its verdict.
    pub async fn submit(
        &self,
        response: ClpResponse,
    ) -> Result<Result<(), RejectReason>, Unavailable> {
        let (tx, rx) = oneshot::channel();
        self.0
            .try_send(Submission {
                response,
                verdict: tx,
            })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => Unavailable::Busy,
                mpsc::error::TrySendError::Closed(_) => Unavailable::Stopped,
            })?;
        rx.await.map_err(|_| Unavailable::Stopped)
    }
}

/// What the API reads; shared by the API and the node loop.
#[derive(Debug)]
pub struct View {
    snapshot: RwLock<Arc<Snapshot>>,
    consensus: RwLock<Value>,
    /// Genesis names by address, for per-validator metrics.
    names: BTreeMap<Address, String>,
    /// Votes and own answers for `/alpha/consensus/votes` and `/alpha/clp/answers`.
    ledger: Mutex<Ledger>,
    /// Whether the loop records votes and answers (until then both endpoints are 404,
    /// which §11 reads as "not served", rather than an empty list that claims none).
    ledger_served: AtomicBool,
    epoch_length: u64,
    /// This node's validator address (the `validator` of `/alpha/clp/answers`).
    own: Option<Address>,
    pub hooks: Hooks,
    pub metrics: Metrics,
}

impl View {
    /// The view of a node at `manager`'s height (normally 0, before replay) whose head
    /// block hash is `head_hash` (the genesis hash at height 0).
    pub fn new(manager: &ClpManager, head_hash: Hash32, hooks: Hooks, metrics: Metrics) -> Self {
        let names = manager
            .validators()
            .values()
            .map(|v| (v.address, v.name.clone()))
            .collect();
        let view = Self {
            snapshot: RwLock::new(Arc::new(Snapshot::of(manager, head_hash, None))),
            consensus: RwLock::new(serde_json::json!({
                "height": manager.height() + 1, "round": 0, "step": "", "peers": [], "pool": 0
            })),
            names,
            ledger: Mutex::new(Ledger::new()),
            ledger_served: AtomicBool::new(false),
            epoch_length: manager.config().epoch_length,
            own: None,
            hooks,
            metrics,
        };
        view.update_gauges(&view.snapshot());
        view
    }

    /// Names this node's own validator address.
    pub fn with_own_address(mut self, own: Address) -> Self {
        self.own = Some(own);
        self
    }

    pub fn own_address(&self) -> Option<Address> {
        self.own
    }

    /// The last published snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Publishes `manager`'s state after it applied the block with hash `head_hash`
    /// (also after replaying the stored chain at start-up). Counters are untouched: see
    /// [`View::record_commit`].
    pub fn publish(&self, manager: &ClpManager, head_hash: Hash32) {
        let prev = self.snapshot();
        let next = Arc::new(Snapshot::of(manager, head_hash, Some(&prev)));
        self.update_gauges(&next);
        let floor = window_floor(next.head.height, self.epoch_length);
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = next;
        self.ledger().prune(floor);
    }

    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Declares that the loop records every vote it holds ([`View::record_vote`]) and its
    /// own answers ([`View::record_answer`]): `/alpha/consensus/votes` and
    /// `/alpha/clp/answers` are served from then on.
    pub fn serve_ledger(&self) {
        self.ledger_served.store(true, Ordering::Relaxed);
    }

    pub fn ledger_served(&self) -> bool {
        self.ledger_served.load(Ordering::Relaxed)
    }

    /// Declares that the votes received below `height` are not held completely (the node
    /// restarted while deciding `height - 1`): §11's `oldest` is at least `height`.
    pub fn ledger_complete_from(&self, height: u64) {
        self.ledger().complete_from(height);
    }

    /// Keeps a signed prevote or precommit (own or received, signature verified) for
    /// `/alpha/consensus/votes`; false when it is not kept (see [`Ledger::record_vote`]).
    pub fn record_vote(&self, vote: &clp_consensus::Vote) -> bool {
        self.ledger().record_vote(vote)
    }

    /// Notes that this node first sent its answer to the challenge of height `h` at
    /// `sent_at_ms` (its block-time clock) for `/alpha/clp/answers`.
    pub fn record_answer(&self, h: u64, sent_at_ms: u64) {
        self.ledger().record_answer(h, sent_at_ms);
    }

    /// The votes of heights `from..=to`, and the lowest height still held.
    pub fn votes(&self, from: u64, to: u64) -> (Vec<clp_consensus::Vote>, u64) {
        let l = self.ledger();
        (l.votes(from, to), l.oldest())
    }

    /// Own answers to challenges `from..=to`, and the lowest height still held.
    pub fn answers(&self, from: u64, to: u64) -> (Vec<(u64, u64)>, u64) {
        let l = self.ledger();
        (l.answers(from, to), l.oldest())
    }

    /// The challenge heights of the oldest and newest own answer kept.
    pub fn answer_span(&self) -> Option<(u64, u64)> {
        self.ledger().answer_span()
    }

    /// The lowest height whose votes and answers are still held.
    pub fn ledger_oldest(&self) -> u64 {
        self.ledger().oldest()
    }

    /// Counts what one newly finalized block did: challenges issued, responses included,
    /// slashes and ejections, and whether it came from sync. (Not for start-up replay,
    /// whose blocks were counted by the process that finalized them.)
    pub fn record_commit(&self, responses_included: usize, outcome: &BlockOutcome, synced: bool) {
        let m = &self.metrics;
        m.responses_included.inc_by(responses_included as u64);
        if outcome.challenge.is_some() {
            m.challenges_issued.inc();
        }
        if let Some(r) = &outcome.epoch_result {
            let slashed = r.validators.iter().filter(|v| v.slashed > 0).count();
            m.validators_slashed.inc_by(slashed as u64);
            m.validators_ejected.inc_by(r.ejected.len() as u64);
            let label = |a: &Address| crate::metrics::ValidatorLabel {
                validator: self.names.get(a).cloned().unwrap_or_default(),
            };
            for v in r.validators.iter().filter(|v| v.slashed > 0) {
                m.validator_slashes.get_or_create(&label(&v.address)).inc();
            }
            for a in &r.ejected {
                m.validator_ejections.get_or_create(&label(a)).inc();
            }
        }
        if synced {
            m.blocks_synced.inc();
        }
    }

    /// [`View::record_commit`] then [`View::publish`]: the loop's call after each commit.
    pub fn publish_commit(
        &self,
        manager: &ClpManager,
        head_hash: Hash32,
        responses_included: usize,
        outcome: &BlockOutcome,
        synced: bool,
    ) {
        self.record_commit(responses_included, outcome, synced);
        self.publish(manager, head_hash);
    }

    fn update_gauges(&self, s: &Snapshot) {
        let m = &self.metrics;
        m.chain_height.set(crate::metrics::as_i64(s.head.height));
        for (address, info) in &s.validators {
            let name = self.names.get(address).map_or("", String::as_str);
            m.set_validator(
                name,
                info.stake,
                info.status.as_str(),
                info.response_rate,
                info.consecutive_failures,
                info.in_committee,
            );
        }
    }

    /// `GET /alpha/consensus/status` (diagnostic, free-form JSON object set by the loop:
    /// it should carry at least `height`, `round`, `peers` and `pool`).
    pub fn consensus_status(&self) -> Value {
        self.consensus
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the consensus status (and sets the round and peer gauges from its
    /// `round` and `peers_connected` count when present).
    pub fn set_consensus_status(&self, status: Value) {
        if let Some(r) = status.get("round").and_then(Value::as_u64) {
            self.metrics.consensus_round.set(crate::metrics::as_i64(r));
        }
        *self.consensus.write().unwrap_or_else(|e| e.into_inner()) = status;
    }

    /// The genesis name of a validator.
    pub fn name_of(&self, address: &Address) -> Option<&str> {
        self.names.get(address).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::{Genesis, KeyFile};

    pub fn genesis(n: usize) -> (Genesis, Vec<KeyFile>) {
        let mut keys: Vec<KeyFile> = (0..n)
            .map(|i| KeyFile::from_seed_text(&format!("view-test/{i}")))
            .collect();
        keys.sort_by_key(|k| k.address);
        let validators = keys
            .iter()
            .enumerate()
            .map(|(i, k)| clp::GenesisValidator {
                name: format!("v{i}"),
                address: k.address,
                public_key: k.public_key,
                stake: 100_000,
            })
            .collect();
        let g = Genesis {
            chain_id: "view-test".into(),
            clp: clp::ClpConfig::test_profile(),
            consensus: crate::files::ConsensusTiming {
                block_interval_ms: 200,
                timeout_propose_ms: 600,
                timeout_prevote_ms: 300,
                timeout_precommit_ms: 300,
                timeout_delta_ms: 200,
            },
            validators,
        };
        (g, keys)
    }

    #[test]
    fn a_fresh_view_is_height_zero_with_the_genesis_committee() {
        let (g, _) = genesis(4);
        let m = g.clp_manager().unwrap();
        let view = View::new(&m, g.hash(), Hooks::new(false), Metrics::new());
        let s = view.snapshot();
        assert_eq!((s.head.height, s.head.epoch, s.head.hash), (0, 0, g.hash()));
        assert_eq!(s.committees.len(), 1);
        assert_eq!(s.committees[0].total_stake, 400_000);
        assert!(s.results.is_empty());
        assert_eq!(s.validators.len(), 4);
        assert_eq!(s.status.burned, 0);
        assert_eq!(view.name_of(&g.validators[0].address), Some("v0"));
    }

    #[test]
    fn publishing_after_blocks_moves_the_head_and_counts() {
        let (g, _) = genesis(4);
        let mut m = g.clp_manager().unwrap();
        let view = View::new(&m, g.hash(), Hooks::new(false), Metrics::new());
        let mut hash = g.hash();
        for h in 1..=2u64 {
            hash = Hash32(clp::blake2b_256(&h.to_be_bytes()));
            let outcome = m.apply_block(h, &hash, &[]).unwrap();
            view.publish_commit(&m, hash, 0, &outcome, h == 2);
        }
        let s = view.snapshot();
        assert_eq!((s.head.height, s.head.hash), (2, hash));
        // K = 2: height 2 issues the first challenge.
        assert_eq!(s.status.active_challenges.len(), 1);
        assert_eq!(s.status.active_challenges[0].height, 2);
        let text = view.metrics.render();
        assert!(text.contains("alphaos_chain_height 2\n"), "{text}");
        assert!(text.contains("alphaos_clp_challenges_issued_total 1\n"));
        assert!(text.contains("alphaos_chain_blocks_synced_total 1\n"));
    }

    #[test]
    fn hooks_are_inert_when_disabled_and_bounded_when_enabled() {
        let off = Hooks::new(false);
        let lazy = |l| FaultsChange {
            lazy: Some(l),
            ..FaultsChange::default()
        };
        let offset = |o| FaultsChange {
            clock_offset_ms: Some(o),
            ..FaultsChange::default()
        };
        assert!(off.set(lazy(true)).is_err());
        assert!(off
            .set(FaultsChange {
                double_sign: Some(true),
                ..FaultsChange::default()
            })
            .is_err());
        assert!(!off.lazy() && !off.take_double_sign());
        let on = Hooks::new(true);
        assert_eq!(
            on.set(lazy(true)).unwrap(),
            Faults {
                lazy: true,
                clock_offset_ms: 0,
                double_sign: false
            }
        );
        assert_eq!(
            on.set(offset(-MAX_CLOCK_OFFSET_MS)).unwrap(),
            Faults {
                lazy: true,
                clock_offset_ms: -MAX_CLOCK_OFFSET_MS,
                double_sign: false
            }
        );
        assert!(on
            .set(FaultsChange {
                lazy: Some(false),
                clock_offset_ms: Some(MAX_CLOCK_OFFSET_MS + 1),
                double_sign: Some(true),
            })
            .is_err());
        assert!(on.lazy(), "a refused change changes nothing");
        assert!(!on.double_sign(), "a refused change changes nothing");
        let armed = on
            .set(FaultsChange {
                double_sign: Some(true),
                ..FaultsChange::default()
            })
            .unwrap();
        assert!(armed.double_sign && armed.lazy);
        assert!(on.take_double_sign(), "armed once");
        assert!(!on.take_double_sign(), "then off by itself");
        assert!(!on.get().double_sign);
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        assert!(on.now_ms() + 3_500_000 < before);
    }

    #[tokio::test]
    async fn a_submission_gets_the_loops_verdict() {
        let (queue, mut rx) = response_channel();
        let judge = tokio::spawn(async move {
            let s = rx.recv().await.unwrap();
            assert_eq!(s.response.challenge_height, 4);
            s.verdict.send(Err(RejectReason::Expired)).unwrap();
            drop(rx);
        });
        let r = ClpResponse {
            challenge_height: 4,
            validator: Address([1; 20]),
            signature: clp::Signature([2; 64]),
        };
        assert_eq!(
            queue.submit(r.clone()).await,
            Ok(Err(RejectReason::Expired))
        );
        judge.await.unwrap();
        assert_eq!(queue.submit(r).await, Err(Unavailable::Stopped));
    }
}
