//! Tendermint consensus (Buchman, Kwon, Milosevic, "The latest gossip on BFT consensus",
//! 2018, Algorithm 1) as a pure state machine: inputs in, [`Action`]s out.

mod height;
#[cfg(test)]
mod tests;
mod votes;

use std::collections::BTreeMap;

use ed25519_dalek::SigningKey;

use height::HeightState;
use serde::{Deserialize, Serialize};

use crate::{Address, Block, BlockHash, CommitCertificate, Proposal, ValidatorSet, Vote};

/// The round timeouts of genesis (`consensus` section, §2): a step's timeout in round r
/// is `base + delta * r` milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeoutConfig {
    /// `timeout_propose_ms`.
    pub propose_ms: u64,
    /// `timeout_prevote_ms`.
    pub prevote_ms: u64,
    /// `timeout_precommit_ms`.
    pub precommit_ms: u64,
    /// `timeout_delta_ms`: added per round so that rounds eventually last long enough.
    pub delta_ms: u64,
}

impl TimeoutConfig {
    /// The duration of `kind`'s timeout in `round` (saturating).
    pub fn duration_ms(&self, kind: TimeoutKind, round: u64) -> u64 {
        let base = match kind {
            TimeoutKind::Propose => self.propose_ms,
            TimeoutKind::Prevote => self.prevote_ms,
            TimeoutKind::Precommit => self.precommit_ms,
        };
        base.saturating_add(self.delta_ms.saturating_mul(round))
    }
}

/// The three timeouts of Algorithm 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeoutKind {
    /// No proposal in time: prevote nil.
    Propose,
    /// +2/3 prevotes but no polka in time: precommit nil.
    Prevote,
    /// +2/3 precommits but no decision in time: next round.
    Precommit,
}

/// A timeout the shell must schedule; when it fires, call [`Consensus::on_timeout`] with
/// its `kind`, `height` and `round`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeout {
    /// Which timeout.
    pub kind: TimeoutKind,
    /// The height it belongs to.
    pub height: u64,
    /// The round it belongs to.
    pub round: u64,
    /// After how many milliseconds it fires.
    pub duration_ms: u64,
}

/// A decided block and the certificate that proves it (precommits of one round).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The decided block.
    pub block: Block,
    /// Its commit certificate (§9.2).
    pub certificate: CommitCertificate,
}

/// Two different votes of one validator for one (height, round, type): proof that it
/// is faulty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Equivocation {
    /// The vote seen first.
    pub first: Vote,
    /// The conflicting vote.
    pub second: Vote,
}

/// What the shell must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A proposal this validator just signed: record it durably, THEN broadcast it.
    SignedProposal(Proposal),
    /// A vote this validator just signed: record it durably, THEN broadcast it. A vote
    /// that was never recorded may be lost in a crash; one sent but not recorded could be
    /// contradicted after a restart.
    SignedVote(Vote),
    /// Schedule a timeout.
    ScheduleTimeout(Timeout),
    /// The height is decided: apply the block, store the certificate, then call
    /// [`Consensus::start_height`] for the next height.
    Decide(Decision),
    /// A validator equivocated (also kept in [`Consensus::evidence`]).
    Equivocation(Equivocation),
}

/// What the node knows that the core does not: its chain and its clock.
pub trait Application {
    /// Is `block` (already checked by [`Block::check_stateless`] and for the right height)
    /// valid to apply on top of this node's chain (§16.8: parent hash, time not below the
    /// head's, proposer a committee member, every response valid)? Asked at most once
    /// per block hash per height: the answer must not depend on the clock.
    fn validate(&mut self, block: &Block) -> Result<(), String>;

    /// Is a freshly proposed block's `time_ms` close to this node's clock (§16.6:
    /// `|time_ms - now_ms| <= 2000`)? Asked each time a new value (`pol_round` none) is
    /// about to be prevoted; never for a re-proposal, whose polka shows that more than
    /// 2/3 found it timely already, nor for deciding.
    fn is_timely(&mut self, block: &Block) -> bool {
        let _ = block;
        true
    }

    /// The block this validator proposes at `height` in `round` when it has no valid
    /// value to re-propose (§16.6: parent the head, `time_ms = max(now, head time)`,
    /// proposer itself, pooled responses sorted). `None` proposes nothing this round.
    fn build_block(&mut self, height: u64, round: u64) -> Option<Block>;
}

/// The step of the current round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    /// Waiting for the proposal.
    Propose,
    /// Prevoted.
    Prevote,
    /// Precommitted.
    Precommit,
    /// Decided; waiting for [`Consensus::start_height`].
    Decided,
}

/// A snapshot for diagnostics (`/alpha/consensus/status`, metrics).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The height being decided.
    pub height: u64,
    /// The current round.
    pub round: u64,
    /// The current step.
    pub step: Step,
    /// Round of the lock (`lockedRound`), if any.
    pub locked_round: Option<u64>,
    /// Hash of the locked block, if any.
    pub locked_hash: Option<BlockHash>,
    /// Round of the valid value (`validRound`), if any.
    pub valid_round: Option<u64>,
    /// Hash of the valid value, if any.
    pub valid_hash: Option<BlockHash>,
    /// The proposer of the current round.
    pub proposer: Address,
}

/// This validator's own signed messages for the height being started, as recorded by
/// the shell from [`Action::SignedProposal`] / [`Action::SignedVote`]. With them the
/// core never signs a conflicting vote or proposal after a crash, and it restores its
/// lock from its highest precommit for a block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recorded {
    /// Own proposals at this height.
    pub proposals: Vec<Proposal>,
    /// Own votes at this height.
    pub votes: Vec<Vote>,
}

/// A message the core refused; `Ok` answers are either acted upon or harmlessly ignored
/// (stale heights, duplicates, buffered future heights).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    /// No height has been started yet.
    #[error("no height started")]
    NotStarted,
    /// The sender is not a member with voting power at this height.
    #[error("{0} has no voting power at this height")]
    NoPower(Address),
    /// A proposal from a validator that is not the round's proposer.
    #[error("proposal for round {round} by {got}, the proposer is {expected}")]
    WrongProposer {
        round: u64,
        expected: Address,
        got: Address,
    },
    /// Bad signature.
    #[error("bad signature: {0}")]
    BadSignature(String),
    /// A malformed proposal (block height, pol_round, block fails stateless checks).
    #[error("malformed proposal: {0}")]
    Malformed(String),
    /// A certificate that does not prove its block.
    #[error("certificate: {0}")]
    Certificate(String),
}

/// Messages for heights up to this far ahead are buffered (§16.6).
const FUTURE_HEIGHTS: u64 = 4;
/// At most this many messages for future heights are buffered (§16.6, as the reference).
const FUTURE_BUFFER_CAP: usize = 8192;
/// Messages for a round further ahead of the current one are dropped (§16.6).
const MAX_ROUNDS_AHEAD: u64 = 1000;

/// The consensus state machine of one validator (or of a non-voting follower when it
/// has no key or no voting power).
#[derive(Debug)]
pub struct Consensus {
    chain_id: String,
    timeouts: TimeoutConfig,
    state: Option<HeightState>,
    /// Messages for the height after the current one, replayed by `start_height`.
    /// One message per (height, round, sender, kind): re-sent copies are not kept twice.
    future: BTreeMap<FutureKey, Message>,
}

/// How buffered messages are ordered and told apart.
type FutureKey = (u64, u64, Address, u8);

/// A network message the core buffers.
#[derive(Debug, Clone)]
enum Message {
    Proposal(Proposal),
    Vote(Vote),
}

impl Message {
    fn height(&self) -> u64 {
        match self {
            Message::Proposal(p) => p.height,
            Message::Vote(v) => v.height,
        }
    }

    /// (height, round, sender, 0 proposal / 1 prevote / 2 precommit).
    fn key(&self) -> FutureKey {
        match self {
            Message::Proposal(p) => (p.height, p.round, p.proposer, 0),
            Message::Vote(v) => (v.height, v.round, v.validator, v.vote_type.sign_byte()),
        }
    }

    fn round(&self) -> u64 {
        match self {
            Message::Proposal(p) => p.round,
            Message::Vote(v) => v.round,
        }
    }
}

impl Consensus {
    /// A core for `chain_id` with the genesis timeouts; call [`Consensus::start_height`].
    pub fn new(chain_id: impl Into<String>, timeouts: TimeoutConfig) -> Consensus {
        Consensus {
            chain_id: chain_id.into(),
            timeouts,
            state: None,
            future: BTreeMap::new(),
        }
    }

    /// Starts deciding `height` with its committee and this node's key (`None` for a
    /// follower; a key without voting power also only follows). `recorded` are own
    /// messages already signed at this height (after a restart; empty otherwise): the
    /// core resumes at their highest round with the lock of its highest precommit for a
    /// block, and re-emits them for sending. Buffered messages for this height are
    /// replayed; the returned actions include their effects.
    pub fn start_height(
        &mut self,
        height: u64,
        validators: ValidatorSet,
        key: Option<SigningKey>,
        recorded: Recorded,
        app: &mut dyn Application,
    ) -> Vec<Action> {
        let own = key.and_then(|key| {
            let address = validators
                .members()
                .iter()
                .find(|v| v.public_key == key.verifying_key() && v.stake > 0)?
                .address;
            Some((key, address))
        });
        let mut state = HeightState::new(
            self.chain_id.clone(),
            self.timeouts,
            height,
            validators,
            own,
        );
        let mut actions = Vec::new();
        state.restore(recorded, &mut actions, app);
        self.state = Some(state);
        let mut now = std::mem::take(&mut self.future);
        now.retain(|key, _| key.0 >= height && key.0 <= height + FUTURE_HEIGHTS);
        // Split at the first possible key of the height after: `now` keeps this height.
        self.future = now.split_off(&(height + 1, 0, Address::from([0; 20]), 0));
        for message in now.into_values() {
            // Refused buffered messages were never answered; dropping them is all there is.
            let result = match message {
                Message::Proposal(p) => self.on_proposal(p, app),
                Message::Vote(v) => self.on_vote(v, app),
            };
            if let Ok(more) = result {
                actions.extend(more);
            }
        }
        actions
    }

    /// Buffers a message for one of the next heights (§16.6); says whether the message
    /// is for the current height and round range (to be handled now). Others are dropped.
    fn route(&mut self, message: &Message) -> Result<bool, Rejected> {
        let state = self.state.as_ref().ok_or(Rejected::NotStarted)?;
        let height = message.height();
        if height > state.height
            && height <= state.height + FUTURE_HEIGHTS
            && self.future.len() < FUTURE_BUFFER_CAP
        {
            self.future
                .entry(message.key())
                .or_insert_with(|| message.clone());
        }
        Ok(height == state.height && message.round() <= state.round + MAX_ROUNDS_AHEAD)
    }

    /// A proposal from the network.
    pub fn on_proposal(
        &mut self,
        proposal: Proposal,
        app: &mut dyn Application,
    ) -> Result<Vec<Action>, Rejected> {
        if !self.route(&Message::Proposal(proposal.clone()))? {
            return Ok(Vec::new());
        }
        let state = self.state.as_mut().ok_or(Rejected::NotStarted)?;
        let mut actions = Vec::new();
        state.receive_proposal(proposal)?;
        state.run_rules(&mut actions, app);
        Ok(actions)
    }

    /// A vote from the network.
    pub fn on_vote(
        &mut self,
        vote: Vote,
        app: &mut dyn Application,
    ) -> Result<Vec<Action>, Rejected> {
        if !self.route(&Message::Vote(vote.clone()))? {
            return Ok(Vec::new());
        }
        let state = self.state.as_mut().ok_or(Rejected::NotStarted)?;
        let mut actions = Vec::new();
        state.receive_vote(vote, &mut actions)?;
        state.run_rules(&mut actions, app);
        Ok(actions)
    }

    /// A timeout scheduled by [`Action::ScheduleTimeout`] fired (stale ones are ignored).
    pub fn on_timeout(
        &mut self,
        kind: TimeoutKind,
        height: u64,
        round: u64,
        app: &mut dyn Application,
    ) -> Vec<Action> {
        let mut actions = Vec::new();
        if let Some(state) = self.state.as_mut() {
            if state.height == height {
                state.timeout(kind, round, &mut actions, app);
                state.run_rules(&mut actions, app);
            }
        }
        actions
    }

    /// A block of the current height proven by a certificate (from sync): decides it
    /// without asking [`Application::validate`] (more than 2/3 of the stake did). A
    /// certificate for an earlier height, or once decided, is ignored.
    pub fn on_certificate(
        &mut self,
        block: Block,
        certificate: CommitCertificate,
    ) -> Result<Vec<Action>, Rejected> {
        let state = self.state.as_mut().ok_or(Rejected::NotStarted)?;
        if block.height < state.height || state.decision.is_some() {
            return Ok(Vec::new());
        }
        if block.height > state.height {
            return Err(Rejected::Certificate(format!(
                "block height {} is not the current height {}",
                block.height, state.height
            )));
        }
        block
            .check_stateless(&state.chain_id)
            .map_err(|e| Rejected::Certificate(e.to_string()))?;
        certificate
            .verify(
                &state.chain_id,
                state.height,
                &block.hash,
                &state.validators,
            )
            .map_err(|e| Rejected::Certificate(e.to_string()))?;
        let mut actions = Vec::new();
        state.decide(Decision { block, certificate }, &mut actions);
        Ok(actions)
    }

    /// Own signed messages of the current height, to re-send now and then (gossip: a
    /// peer that missed them, or restarted, gets them again). They are already recorded.
    pub fn own_messages(&self) -> (Vec<Proposal>, Vec<Vote>) {
        match &self.state {
            Some(s) => (
                s.own_proposals.values().cloned().collect(),
                s.own_votes.values().cloned().collect(),
            ),
            None => (Vec::new(), Vec::new()),
        }
    }

    /// Messages of others to relay (§16.7 item 2), re-sent like [`Self::own_messages`]:
    /// once decided, the decided block's proposal and the certificate's precommits;
    /// before, the proposal and prevotes behind `validRound` (the polka).
    pub fn relay_messages(&self) -> (Vec<Proposal>, Vec<Vote>) {
        self.state
            .as_ref()
            .map_or((Vec::new(), Vec::new()), |s| s.relay_messages())
    }

    /// [`Self::relay_messages`] less what `peer` signed or its own votes show it holds.
    pub fn relay_messages_for(&self, peer: &Address) -> (Vec<Proposal>, Vec<Vote>) {
        self.state
            .as_ref()
            .map_or((Vec::new(), Vec::new()), |s| s.relay_messages_for(peer))
    }

    /// The current height (0 before the first start).
    pub fn height(&self) -> u64 {
        self.state.as_ref().map_or(0, |s| s.height)
    }

    /// The decision of the current height, once made.
    pub fn decision(&self) -> Option<&Decision> {
        self.state.as_ref().and_then(|s| s.decision.as_ref())
    }

    /// A diagnostic snapshot; `None` before the first start.
    pub fn status(&self) -> Option<Status> {
        self.state.as_ref().map(|s| Status {
            height: s.height,
            round: s.round,
            step: s.step,
            locked_round: s.locked.map(|(r, _)| r),
            locked_hash: s.locked.map(|(_, h)| h),
            valid_round: s.valid.map(|(r, _)| r),
            valid_hash: s.valid.map(|(_, h)| h),
            proposer: s.validators.proposer(s.height, s.round).address,
        })
    }

    /// Whether exactly this vote (signature included) is counted at the current height:
    /// then its signature was verified (a shell may keep it as held, §11).
    pub fn holds_vote(&self, vote: &Vote) -> bool {
        self.state.as_ref().is_some_and(|s| s.holds_vote(vote))
    }

    /// The verified votes of the current height: every counted one (own included), then
    /// the second vote of each equivocation seen.
    pub fn held_votes(&self) -> Vec<Vote> {
        self.state.as_ref().map_or(Vec::new(), |s| s.held_votes())
    }

    /// Equivocations seen at the current height.
    pub fn evidence(&self) -> &[Equivocation] {
        self.state.as_ref().map_or(&[], |s| &s.evidence)
    }
}
