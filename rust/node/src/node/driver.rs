//! The node's state and its reactions: the consensus core driven by messages, timers and
//! the store; commits applied to the CLP manager, the view and the metrics; challenges
//! answered; responses pooled; gossip and sync scheduled. No sockets and no sleeping:
//! every handler takes the time and returns the messages to send ([`Out`]), which the
//! shell ([`super::run`]) hands to the network. Own votes and proposals are recorded in
//! the store inside the handler, so they are durable BEFORE the shell sends them. A height
//! starts (and so anything is signed at it) only when the peers' claims allow it
//! ([`super::sync::StartGate`], §16.5 "sync before signing"); until then it is held and
//! the node syncs, trying again on each tick.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clp::{Address, ClpChallenge, ClpManager, ClpResponse, Hash32, RejectReason};
use clp_consensus::{
    Action, Application, Block, CommitCertificate, Consensus, ConsensusMessage, Recorded, Vote,
    VoteType,
};
use clp_p2p::{Message, MessageError, SyncEntry};
use ed25519_dalek::SigningKey;
use serde_json::json;

use super::chain::{check_block, next_proposers, validator_set, ChainHead};
use super::gossip::{peer_needs_height, resend_response, Gossip, RelaySet};
use super::pool::{Offer, Pool};
use super::sync::{self, StartGate, Sync};
use super::timers::{TimerEvent, Timers};
use crate::files::ConsensusTiming;
use crate::store::{self, Store};
use crate::view::View;

/// §16.6: a fresh proposal is prevoted only if its time is this close to our clock.
pub const MAX_CLOCK_DRIFT_MS: u64 = 2000;

/// A message for the network.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    /// To one peer.
    To(Address, Message),
    /// To every peer.
    All(Message),
    /// Count a refused message (`alphaos_p2p_frames_rejected_total{reason}`).
    Rejected(&'static str),
}

/// What the node reads from its links when it gossips.
pub trait Links {
    /// The configured peers.
    fn peers(&self) -> Vec<Address>;
    /// The generation of the link to `peer` while it is connected (None: down).
    fn connected_generation(&self, peer: &Address) -> Option<u64>;
}

/// Everything the node starts from.
pub struct Setup {
    pub chain_id: String,
    pub genesis_hash: clp::Hash32,
    /// A fresh manager at height 0 (the stored chain is replayed into it).
    pub manager: ClpManager,
    pub timing: ConsensusTiming,
    pub key: SigningKey,
    pub store: Arc<Store>,
    pub view: Arc<View>,
    /// The configured peers (the first height waits for a claim from each, §16.5).
    pub peers: Vec<Address>,
}

/// A failure that stops the node (the store failed, or the chain contradicts itself).
pub type Fatal = String;

/// See the module documentation.
pub struct Node {
    chain_id: String,
    me: Address,
    key: SigningKey,
    block_interval: Duration,
    manager: ClpManager,
    head: ChainHead,
    core: Consensus,
    pool: Pool,
    timers: Timers,
    gossip: Gossip,
    sync: Sync,
    gate: StartGate,
    /// The next height while the gate holds it (nothing is signed at it).
    held: Option<u64>,
    /// Challenge heights this node has answered (or found answered).
    answered: BTreeSet<u64>,
    /// Peers with a link up at the last tick (diagnostics).
    connected: Vec<Address>,
    store: Arc<Store>,
    view: Arc<View>,
}

/// The chain as the consensus core asks about it.
struct App<'a> {
    chain_id: &'a str,
    manager: &'a ClpManager,
    head: &'a ChainHead,
    pool: &'a Pool,
    me: Address,
    now_ms: u64,
}

impl Application for App<'_> {
    fn validate(&mut self, block: &Block) -> Result<(), String> {
        check_block(self.manager, self.head, block).map_err(|e| e.to_string())
    }

    fn is_timely(&mut self, block: &Block) -> bool {
        block.time_ms.abs_diff(self.now_ms) <= MAX_CLOCK_DRIFT_MS
    }

    fn build_block(&mut self, height: u64, _round: u64) -> Option<Block> {
        if height != self.head.height + 1 {
            return None;
        }
        let time_ms = self.now_ms.max(self.head.time_ms);
        let responses = self.pool.for_block(self.manager);
        match Block::new(
            self.chain_id,
            height,
            time_ms,
            self.head.hash,
            self.me,
            responses,
        ) {
            Ok(b) => Some(b),
            Err(e) => {
                tracing::error!(event = "consensus.build_failed", height, error = %e);
                None
            }
        }
    }
}

/// The application view of `$node` (a macro, so the borrow of its fields stays disjoint
/// from the consensus core's).
macro_rules! app {
    ($node:ident) => {
        App {
            chain_id: &$node.chain_id,
            manager: &$node.manager,
            head: &$node.head,
            pool: &$node.pool,
            me: $node.me,
            now_ms: $node.view.hooks.now_ms(),
        }
    };
}

fn consensus(msg: ConsensusMessage) -> Message {
    Message::Consensus { msg }
}

impl Node {
    /// Replays the stored chain into the manager, publishes it, and starts the next
    /// height (restoring own messages recorded at it).
    pub fn start(setup: Setup, now: Instant) -> Result<(Node, Vec<Out>), Fatal> {
        let Setup {
            chain_id,
            genesis_hash,
            mut manager,
            timing,
            key,
            store,
            view,
            peers,
        } = setup;
        let mut head = ChainHead::genesis(genesis_hash);
        let stored = store.head_height().map_err(|e| e.to_string())?;
        let mut next = 1;
        while next <= stored {
            let rows = store
                .block_rows(next, next + 999)
                .map_err(|e| e.to_string())?;
            if rows.is_empty() {
                return Err(format!("stored block {next} is missing"));
            }
            for row in rows {
                let (block, _cert): (Block, CommitCertificate) =
                    store::decode(&row).map_err(|e| e.to_string())?;
                manager
                    .apply_block(block.height, &block.hash, &block.responses)
                    .map_err(|e| format!("replaying stored block {}: {e}", block.height))?;
                head = ChainHead::of(&block);
                next = block.height + 1;
            }
        }
        view.publish(&manager, head.hash);
        tracing::info!(event = "chain.replayed", height = head.height, hash = %head.hash);
        let me = clp::Address::from_public_key(&clp::PublicKey(key.verifying_key().to_bytes()));
        let mut node = Node {
            core: Consensus::new(chain_id.clone(), timing.timeouts()),
            chain_id,
            me,
            key,
            block_interval: Duration::from_millis(timing.block_interval_ms),
            manager,
            head,
            pool: Pool::default(),
            timers: Timers::default(),
            gossip: Gossip::default(),
            sync: Sync::default(),
            gate: StartGate::new(peers, sync::STARTUP_GRACE),
            held: None,
            answered: BTreeSet::new(),
            connected: Vec::new(),
            store,
            view,
        };
        // §11: what a node that ran before had received at the height it was deciding
        // is lost; the votes it holds are complete from the next height on.
        let next = node.head.height + 1;
        let restored: Vec<ConsensusMessage> =
            node.store.own_messages(next).map_err(|e| e.to_string())?;
        if node.head.height > 0 || !restored.is_empty() {
            node.view.ledger_complete_from(next + 1);
        }
        node.view.serve_ledger();
        let mut out = Vec::new();
        node.enter_height(next, now, &mut out)?;
        node.answer_open(&mut out);
        Ok((node, out))
    }

    /// The finalized head.
    pub fn head(&self) -> ChainHead {
        self.head
    }

    /// When the next timer fires.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    /// Starts deciding `h` if it is the next height, not started yet, and the gate lets
    /// it start; else holds it (the tick tries again, sync may move the head past it).
    fn enter_height(&mut self, h: u64, now: Instant, out: &mut Vec<Out>) -> Result<(), Fatal> {
        if h != self.head.height + 1 || self.core.height() == h {
            return Ok(());
        }
        if !self.gate.allows(h, now, &self.sync) {
            if self.held != Some(h) {
                tracing::info!(
                    event = "consensus.held",
                    height = h,
                    reach = self.sync.reach()
                );
            }
            self.held = Some(h);
            self.publish_status();
            return Ok(());
        }
        self.held = None;
        let set = validator_set(&self.manager, h).map_err(|e| format!("height {h}: {e}"))?;
        let mut recorded = Recorded::default();
        let own: Vec<ConsensusMessage> = self.store.own_messages(h).map_err(|e| e.to_string())?;
        for m in own {
            match m {
                ConsensusMessage::Proposal(p) if p.height == h => recorded.proposals.push(p),
                ConsensusMessage::Vote(v) if v.height == h => recorded.votes.push(v),
                _ => {}
            }
        }
        self.timers.drop_below(h);
        let mut app = app!(self);
        let actions = self
            .core
            .start_height(h, set, Some(self.key.clone()), recorded, &mut app);
        // The votes the core took from its buffer of early ones (and our own restored).
        for v in self.core.held_votes() {
            self.view.record_vote(&v);
        }
        self.apply(actions, now, out)?;
        self.publish_status();
        Ok(())
    }

    /// Carries out the core's actions in order.
    fn apply(
        &mut self,
        actions: Vec<Action>,
        now: Instant,
        out: &mut Vec<Out>,
    ) -> Result<(), Fatal> {
        for action in actions {
            match action {
                Action::SignedProposal(p) => {
                    let (h, r) = (p.height, p.round);
                    tracing::info!(event = "consensus.proposed", height = h, round = r,
                        block = %p.block.hash, responses = p.block.responses.len());
                    let msg = ConsensusMessage::Proposal(p);
                    self.store
                        .record_own(h, r, &msg)
                        .map_err(|e| e.to_string())?;
                    out.push(Out::All(consensus(msg)));
                }
                Action::SignedVote(v) => {
                    let (h, r) = (v.height, v.round);
                    let double =
                        v.vote_type == VoteType::Prevote && self.view.hooks.take_double_sign();
                    self.view.record_vote(&v);
                    let second = double.then(|| self.conflicting(&v));
                    let msg = ConsensusMessage::Vote(v);
                    self.store
                        .record_own(h, r, &msg)
                        .map_err(|e| e.to_string())?;
                    out.push(Out::All(consensus(msg)));
                    if let Some(second) = second {
                        // Not in the restart log: our consensus goes on with the first,
                        // before and after a restart (the core restores the first one of
                        // a round and type anyway). Served as held until pruned.
                        tracing::warn!(event = "hooks.double_signed", height = h, round = r,
                            block = ?second.block_hash);
                        self.view.record_vote(&second);
                        out.push(Out::All(consensus(ConsensusMessage::Vote(second))));
                    }
                }
                Action::ScheduleTimeout(t) => {
                    let at = now + Duration::from_millis(t.duration_ms);
                    self.timers.schedule(at, TimerEvent::Consensus(t));
                }
                Action::Decide(d) => {
                    let h = d.block.height;
                    if self.commit(d.block, d.certificate, false, out)? {
                        self.timers
                            .schedule(now + self.block_interval, TimerEvent::StartHeight(h + 1));
                    }
                }
                Action::Equivocation(e) => {
                    self.view.record_vote(&e.first);
                    self.view.record_vote(&e.second);
                    tracing::warn!(event = "consensus.equivocation", validator = %e.first.validator,
                        height = e.first.height, round = e.first.round);
                }
            }
        }
        Ok(())
    }

    /// Finalizes the next block: CLP state first (it refuses an invalid block and changes
    /// nothing), then the store (block and certificate in one transaction), then the view.
    /// False when `block` is not the next height (decided or synced already).
    fn commit(
        &mut self,
        block: Block,
        certificate: CommitCertificate,
        synced: bool,
        out: &mut Vec<Out>,
    ) -> Result<bool, Fatal> {
        if block.height != self.head.height + 1 {
            return Ok(false);
        }
        let outcome = self
            .manager
            .apply_block(block.height, &block.hash, &block.responses)
            .map_err(|e| format!("finalized block {} refused: {e}", block.height))?;
        self.store
            .put_block(block.height, &block.hash.to_hex(), &block, &certificate)
            .map_err(|e| format!("storing block {}: {e}", block.height))?;
        self.head = ChainHead::of(&block);
        let metrics = &self.view.metrics;
        for _ in self.pool.after_commit(&self.manager, &block.responses) {
            metrics.responses_received.inc();
        }
        if !synced {
            metrics.consensus_rounds.inc_by(certificate.round + 1);
        }
        self.view.publish_commit(
            &self.manager,
            block.hash,
            block.responses.len(),
            &outcome,
            synced,
        );
        self.timers.drop_below(block.height + 1);
        tracing::info!(event = "block.committed", height = block.height, hash = %block.hash,
            round = certificate.round, proposer = %block.proposer,
            responses = block.responses.len(), synced);
        if let Some(r) = &outcome.epoch_result {
            tracing::info!(
                event = "clp.epoch_evaluated",
                epoch = r.epoch,
                systemic = r.systemic,
                slashed_total = r.slashed_total,
                ejected = r.ejected.len()
            );
        }
        let w = self.manager.config().response_window;
        let head = self.head.height;
        self.answered.retain(|h| h + w >= head);
        if let Some(c) = &outcome.challenge {
            self.answer(c, out);
        }
        Ok(true)
    }

    /// Signs, pools and gossips our response to `challenge` when we are expected to
    /// answer it (a committee member, not lazy) and have not yet.
    fn answer(&mut self, challenge: &ClpChallenge, out: &mut Vec<Out>) {
        if self.answered.contains(&challenge.height)
            || !challenge.expected.contains(&self.me)
            || self.view.hooks.lazy()
        {
            return;
        }
        let seed = self.key.to_bytes();
        let r = ClpResponse::sign(&self.chain_id, challenge.height, &challenge.value, &seed);
        self.answered.insert(challenge.height);
        match self.pool.offer(&self.manager, r.clone(), true, false) {
            Offer::Pooled => {
                tracing::info!(event = "clp.responded", challenge = challenge.height);
                self.view
                    .record_answer(challenge.height, crate::view::unix_now_ms());
                out.push(Out::All(Message::ClpResponse(r)));
            }
            Offer::Refused(RejectReason::Duplicate) => {}
            other => {
                tracing::warn!(event = "clp.own_response_refused", challenge = challenge.height,
                    outcome = ?other);
            }
        }
    }

    /// Answers every open challenge not answered yet (after a restart, or when `lazy`
    /// is switched off).
    fn answer_open(&mut self, out: &mut Vec<Out>) {
        if self.view.hooks.lazy() {
            return;
        }
        for c in self.manager.active_challenges() {
            self.answer(&c, out);
        }
    }

    /// A message from `peer`.
    pub fn on_message(
        &mut self,
        peer: Address,
        message: Result<Message, MessageError>,
        now: Instant,
    ) -> Result<Vec<Out>, Fatal> {
        let mut out = Vec::new();
        let message = match message {
            Ok(m) => m,
            Err(e) => {
                // The transport counted it; a malformed response is a §5 MALFORMED too.
                if e.kind() == Some("clp_response") {
                    self.view.metrics.reject(RejectReason::Malformed, 1);
                }
                tracing::debug!(event = "p2p.bad_message", peer = %peer, error = %e);
                return Ok(out);
            }
        };
        match message {
            Message::Status { height } => {
                self.sync.claim(peer, height);
                self.maybe_sync(now, &mut out);
            }
            Message::Consensus { msg } => {
                let height = match &msg {
                    ConsensusMessage::Vote(v) => v.height,
                    ConsensusMessage::Proposal(p) => p.height,
                };
                if height >= 1 {
                    self.sync.claim(peer, height - 1);
                }
                let mut app = app!(self);
                let result = match msg {
                    ConsensusMessage::Vote(v) => {
                        let result = self.core.on_vote(v.clone(), &mut app);
                        // Held once the core counted it (its signature checked).
                        if result.is_ok() && self.core.holds_vote(&v) {
                            self.view.record_vote(&v);
                        }
                        result
                    }
                    ConsensusMessage::Proposal(p) => self.core.on_proposal(p, &mut app),
                };
                match result {
                    Ok(actions) => self.apply(actions, now, &mut out)?,
                    Err(e) => {
                        tracing::debug!(event = "consensus.dropped", peer = %peer, error = %e)
                    }
                }
                self.maybe_sync(now, &mut out);
            }
            Message::ClpResponse(r) => match self.pool.offer(&self.manager, r, false, true) {
                Offer::Pooled => {
                    self.view.metrics.responses_received.inc();
                }
                Offer::Parked | Offer::Refused(RejectReason::Duplicate | RejectReason::Expired) => {
                }
                Offer::Refused(reason) => self.view.metrics.reject(reason, 1),
            },
            Message::SyncRequest { from, to } => self.serve(peer, from, to, &mut out)?,
            Message::SyncResponse { blocks } => self.apply_synced(peer, blocks, now, &mut out)?,
        }
        Ok(out)
    }

    /// Answers a `sync_request` with our stored blocks (§16.5).
    fn serve(&self, peer: Address, from: u64, to: u64, out: &mut Vec<Out>) -> Result<(), Fatal> {
        let Some((first, last)) = sync::served_range(from, to, self.head.height) else {
            return Ok(());
        };
        let rows = self
            .store
            .block_rows(first, last)
            .map_err(|e| e.to_string())?;
        let mut blocks = Vec::with_capacity(rows.len());
        for row in rows {
            let (block, certificate) = store::decode(&row).map_err(|e| e.to_string())?;
            blocks.push(SyncEntry { block, certificate });
        }
        if !blocks.is_empty() {
            out.push(Out::To(peer, Message::SyncResponse { blocks }));
        }
        Ok(())
    }

    /// Applies the entries of a `sync_response` that extend our head, each after its
    /// certificate verified against its own epoch's committee and its block is valid.
    fn apply_synced(
        &mut self,
        peer: Address,
        blocks: Vec<SyncEntry>,
        now: Instant,
        out: &mut Vec<Out>,
    ) -> Result<(), Fatal> {
        let mut applied = 0;
        for SyncEntry { block, certificate } in blocks {
            match sync::entry(block.height, self.head.height) {
                sync::Entry::Skip => continue,
                sync::Entry::Stop => break,
                sync::Entry::Apply => {}
            }
            let h = block.height;
            let set = match validator_set(&self.manager, h) {
                Ok(set) => set,
                Err(e) => {
                    tracing::warn!(event = "sync.refused", peer = %peer, height = h, error = %e);
                    break;
                }
            };
            if let Err(e) = certificate.verify(&self.chain_id, h, &block.hash, &set) {
                tracing::warn!(event = "sync.bad_certificate", peer = %peer, height = h, error = %e);
                out.push(Out::Rejected("bad_message"));
                break;
            }
            if let Err(e) = check_block(&self.manager, &self.head, &block) {
                tracing::warn!(event = "sync.invalid_block", peer = %peer, height = h, error = %e);
                break;
            }
            self.commit(block, certificate, true, out)?;
            applied += 1;
        }
        self.sync.answered(peer, applied);
        if applied > 0 {
            self.enter_height(self.head.height + 1, now, out)?;
            self.maybe_sync(now, out);
        }
        Ok(())
    }

    fn maybe_sync(&mut self, now: Instant, out: &mut Vec<Out>) {
        if let Some(r) = self
            .sync
            .next_request(self.head.height, now, rand::random())
        {
            tracing::debug!(event = "sync.request", peer = %r.peer, from = r.from, to = r.to);
            out.push(Out::To(
                r.peer,
                Message::SyncRequest {
                    from: r.from,
                    to: r.to,
                },
            ));
        }
    }

    /// A response POSTed by a client: its §5 verdict against the next block; a valid one
    /// is pooled and relayed to every peer at once.
    pub fn on_submission(&mut self, response: ClpResponse) -> (Result<(), RejectReason>, Vec<Out>) {
        let mut out = Vec::new();
        let verdict = self.pool.judge(&self.manager, &response);
        match verdict {
            Ok(()) => {
                self.pool
                    .offer(&self.manager, response.clone(), false, false);
                self.view.metrics.responses_received.inc();
                out.push(Out::All(Message::ClpResponse(response)));
            }
            Err(reason) => self.view.metrics.reject(reason, 1),
        }
        (verdict, out)
    }

    /// Fires the timers due at `now`.
    pub fn on_timers(&mut self, now: Instant) -> Result<Vec<Out>, Fatal> {
        let mut out = Vec::new();
        for event in self.timers.take_due(now) {
            match event {
                TimerEvent::Consensus(t) => {
                    let mut app = app!(self);
                    let actions = self.core.on_timeout(t.kind, t.height, t.round, &mut app);
                    self.apply(actions, now, &mut out)?;
                }
                TimerEvent::StartHeight(h) => self.enter_height(h, now, &mut out)?,
            }
        }
        self.publish_status();
        Ok(out)
    }

    /// The periodic duties (§16.7): status, sync, a held height started once the claims
    /// allow it, answering open challenges, and the re-sends each peer is due.
    pub fn on_tick(&mut self, now: Instant, links: &dyn Links) -> Result<Vec<Out>, Fatal> {
        let mut out = Vec::new();
        if self.gossip.status_due(now) {
            out.push(Out::All(Message::Status {
                height: self.head.height,
            }));
        }
        self.maybe_sync(now, &mut out);
        if let Some(held) = self.held {
            // The next height now: sync may have moved the head past the held one.
            let next = self.head.height + 1;
            if next != held {
                self.held = None;
            }
            self.enter_height(next, now, &mut out)?;
        }
        self.answer_open(&mut out);
        let height = self.core.height();
        let lazy = self.view.hooks.lazy();
        let relays_due = self.gossip.relays_due(self.relay_set(), now);
        let mut own_msgs: Option<Vec<Message>> = None;
        let resend = self
            .gossip
            .responses_due(self.pool.pooled().map(|p| p.response.key()), now);
        // Someone else's response goes to those who can include it (§16.7's should); the
        // set is only worked out when there is such a response to re-send.
        let relayed = self
            .pool
            .pooled()
            .any(|p| !p.own && resend_response(false, lazy, p.since, self.head.height));
        let proposers = if relayed {
            next_proposers(
                &self.manager,
                self.head.height,
                self.manager.config().response_window,
            )
        } else {
            BTreeSet::new()
        };
        self.connected.clear();
        for peer in links.peers() {
            let Some(generation) = links.connected_generation(&peer) else {
                continue;
            };
            self.connected.push(peer);
            let due = self.gossip.due(peer, Some(generation), now);
            if due.consensus && peer_needs_height(self.sync.claim_of(&peer), height) {
                let msgs = own_msgs.get_or_insert_with(|| self.own_to_resend());
                out.extend(msgs.iter().map(|m| Out::To(peer, m.clone())));
                if relays_due {
                    out.extend(self.relays_for(&peer).into_iter().map(|m| Out::To(peer, m)));
                }
            }
            if !due.fresh && resend.is_empty() {
                continue;
            }
            for p in self.pool.pooled() {
                let key = p.response.key();
                if (due.fresh || resend.contains(&key))
                    && resend_response(p.own, lazy, p.since, self.head.height)
                    && (p.own || proposers.contains(&peer))
                {
                    out.push(Out::To(peer, Message::ClpResponse(p.response.clone())));
                }
            }
        }
        self.publish_status();
        Ok(out)
    }

    /// The next height while it waits for sync or the peers' first claims (§16.5).
    pub fn held(&self) -> Option<u64> {
        self.held
    }

    /// The `double_sign` hook's second prevote (§14): same height and round as `first`,
    /// another value (nil for a block; for nil, a hash that names no block).
    fn conflicting(&self, first: &Vote) -> Vote {
        let other = match first.block_hash {
            Some(_) => None,
            None => Some(Hash32(clp::blake2b_256(b"double_sign"))),
        };
        Vote::sign(
            &self.chain_id,
            first.vote_type,
            first.height,
            first.round,
            other,
            self.me,
            &self.key,
        )
    }

    /// Own messages of the current height (§16.7 item 1).
    fn own_to_resend(&self) -> Vec<Message> {
        let (proposals, votes) = self.core.own_messages();
        proposals
            .into_iter()
            .map(ConsensusMessage::Proposal)
            .chain(votes.into_iter().map(ConsensusMessage::Vote))
            .map(consensus)
            .collect()
    }

    /// What is relayed to `peer` for liveness (§16.7 item 2): the polka or the decision,
    /// less what it signed or showed it holds, and less our own (re-sent anyway).
    fn relays_for(&self, peer: &Address) -> Vec<Message> {
        let (proposals, votes) = self.core.relay_messages_for(peer);
        proposals
            .into_iter()
            .filter(|p| p.proposer != self.me)
            .map(ConsensusMessage::Proposal)
            .chain(
                votes
                    .into_iter()
                    .filter(|v| v.validator != self.me)
                    .map(ConsensusMessage::Vote),
            )
            .map(consensus)
            .collect()
    }

    /// The set [`Self::relays_for`] draws from, to time its relay.
    fn relay_set(&self) -> Option<RelaySet> {
        let height = self.core.height();
        if let Some(d) = self.core.decision() {
            return Some((height, d.certificate.round, d.certificate.block_hash, true));
        }
        let status = self.core.status()?;
        Some((height, status.valid_round?, status.valid_hash?, false))
    }

    /// The diagnostic `/alpha/consensus/status`.
    fn publish_status(&self) {
        let (pooled, parked) = self.pool.len();
        let status = self.core.status();
        self.view.set_consensus_status(json!({
            "height": self.core.height(),
            "round": status.as_ref().map_or(0, |s| s.round),
            "step": status.as_ref().map(|s| s.step),
            "locked_round": status.as_ref().and_then(|s| s.locked_round),
            "valid_round": status.as_ref().and_then(|s| s.valid_round),
            "proposer": status.as_ref().map(|s| s.proposer.to_hex()),
            "head": self.head.height,
            "peers": self.connected.iter().map(Address::to_hex).collect::<Vec<_>>(),
            "best_claim": self.sync.best_claim(),
            "held": self.held,
            "pool": pooled,
            "parked": parked,
            "timers": self.timers.len(),
        }));
    }

    /// This node's address.
    pub fn address(&self) -> Address {
        self.me
    }

    /// The CLP state (tests).
    pub fn manager(&self) -> &ClpManager {
        &self.manager
    }
}
