//! The state of one height and the upon-rules of Algorithm 1 (line numbers refer to the
//! paper's Algorithm 1).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ed25519_dalek::SigningKey;

use super::votes::{Added, VoteSet};
use super::{
    Action, Application, Decision, Equivocation, Recorded, Rejected, Step, Timeout, TimeoutConfig,
    TimeoutKind,
};
use crate::{Address, Block, BlockHash, CommitCertificate, Proposal, ValidatorSet, Vote, VoteType};

/// Everything seen in one round.
#[derive(Debug, Default)]
struct RoundState {
    /// The first correctly signed proposal of the round's proposer.
    proposal: Option<Proposal>,
    prevotes: VoteSet,
    precommits: VoteSet,
    /// Validators with any message in this round, for the round skip (line 55).
    senders: BTreeSet<Address>,
    senders_power: u128,
    /// "for the first time" guards of lines 34, 36 and 47.
    prevote_timeout_scheduled: bool,
    polka_handled: bool,
    precommit_timeout_scheduled: bool,
}

impl RoundState {
    fn votes(&self, vote_type: VoteType) -> &VoteSet {
        match vote_type {
            VoteType::Prevote => &self.prevotes,
            VoteType::Precommit => &self.precommits,
        }
    }

    fn votes_mut(&mut self, vote_type: VoteType) -> &mut VoteSet {
        match vote_type {
            VoteType::Prevote => &mut self.prevotes,
            VoteType::Precommit => &mut self.precommits,
        }
    }

    fn note_sender(&mut self, validator: Address, power: u64) {
        if self.senders.insert(validator) {
            self.senders_power += u128::from(power);
        }
    }
}

/// The consensus state of the height being decided.
#[derive(Debug)]
pub(super) struct HeightState {
    pub(super) chain_id: String,
    timeouts: TimeoutConfig,
    pub(super) height: u64,
    pub(super) validators: ValidatorSet,
    /// This validator's key and address, when it has voting power.
    own: Option<(SigningKey, Address)>,
    pub(super) round: u64,
    pub(super) step: Step,
    /// `(lockedRound, lockedValue)`.
    pub(super) locked: Option<(u64, BlockHash)>,
    /// `(validRound, validValue)`.
    pub(super) valid: Option<(u64, BlockHash)>,
    rounds: BTreeMap<u64, RoundState>,
    /// Blocks seen in proposals, by hash.
    blocks: HashMap<BlockHash, Block>,
    /// `valid(v)` answers, asked once per block.
    validity: HashMap<BlockHash, bool>,
    pub(super) own_votes: BTreeMap<(u64, VoteType), Vote>,
    pub(super) own_proposals: BTreeMap<u64, Proposal>,
    pub(super) evidence: Vec<Equivocation>,
    pub(super) decision: Option<Decision>,
}

impl HeightState {
    pub(super) fn new(
        chain_id: String,
        timeouts: TimeoutConfig,
        height: u64,
        validators: ValidatorSet,
        own: Option<(SigningKey, Address)>,
    ) -> HeightState {
        HeightState {
            chain_id,
            timeouts,
            height,
            validators,
            own,
            round: 0,
            step: Step::Propose,
            locked: None,
            valid: None,
            rounds: BTreeMap::new(),
            blocks: HashMap::new(),
            validity: HashMap::new(),
            own_votes: BTreeMap::new(),
            own_proposals: BTreeMap::new(),
            evidence: Vec::new(),
            decision: None,
        }
    }

    /// Takes back own recorded messages, resumes at their highest round (lock from the
    /// highest precommit for a block) and starts that round.
    pub(super) fn restore(
        &mut self,
        recorded: Recorded,
        actions: &mut Vec<Action>,
        app: &mut dyn Application,
    ) {
        let Some(me) = self.own.as_ref().map(|(_, a)| *a) else {
            self.start_round(0, actions, app);
            self.run_rules(actions, app);
            return;
        };
        let mut resume = 0;
        for proposal in recorded.proposals {
            if proposal.height != self.height || proposal.proposer != me {
                continue;
            }
            resume = resume.max(proposal.round);
            let round = proposal.round;
            self.blocks
                .insert(proposal.block.hash, proposal.block.clone());
            let state = self.rounds.entry(round).or_default();
            state.proposal.get_or_insert_with(|| proposal.clone());
            state.note_sender(me, self.validators.power(&me));
            self.own_proposals.insert(round, proposal);
        }
        for vote in recorded.votes {
            if vote.height != self.height || vote.validator != me {
                continue;
            }
            resume = resume.max(vote.round);
            if vote.vote_type == VoteType::Precommit {
                if let Some(hash) = vote.block_hash {
                    if self.locked.is_none_or(|(r, _)| vote.round > r) {
                        self.locked = Some((vote.round, hash));
                        self.valid = Some((vote.round, hash));
                    }
                }
            }
            self.count_vote(vote.clone(), actions);
            // The first recorded vote of a (round, type) is the one counted and sent
            // again; a conflicting later one (a test's double sign) is only evidence.
            self.own_votes
                .entry((vote.round, vote.vote_type))
                .or_insert(vote);
        }
        self.start_round(resume, actions, app);
        // Resume after the step already signed for, and send those votes again.
        for vote_type in [VoteType::Prevote, VoteType::Precommit] {
            if let Some(vote) = self.own_votes.get(&(resume, vote_type)) {
                actions.push(Action::SignedVote(vote.clone()));
                self.step = self.step.max(match vote_type {
                    VoteType::Prevote => Step::Prevote,
                    VoteType::Precommit => Step::Precommit,
                });
            }
        }
        self.run_rules(actions, app);
    }

    /// Checks and stores a proposal (lines 22, 28, 36, 49 then look at it).
    pub(super) fn receive_proposal(&mut self, proposal: Proposal) -> Result<(), Rejected> {
        let round = self.rounds.get(&proposal.round);
        if round.and_then(|s| s.proposal.as_ref()) == Some(&proposal) {
            return Ok(()); // a re-sent copy (gossip): already checked
        }
        let expected = self.validators.proposer(self.height, proposal.round);
        if proposal.proposer != expected.address {
            return Err(Rejected::WrongProposer {
                round: proposal.round,
                expected: expected.address,
                got: proposal.proposer,
            });
        }
        proposal
            .verify(&self.chain_id, &expected.public_key)
            .map_err(|e| Rejected::BadSignature(e.to_string()))?;
        if proposal.block.height != self.height {
            return Err(Rejected::Malformed(format!(
                "block height {} in a proposal for height {}",
                proposal.block.height, self.height
            )));
        }
        if proposal.pol_round.is_some_and(|vr| vr >= proposal.round) {
            return Err(Rejected::Malformed(format!(
                "pol_round {:?} not below round {}",
                proposal.pol_round, proposal.round
            )));
        }
        proposal
            .block
            .check_stateless(&self.chain_id)
            .map_err(|e| Rejected::Malformed(e.to_string()))?;
        let power = expected.stake;
        let state = self.rounds.entry(proposal.round).or_default();
        state.note_sender(proposal.proposer, power);
        if state.proposal.is_none() {
            self.blocks
                .entry(proposal.block.hash)
                .or_insert_with(|| proposal.block.clone());
            state.proposal = Some(proposal);
        }
        Ok(())
    }

    /// Checks and counts a vote.
    pub(super) fn receive_vote(
        &mut self,
        vote: Vote,
        actions: &mut Vec<Action>,
    ) -> Result<(), Rejected> {
        let round = self.rounds.get(&vote.round);
        if round.is_some_and(|s| s.votes(vote.vote_type).contains(&vote)) {
            return Ok(()); // a re-sent copy (gossip): already checked and counted
        }
        let Some(member) = self.validators.get(&vote.validator) else {
            return Err(Rejected::NoPower(vote.validator));
        };
        // Past a quorum (§16.6): a vote for a value its (round, type) already has a quorum
        // for meets no threshold that is not met (the value's, "any value", a later
        // round's f + 1), so it is dropped before its signature is checked, unless its
        // validator voted otherwise there: that vote is evidence.
        let past_quorum = round.is_some_and(|s| {
            let set = s.votes(vote.vote_type);
            set.of(&vote.validator).is_none()
                && self.validators.is_quorum(set.power_for(vote.block_hash))
        });
        if past_quorum {
            return Ok(());
        }
        vote.verify(&self.chain_id, &member.public_key)
            .map_err(|e| Rejected::BadSignature(e.to_string()))?;
        self.count_vote(vote, actions);
        Ok(())
    }

    /// Adds a vote known to be correctly signed by a member with power.
    fn count_vote(&mut self, vote: Vote, actions: &mut Vec<Action>) {
        let power = self.validators.power(&vote.validator);
        let state = self.rounds.entry(vote.round).or_default();
        state.note_sender(vote.validator, power);
        let second = vote.clone();
        if let Added::Conflict(first) = state.votes_mut(vote.vote_type).add(vote, power) {
            let evidence = Equivocation {
                first: *first,
                second,
            };
            if !self.evidence.contains(&evidence) {
                self.evidence.push(evidence.clone());
                actions.push(Action::Equivocation(evidence));
            }
        }
    }

    /// Whether exactly `vote` (signature included) is counted.
    pub(super) fn holds_vote(&self, vote: &Vote) -> bool {
        vote.height == self.height
            && self
                .rounds
                .get(&vote.round)
                .is_some_and(|s| s.votes(vote.vote_type).contains(vote))
    }

    /// Every counted vote, then the conflicting votes kept as evidence.
    pub(super) fn held_votes(&self) -> Vec<Vote> {
        let counted = self
            .rounds
            .values()
            .flat_map(|s| s.prevotes.all().chain(s.precommits.all()));
        counted
            .chain(self.evidence.iter().map(|e| &e.second))
            .cloned()
            .collect()
    }

    /// The proposal and votes to relay (see [`super::Consensus::relay_messages`]).
    pub(super) fn relay_messages(&self) -> (Vec<Proposal>, Vec<Vote>) {
        let (round, hash, votes) = match (&self.decision, self.valid) {
            (Some(d), _) => (
                d.certificate.round,
                d.certificate.block_hash,
                d.certificate.votes.clone(),
            ),
            (None, Some((round, hash))) => {
                let votes = self
                    .rounds
                    .get(&round)
                    .map_or(Vec::new(), |s| s.prevotes.votes_for(Some(hash)));
                (round, hash, votes)
            }
            (None, None) => return (Vec::new(), Vec::new()),
        };
        // The round's own proposal when it carried the block, else any that did.
        let proposal = self
            .rounds
            .get(&round)
            .and_then(|s| s.proposal.as_ref())
            .filter(|p| p.block.hash == hash)
            .or_else(|| {
                self.rounds
                    .values()
                    .filter_map(|s| s.proposal.as_ref())
                    .find(|p| p.block.hash == hash)
            });
        (proposal.into_iter().cloned().collect(), votes)
    }

    /// [`Self::relay_messages`] for `peer`, less what it signed and what its own counted
    /// votes show it holds (§16.7's should): a prevote for B in round r shows r's
    /// proposal for B, a precommit for it also the polka.
    pub(super) fn relay_messages_for(&self, peer: &Address) -> (Vec<Proposal>, Vec<Vote>) {
        let (proposals, votes) = self.relay_messages();
        let voted = |t: VoteType, round: u64, hash: Option<BlockHash>| {
            self.rounds
                .get(&round)
                .and_then(|s| s.votes(t).of(peer))
                .is_some_and(|v| v.block_hash == hash)
        };
        let proposals = proposals
            .into_iter()
            .filter(|p| {
                let hash = Some(p.block.hash);
                p.proposer != *peer
                    && !voted(VoteType::Prevote, p.round, hash)
                    && !voted(VoteType::Precommit, p.round, hash)
            })
            .collect();
        let votes = votes
            .into_iter()
            .filter(|v| {
                v.validator != *peer
                    && !(v.vote_type == VoteType::Prevote
                        && voted(VoteType::Precommit, v.round, v.block_hash))
            })
            .collect();
        (proposals, votes)
    }

    /// Lines 57-65: the timeouts, each only for the current round and step.
    pub(super) fn timeout(
        &mut self,
        kind: TimeoutKind,
        round: u64,
        actions: &mut Vec<Action>,
        app: &mut dyn Application,
    ) {
        if self.decision.is_some() || round != self.round {
            return;
        }
        match kind {
            TimeoutKind::Propose if self.step == Step::Propose => {
                self.vote(VoteType::Prevote, None, actions);
                self.step = Step::Prevote;
            }
            TimeoutKind::Prevote if self.step == Step::Prevote => {
                self.vote(VoteType::Precommit, None, actions);
                self.step = Step::Precommit;
            }
            TimeoutKind::Precommit => self.start_round(round + 1, actions, app),
            _ => {}
        }
    }

    /// Lines 11-21: StartRound.
    fn start_round(&mut self, round: u64, actions: &mut Vec<Action>, app: &mut dyn Application) {
        self.round = round;
        self.step = Step::Propose;
        let proposer = self.validators.proposer(self.height, round).address;
        let proposed = match &self.own {
            Some((_, me)) if *me == proposer => self.propose(round, actions, app),
            _ => false,
        };
        if !proposed {
            self.schedule(TimeoutKind::Propose, round, actions);
        }
    }

    /// Lines 15-19: propose `validValue` (with `validRound`) or a new block; `false` when
    /// there is nothing to propose.
    fn propose(
        &mut self,
        round: u64,
        actions: &mut Vec<Action>,
        app: &mut dyn Application,
    ) -> bool {
        let Some((key, me)) = &self.own else {
            return false;
        };
        if let Some(existing) = self.own_proposals.get(&round) {
            // Signed before a restart: the only proposal this round may have.
            actions.push(Action::SignedProposal(existing.clone()));
            return true;
        }
        let (block, pol_round) = match self
            .valid
            .and_then(|(r, h)| Some((r, self.blocks.get(&h)?)))
        {
            Some((valid_round, block)) => (block.clone(), Some(valid_round)),
            None => match app.build_block(self.height, round) {
                Some(block) => (block, None),
                None => return false,
            },
        };
        if block.height != self.height || block.check_stateless(&self.chain_id).is_err() {
            // The node built something this height cannot use; proposing it would only
            // make every validator prevote nil.
            return false;
        }
        let proposal = Proposal::sign(&self.chain_id, round, block, pol_round, *me, key);
        let me = *me;
        self.blocks
            .entry(proposal.block.hash)
            .or_insert_with(|| proposal.block.clone());
        let state = self.rounds.entry(round).or_default();
        state.note_sender(me, self.validators.power(&me));
        state.proposal.get_or_insert_with(|| proposal.clone());
        self.own_proposals.insert(round, proposal.clone());
        actions.push(Action::SignedProposal(proposal));
        true
    }

    /// Signs, counts and emits an own vote, unless one was already signed for this
    /// (round, type): then nothing, whatever the value (never a conflicting vote).
    fn vote(&mut self, vote_type: VoteType, value: Option<BlockHash>, actions: &mut Vec<Action>) {
        let Some((key, me)) = &self.own else {
            return;
        };
        if self.own_votes.contains_key(&(self.round, vote_type)) {
            return;
        }
        let vote = Vote::sign(
            &self.chain_id,
            vote_type,
            self.height,
            self.round,
            value,
            *me,
            key,
        );
        self.own_votes.insert((self.round, vote_type), vote.clone());
        self.count_vote(vote.clone(), actions);
        actions.push(Action::SignedVote(vote));
    }

    fn schedule(&self, kind: TimeoutKind, round: u64, actions: &mut Vec<Action>) {
        actions.push(Action::ScheduleTimeout(Timeout {
            kind,
            height: self.height,
            round,
            duration_ms: self.timeouts.duration_ms(kind, round),
        }));
    }

    /// `valid(v)` of a known block, asked of the node once per block.
    fn is_valid(&mut self, hash: BlockHash, app: &mut dyn Application) -> bool {
        if let Some(answer) = self.validity.get(&hash) {
            return *answer;
        }
        let Some(block) = self.blocks.get(&hash) else {
            return false;
        };
        let answer = app.validate(block).is_ok();
        self.validity.insert(hash, answer);
        answer
    }

    /// Applies the upon-rules until none fires.
    pub(super) fn run_rules(&mut self, actions: &mut Vec<Action>, app: &mut dyn Application) {
        while self.decision.is_none() && self.apply_one_rule(actions, app) {}
    }

    /// Fires the first applicable rule; `false` when none applies.
    fn apply_one_rule(&mut self, actions: &mut Vec<Action>, app: &mut dyn Application) -> bool {
        self.rule_decide(actions, app)
            || self.rule_round_skip(actions, app)
            || self.rule_proposal(actions, app)
            || self.rule_prevote_timeout(actions)
            || self.rule_polka(actions, app)
            || self.rule_polka_nil(actions)
            || self.rule_precommit_timeout(actions)
    }

    /// Line 49: +2/3 precommits for a known valid block in any round decide it.
    fn rule_decide(&mut self, actions: &mut Vec<Action>, app: &mut dyn Application) -> bool {
        let candidates: Vec<(u64, BlockHash)> = self
            .rounds
            .iter()
            .flat_map(|(round, state)| {
                state
                    .precommits
                    .values()
                    .filter_map(move |(value, power)| Some((*round, value?, power)))
            })
            .filter(|(_, _, power)| self.validators.is_quorum(*power))
            .map(|(round, hash, _)| (round, hash))
            .collect();
        for (round, hash) in candidates {
            if !self.blocks.contains_key(&hash) || !self.is_valid(hash, app) {
                continue;
            }
            let votes = self.rounds[&round].precommits.votes_for(Some(hash));
            let decision = Decision {
                block: self.blocks[&hash].clone(),
                certificate: CommitCertificate {
                    height: self.height,
                    round,
                    block_hash: hash,
                    votes,
                },
            };
            self.decide(decision, actions);
            return true;
        }
        false
    }

    /// Records the decision; the height is over.
    pub(super) fn decide(&mut self, decision: Decision, actions: &mut Vec<Action>) {
        self.step = Step::Decided;
        self.decision = Some(decision.clone());
        actions.push(Action::Decide(decision));
    }

    /// Line 55: messages of more than 1/3 of the power in a higher round: go there.
    fn rule_round_skip(&mut self, actions: &mut Vec<Action>, app: &mut dyn Application) -> bool {
        let target = self
            .rounds
            .range(self.round + 1..)
            .filter(|(_, state)| self.validators.is_one_third(state.senders_power))
            .map(|(round, _)| *round)
            .next_back();
        match target {
            Some(round) => {
                self.start_round(round, actions, app);
                true
            }
            None => false,
        }
    }

    /// Lines 22 and 28: the round's proposal, in step propose.
    fn rule_proposal(&mut self, actions: &mut Vec<Action>, app: &mut dyn Application) -> bool {
        if self.step != Step::Propose {
            return false;
        }
        let Some(proposal) = self
            .rounds
            .get(&self.round)
            .and_then(|s| s.proposal.as_ref())
        else {
            return false;
        };
        let hash = proposal.block.hash;
        let value = match proposal.pol_round {
            // Line 22: a new value; prevote it if valid and we are not locked on another.
            None => {
                let free = self.locked.is_none_or(|(_, locked)| locked == hash);
                let timely = self.blocks.get(&hash).is_some_and(|b| app.is_timely(b));
                (free && self.is_valid(hash, app) && timely).then_some(hash)
            }
            // Line 28: a re-proposal backed by +2/3 prevotes in round vr < round.
            Some(vr) => {
                let polka = self
                    .rounds
                    .get(&vr)
                    .is_some_and(|s| self.validators.is_quorum(s.prevotes.power_for(Some(hash))));
                if !polka {
                    return false;
                }
                let free = self
                    .locked
                    .is_none_or(|(locked_round, locked)| locked_round <= vr || locked == hash);
                (self.is_valid(hash, app) && free).then_some(hash)
            }
        };
        self.vote(VoteType::Prevote, value, actions);
        self.step = Step::Prevote;
        true
    }

    /// Line 34: +2/3 prevotes of any values in step prevote, first time: timeoutPrevote.
    fn rule_prevote_timeout(&mut self, actions: &mut Vec<Action>) -> bool {
        if self.step != Step::Prevote {
            return false;
        }
        let round = self.round;
        let Some(state) = self.rounds.get_mut(&round) else {
            return false;
        };
        if state.prevote_timeout_scheduled || !self.validators.is_quorum(state.prevotes.total()) {
            return false;
        }
        state.prevote_timeout_scheduled = true;
        self.schedule(TimeoutKind::Prevote, round, actions);
        true
    }

    /// Line 36: the round's block with +2/3 prevotes (a polka), valid, step >= prevote,
    /// first time: in step prevote lock on it and precommit it; set validValue.
    fn rule_polka(&mut self, actions: &mut Vec<Action>, app: &mut dyn Application) -> bool {
        if !matches!(self.step, Step::Prevote | Step::Precommit) {
            return false;
        }
        let round = self.round;
        let Some(state) = self.rounds.get(&round) else {
            return false;
        };
        if state.polka_handled {
            return false;
        }
        let Some(hash) = state.proposal.as_ref().map(|p| p.block.hash) else {
            return false;
        };
        if !self
            .validators
            .is_quorum(state.prevotes.power_for(Some(hash)))
            || !self.is_valid(hash, app)
        {
            return false;
        }
        if let Some(state) = self.rounds.get_mut(&round) {
            state.polka_handled = true;
        }
        if self.step == Step::Prevote {
            self.locked = Some((round, hash));
            self.vote(VoteType::Precommit, Some(hash), actions);
            self.step = Step::Precommit;
        }
        self.valid = Some((round, hash));
        true
    }

    /// Line 44: +2/3 prevotes for nil in step prevote: precommit nil.
    fn rule_polka_nil(&mut self, actions: &mut Vec<Action>) -> bool {
        if self.step != Step::Prevote {
            return false;
        }
        let nil_quorum = self
            .rounds
            .get(&self.round)
            .is_some_and(|s| self.validators.is_quorum(s.prevotes.power_for(None)));
        if !nil_quorum {
            return false;
        }
        self.vote(VoteType::Precommit, None, actions);
        self.step = Step::Precommit;
        true
    }

    /// Line 47: +2/3 precommits of any values, first time: timeoutPrecommit.
    fn rule_precommit_timeout(&mut self, actions: &mut Vec<Action>) -> bool {
        let round = self.round;
        let Some(state) = self.rounds.get_mut(&round) else {
            return false;
        };
        if state.precommit_timeout_scheduled || !self.validators.is_quorum(state.precommits.total())
        {
            return false;
        }
        state.precommit_timeout_scheduled = true;
        self.schedule(TimeoutKind::Precommit, round, actions);
        true
    }
}
