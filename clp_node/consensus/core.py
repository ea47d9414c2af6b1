"""Tendermint consensus (Buchman, Kwon, Milosevic 2018, Algorithm 1) as a pure state machine.

The core owns no clock, socket, thread or randomness: the node's shell feeds it events
(messages, fired timeouts, certificates from sync) and executes the actions it returns
(broadcast, schedule a timeout, apply a decided block). That keeps every safety-relevant
decision deterministic and testable by feeding messages directly (see simulator.py).

Line numbers in comments refer to Algorithm 1 of the paper.

What the shell must do (simulator.py is a working example of each point):
- Pass ``hash_of``: proposals sign only the block hash, so without it a relay could swap
  the block under a valid signature.
- Persist every Broadcast message before sending it (a WAL) and hand that height's
  messages back as ``start_height(..., restore=...)`` after a restart; otherwise a restarted
  validator can sign two different votes for one round (equivocation).
- Re-broadcast ``gossip_messages()`` periodically (not just ``own_messages()``): delivery
  is unreliable and liveness needs relays of the polka behind a lock.
- Block sync: a node behind by a height cannot decide it from later heights' messages.
  Peers answer with stored (block, certificate) pairs; the lagging node checks them with
  ``CommitCertificate.verify`` or feeds the current height's to ``on_certificate``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeAlias

from clp_node.consensus.types import (
    CommitCertificate,
    InvalidCertificate,
    Proposal,
    ValidatorSet,
    Vote,
    VoteType,
)

GetValue: TypeAlias = Callable[[int, int], tuple[bytes, object]]
IsValid: TypeAlias = Callable[[object], bool]
HashOf: TypeAlias = Callable[[object], bytes]
Message: TypeAlias = Proposal | Vote

DEFAULT_MAX_HEIGHTS_AHEAD = 4
DEFAULT_MAX_BUFFERED = 8192
DEFAULT_MAX_ROUNDS_AHEAD = 1000
MAX_EVIDENCE = 1024
# Alternative proposals kept per round from an equivocating proposer (the first one always
# counts); bounded so a Byzantine proposer cannot exhaust memory.
MAX_PROPOSALS_PER_ROUND = 8


class TimeoutKind(StrEnum):
    PROPOSE = "propose"
    PREVOTE = "prevote"
    PRECOMMIT = "precommit"


class Step(StrEnum):
    NEW_HEIGHT = "new_height"  # no height started yet
    PROPOSE = "propose"
    PREVOTE = "prevote"
    PRECOMMIT = "precommit"
    COMMIT = "commit"  # decided; idle until start_height(height + 1)


@dataclass(frozen=True)
class TimeoutConfig:
    """Round r waits ``base + r * delta_ms``: growing timeouts eventually exceed any unknown
    post-GST delay, which is what makes Tendermint live under partial synchrony.

    ``commit_ms`` is not used by the core: it is how long the shell waits after Decide
    before start_height(h + 1), i.e. the target block interval.
    """

    propose_ms: int
    prevote_ms: int
    precommit_ms: int
    delta_ms: int
    commit_ms: int = 0

    def __post_init__(self) -> None:
        for name in ("propose_ms", "prevote_ms", "precommit_ms", "delta_ms", "commit_ms"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if self.propose_ms == 0:
            raise ValueError("propose_ms must be positive")

    def delay_ms(self, kind: TimeoutKind, round: int) -> int:
        base = {
            TimeoutKind.PROPOSE: self.propose_ms,
            TimeoutKind.PREVOTE: self.prevote_ms,
            TimeoutKind.PRECOMMIT: self.precommit_ms,
        }[kind]
        return base + round * self.delta_ms

    @classmethod
    def test_profile(cls) -> TimeoutConfig:
        """For a 200 ms block interval on loopback: faults cost a few hundred ms per round."""
        return cls(propose_ms=300, prevote_ms=150, precommit_ms=150, delta_ms=75, commit_ms=200)

    @classmethod
    def production(cls) -> TimeoutConfig:
        return cls(
            propose_ms=3000, prevote_ms=1000, precommit_ms=1000, delta_ms=500, commit_ms=1000
        )


# --- actions -------------------------------------------------------------------------


@dataclass(frozen=True)
class Broadcast:
    """Send to every peer. The core has already counted its own message: do not feed it back."""

    message: Proposal | Vote


@dataclass(frozen=True)
class ScheduleTimeout:
    """Call on_timeout(kind, height, round) after delay_ms; stale timeouts are harmless."""

    kind: TimeoutKind
    height: int
    round: int
    delay_ms: int


@dataclass(frozen=True)
class Decide:
    """``block`` is final at ``height``: apply it, store it with its certificate, and call
    start_height(height + 1) after the block interval."""

    height: int
    round: int
    block_hash: bytes
    block: object = field(compare=False)
    certificate: CommitCertificate


Action: TypeAlias = Broadcast | ScheduleTimeout | Decide


@dataclass(frozen=True)
class Evidence:
    """Two conflicting messages signed by one validator for one (type, height, round)."""

    first: Proposal | Vote
    second: Proposal | Vote

    @property
    def offender(self) -> str:
        m = self.first
        return m.validator if isinstance(m, Vote) else m.proposer


@dataclass(frozen=True)
class CoreStatus:
    height: int
    round: int
    step: Step
    locked_round: int
    valid_round: int
    is_validator: bool
    proposer: str | None
    decided: bool
    buffered: int

    def to_json(self) -> dict[str, Any]:
        return {
            "height": self.height,
            "round": self.round,
            "step": str(self.step),
            "locked_round": self.locked_round,
            "valid_round": self.valid_round,
            "is_validator": self.is_validator,
            "proposer": self.proposer,
            "decided": self.decided,
            "buffered": self.buffered,
        }


# --- per-round bookkeeping -----------------------------------------------------------


class _RoundState:
    """Messages and tallies of one round.

    Like the paper, every validly signed message counts toward the value it names, so an
    equivocator's conflicting votes each count in their own bucket (safe: two quorums for
    different values would need > 1/3 equivocators). Counting only a first vote would let
    an equivocator hide a polka from nodes that saw another version first, and stall
    locked nodes forever. Totals "of any value" count each validator once.
    """

    __slots__ = (
        "polka_handled",
        "precommit_timeout_scheduled",
        "prevote_timeout_scheduled",
        "proposal",
        "proposals",
        "sender_power",
        "senders",
        "tally",
        "total",
        "votes",
    )

    def __init__(self) -> None:
        self.proposal: Proposal | None = None  # the first received: drives lines 22/28
        self.proposals: dict[bytes, Proposal] = {}  # every accepted one, by block hash
        # type -> validator -> block hash -> vote; the first entry is the validator's first
        self.votes: dict[VoteType, dict[str, dict[bytes | None, Vote]]] = {t: {} for t in VoteType}
        self.tally: dict[VoteType, dict[bytes | None, int]] = {t: {} for t in VoteType}
        self.total: dict[VoteType, int] = dict.fromkeys(VoteType, 0)
        self.senders: set[str] = set()
        self.sender_power = 0
        self.prevote_timeout_scheduled = False  # line 34 "for the first time"
        self.precommit_timeout_scheduled = False  # line 47 "for the first time"
        self.polka_handled = False  # line 36 "for the first time"

    def power_for(self, vote_type: VoteType, block_hash: bytes | None) -> int:
        return self.tally[vote_type].get(block_hash, 0)

    def first_vote(self, vote_type: VoteType, validator: str) -> Vote | None:
        by_hash = self.votes[vote_type].get(validator)
        return None if not by_hash else next(iter(by_hash.values()))

    def votes_for(self, vote_type: VoteType, block_hash: bytes | None) -> list[Vote]:
        return [
            by_hash[block_hash]
            for by_hash in self.votes[vote_type].values()
            if block_hash in by_hash
        ]


def _buffer_key(m: Message) -> tuple[object, ...]:
    # The signature is part of the key so a forged copy cannot shadow the real message.
    if isinstance(m, Vote):
        return ("v", m.type, m.round, m.validator, m.block_hash, m.signature)
    return ("p", m.round, m.proposer, m.block_hash, m.pol_round, m.signature)


class TendermintCore:
    """One node's Tendermint state machine for a sequence of heights.

    A node whose ``my_address`` is None, not in the height's validator set, or that has
    no signer is a follower: it runs the same rules and decides, but never signs.
    """

    def __init__(
        self,
        chain_id: str,
        my_address: str | None,
        signer: Callable[[bytes], bytes] | None,
        timeouts: TimeoutConfig,
        *,
        hash_of: HashOf | None = None,
        max_heights_ahead: int = DEFAULT_MAX_HEIGHTS_AHEAD,
        max_buffered: int = DEFAULT_MAX_BUFFERED,
        max_rounds_ahead: int = DEFAULT_MAX_ROUNDS_AHEAD,
    ) -> None:
        self._chain_id = chain_id
        self._me = my_address
        self._signer = signer
        self._timeouts = timeouts
        self._hash_of = hash_of
        self._max_heights_ahead = max_heights_ahead
        self._max_buffered = max_buffered
        self._max_rounds_ahead = max_rounds_ahead

        self._counters: dict[str, int] = {}
        self._evidence: list[Evidence] = []
        self._buffer: dict[int, dict[tuple[object, ...], Message]] = {}
        self._buffered = 0
        self._actions: list[Action] = []

        self._height = 0
        self._started = False
        self._validators: ValidatorSet | None = None
        self._get_value: GetValue | None = None
        self._is_valid: IsValid | None = None
        self._reset_height_state()

    def _reset_height_state(self) -> None:
        self._round = 0
        self._step = Step.NEW_HEIGHT if not self._started else Step.PROPOSE
        self._locked_hash: bytes | None = None
        self._locked_round = -1
        self._valid_hash: bytes | None = None
        self._valid_block: object = None
        self._valid_round = -1
        self._rounds: dict[int, _RoundState] = {}
        self._blocks: dict[bytes, object] = {}
        self._validity: dict[bytes, bool] = {}
        self._commit_candidates: dict[tuple[int, bytes], None] = {}
        self._skip_round = -1
        self._decision: Decide | None = None
        self._own: list[Message] = []
        self._evidence_keys: set[tuple[object, ...]] = set()
        self._is_validator = False

    # --- public API --------------------------------------------------------------------

    @property
    def height(self) -> int:
        return self._height

    @property
    def round(self) -> int:
        return self._round

    @property
    def step(self) -> Step:
        return self._step

    @property
    def decision(self) -> Decide | None:
        return self._decision

    @property
    def validators(self) -> ValidatorSet | None:
        return self._validators

    @property
    def evidence(self) -> tuple[Evidence, ...]:
        return tuple(self._evidence)

    def held_votes(self) -> list[Vote]:
        """Every verified vote of the current height the rounds hold, each once (the shell
        serves them, docs/protocol.md §11); read on request, so counting costs nothing."""
        return [
            vote
            for rs in self._rounds.values()
            for by_validator in rs.votes.values()
            for by_hash in by_validator.values()
            for vote in by_hash.values()
        ]

    def take_evidence(self) -> list[Evidence]:
        """Hand recorded equivocations to the shell (e.g. for a block) and forget them."""
        taken, self._evidence = self._evidence, []
        return taken

    def counters(self) -> dict[str, int]:
        """Why messages were dropped or ignored, for metrics; keys appear on first use."""
        return dict(self._counters)

    def status(self) -> CoreStatus:
        return CoreStatus(
            height=self._height,
            round=self._round,
            step=self._step,
            locked_round=self._locked_round,
            valid_round=self._valid_round,
            is_validator=self._is_validator,
            proposer=(
                self._validators.proposer(self._height, self._round)
                if self._validators is not None
                else None
            ),
            decided=self._decision is not None,
            buffered=self._buffered,
        )

    def own_messages(self, current_round_only: bool = False) -> list[Proposal | Vote]:
        """What this node signed at the current height, for periodic re-broadcast.

        Delivery is unreliable, so the shell re-gossips these; all rounds are returned by
        default because a later proposal's POL round may need our old prevotes.
        """
        if current_round_only:
            return [m for m in self._own if m.round == self._round]
        return list(self._own)

    def proposal_for(self, round: int, block_hash: bytes) -> Proposal | None:
        """The accepted proposal of ``round`` for ``block_hash`` at the current height.

        The shell stores it next to a precommit for that hash, so that after a restart
        ``restore`` gives back the block behind the lock, not just its hash.
        """
        rs = self._rounds.get(round)
        return None if rs is None else rs.proposals.get(block_hash)

    def round_proposal(self, round: int) -> Proposal | None:
        """The first accepted proposal of ``round`` at the current height (lines 22/28)."""
        rs = self._rounds.get(round)
        return None if rs is None else rs.proposal

    def gossip_messages(self) -> list[Proposal | Vote]:
        """What the shell should re-broadcast periodically: own messages plus relays.

        Own messages alone are not enough. The paper assumes every message a correct node
        received reaches all correct nodes; without relaying, a polka that included a
        validator which then crashed is lost to nodes that missed it, and locked nodes
        can then never be joined (a live-lock found by the simulator). So we also relay
        the proposal and prevotes behind our valid round, and once decided the certificate's
        precommits with a proposal carrying the block, so peers at this height can decide.
        """
        out = list(self._own)
        seen = {id(m) for m in out}

        def add(m: Message) -> None:
            if id(m) not in seen:
                seen.add(id(m))
                out.append(m)

        if self._valid_round >= 0 and self._valid_hash is not None:
            pol = self._rounds[self._valid_round]
            add(pol.proposals[self._valid_hash])
            for v in pol.votes_for(VoteType.PREVOTE, self._valid_hash):
                add(v)
        if self._decision is not None:
            decided = self._decision
            holder = next(
                (
                    rs.proposals[decided.block_hash]
                    for rs in self._rounds.values()
                    if decided.block_hash in rs.proposals
                ),
                None,
            )
            if holder is not None:
                add(holder)
            for v in decided.certificate.votes:
                add(v)
        return out

    def start_height(
        self,
        height: int,
        validators: ValidatorSet,
        get_value: GetValue,
        is_valid: IsValid,
        *,
        restore: Iterable[Proposal | Vote] = (),
    ) -> list[Action]:
        """Begin ``height`` at round 0 and replay messages buffered for it.

        ``restore``: messages this node signed at this height before a restart (the
        shell's write-ahead log), plus the proposals its precommits named (see
        ``proposal_for``). They are loaded before any round starts, so a restarted node
        re-sends them instead of signing anything conflicting, and keeps the lock and the
        valid round its precommits stand for.
        """
        if height < 1:
            raise ValueError("consensus heights start at 1 (0 is genesis)")
        if self._started and height <= self._height:
            raise ValueError(f"height {height} is not after current height {self._height}")
        self._actions = []
        self._height = height
        self._started = True
        self._validators = validators
        self._get_value = get_value
        self._is_valid = is_valid
        self._reset_height_state()
        self._is_validator = (
            self._signer is not None and self._me is not None and validators.contains(self._me)
        )
        start_round = 0
        # Proposals first: a restored precommit can then find the block it locked on.
        for m in sorted(restore, key=lambda m: isinstance(m, Vote)):
            own = self._sender(m) == self._me
            if m.height != height or not (own or isinstance(m, Proposal)):
                raise ValueError(
                    "restore takes this node's messages for this height and the proposals "
                    "they named"
                )
            self._handle(m)
            start_round = max(start_round, m.round)
        for h in [h for h in self._buffer if h <= height]:
            pending = self._buffer.pop(h)
            self._buffered -= len(pending)
            if h == height:
                for m in pending.values():
                    self._handle(m)
        self._start_round(start_round)
        self._run_rules()
        return self._take_actions()

    def on_proposal(self, proposal: Proposal) -> list[Action]:
        self._actions = []
        if self._admit(proposal):
            self._handle(proposal)
            self._run_rules()
        return self._take_actions()

    def on_vote(self, vote: Vote) -> list[Action]:
        self._actions = []
        if self._admit(vote):
            self._handle(vote)
            self._run_rules()
        return self._take_actions()

    def on_timeout(self, kind: TimeoutKind, height: int, round: int) -> list[Action]:
        self._actions = []
        if height == self._height and round == self._round and self._active():
            if kind is TimeoutKind.PROPOSE and self._step is Step.PROPOSE:  # line 57
                self._prevote(None)
            elif kind is TimeoutKind.PREVOTE and self._step is Step.PREVOTE:  # line 61
                self._precommit(None)
            elif kind is TimeoutKind.PRECOMMIT:  # line 65
                self._start_round(self._round + 1)
            self._run_rules()
        return self._take_actions()

    def on_certificate(self, certificate: CommitCertificate, block: object) -> list[Action]:
        """Decide the current height from a verified certificate (sync / catch-up path).

        Returns [] (and counts why) if the certificate is not for the current undecided
        height, does not verify, or the block does not match or is invalid.
        """
        self._actions = []
        if not self._active() or certificate.height != self._height:
            self._count("certificate_not_current")
            return []
        assert self._validators is not None
        try:
            certificate.verify(self._chain_id, self._validators)
        except InvalidCertificate:
            self._count("certificate_invalid")
            return []
        if not self._hash_matches(block, certificate.block_hash):
            self._count("certificate_block_mismatch")
            return []
        self._blocks.setdefault(certificate.block_hash, block)
        if not self._valid(certificate.block_hash):
            self._count("certificate_block_invalid")
            return []
        self._decide(certificate.round, certificate.block_hash, block, certificate)
        return self._take_actions()

    # --- admission ---------------------------------------------------------------------

    def _active(self) -> bool:
        return self._started and self._step not in (Step.NEW_HEIGHT, Step.COMMIT)

    def _take_actions(self) -> list[Action]:
        actions, self._actions = self._actions, []
        return actions

    def _count(self, key: str) -> None:
        self._counters[key] = self._counters.get(key, 0) + 1

    @staticmethod
    def _sender(m: Message) -> str:
        return m.validator if isinstance(m, Vote) else m.proposer

    def _admit(self, m: Message) -> bool:
        """True if ``m`` is for the current height; buffer near-future heights, drop the rest."""
        if not isinstance(m, Vote | Proposal):
            self._count("malformed")
            return False
        if self._started and m.height == self._height:
            if self._step is Step.COMMIT:
                self._count("after_decision")
                return False
            return True
        if m.height <= self._height:
            self._count("stale")
            return False
        if m.height - self._height > self._max_heights_ahead:
            self._count("too_far_ahead")
            return False
        bucket = self._buffer.setdefault(m.height, {})
        key = _buffer_key(m)
        if key in bucket:
            self._count("duplicate")
        elif self._buffered >= self._max_buffered:
            self._count("buffer_full")
        else:
            bucket[key] = m
            self._buffered += 1
            self._count("buffered")
        return False

    def _handle(self, m: Message) -> None:
        if m.round > self._round + self._max_rounds_ahead:
            self._count("round_too_far_ahead")
            return
        if isinstance(m, Vote):
            self._handle_vote(m)
        else:
            self._handle_proposal(m)

    def _handle_vote(self, vote: Vote) -> None:
        assert self._validators is not None
        rs = self._rounds.get(vote.round)
        by_hash = None if rs is None else rs.votes[vote.type].get(vote.validator)
        if by_hash is not None and vote.block_hash in by_hash:
            self._count("duplicate")
            return
        if not self._validators.contains(vote.validator):
            self._count("not_member")
            return
        if (
            rs is not None
            and not by_hash
            and vote.validator != self._me
            and rs.tally[vote.type].get(vote.block_hash, 0) >= self._validators.quorum_power
        ):
            # A quorum for this value of this round is in: one more vote for it meets no
            # threshold that is not met already (for it, for "any", the f+1 of a round),
            # so it is dropped before its signature is checked. (A second, conflicting
            # vote of a validator still is verified: that is evidence.)
            self._count("past_quorum")
            return
        if not vote.verify(self._chain_id, self._validators.public_key(vote.validator)):
            self._count("bad_signature")
            return
        if rs is not None and by_hash:
            self._record_evidence(next(iter(by_hash.values())), vote)
            if vote.block_hash is not None and vote.block_hash not in rs.proposals:
                # Honest votes of round r name a round-r proposal or nil; anchoring to
                # those bounds what an equivocator can make us store. A relay re-sends it
                # once the proposal is known.
                self._count("conflicting_vote_unanchored")
                return
            self._add_vote(vote, first=False)
            return
        if vote.validator == self._me:
            self._own.append(vote)
            if (
                vote.type is VoteType.PRECOMMIT
                and vote.block_hash is not None
                and vote.round > self._locked_round
            ):  # our own precommit replayed after a restart: we were locked on it
                self._locked_hash, self._locked_round = vote.block_hash, vote.round
                # ...and had seen its polka (line 36), so it is our valid value too.
                proposal = self.proposal_for(vote.round, vote.block_hash)
                if proposal is not None and vote.round > self._valid_round:
                    self._valid_hash, self._valid_block = vote.block_hash, proposal.block
                    self._valid_round = vote.round
        self._add_vote(vote, first=True)

    def _handle_proposal(self, p: Proposal) -> None:
        assert self._validators is not None
        if p.proposer != self._validators.proposer(self._height, p.round):
            self._count("wrong_proposer")
            return
        rs = self._rounds.get(p.round)
        same = None if rs is None else rs.proposals.get(p.block_hash)
        if same is not None and same.pol_round == p.pol_round:
            self._count("duplicate")
            return
        if not p.verify(self._chain_id, self._validators.public_key(p.proposer)):
            self._count("bad_signature")
            return
        if not self._hash_matches(p.block, p.block_hash):
            # Only the hash is signed: a relay may have swapped the block. Drop it so
            # the genuine proposal can still be accepted when it arrives.
            self._count("block_hash_mismatch")
            return
        if rs is not None and rs.proposal is not None:
            self._record_evidence(rs.proposal, p)
            if same is None and len(rs.proposals) < MAX_PROPOSALS_PER_ROUND:
                rs.proposals[p.block_hash] = p  # another polka may form on it (line 36/49)
                self._blocks.setdefault(p.block_hash, p.block)
            return
        rs = self._round_state(p.round)
        rs.proposal = p
        rs.proposals[p.block_hash] = p
        self._blocks.setdefault(p.block_hash, p.block)
        if p.proposer == self._me:
            self._own.append(p)
        self._note_sender(p.round, p.proposer)

    def _hash_matches(self, block: object, block_hash: bytes) -> bool:
        if self._hash_of is None:
            return True
        try:
            return self._hash_of(block) == block_hash
        except Exception:  # a hostile block may break the shell's hasher: not our crash
            return False

    def _record_evidence(self, first: Message, second: Message) -> None:
        key = _buffer_key(second)
        if key in self._evidence_keys:  # the same conflicting message re-gossiped
            return
        self._count("equivocation")
        if len(self._evidence) < MAX_EVIDENCE:
            self._evidence_keys.add(key)
            self._evidence.append(Evidence(first, second))

    def _round_state(self, round: int) -> _RoundState:
        rs = self._rounds.get(round)
        if rs is None:
            rs = self._rounds[round] = _RoundState()
        return rs

    def _note_sender(self, round: int, sender: str) -> None:
        assert self._validators is not None
        rs = self._round_state(round)
        if sender not in rs.senders:
            rs.senders.add(sender)
            rs.sender_power += self._validators.power(sender)
            if (
                round > self._round
                and rs.sender_power >= self._validators.f_plus_one_power
                and round > self._skip_round
            ):
                self._skip_round = round

    def _add_vote(self, vote: Vote, first: bool) -> None:
        assert self._validators is not None
        rs = self._round_state(vote.round)
        rs.votes[vote.type].setdefault(vote.validator, {})[vote.block_hash] = vote
        power = self._validators.power(vote.validator)
        tally = rs.tally[vote.type]
        tally[vote.block_hash] = tally.get(vote.block_hash, 0) + power
        if first:
            rs.total[vote.type] += power
        if (
            vote.type is VoteType.PRECOMMIT
            and vote.block_hash is not None
            and tally[vote.block_hash] >= self._validators.quorum_power
        ):
            self._commit_candidates[(vote.round, vote.block_hash)] = None
        self._note_sender(vote.round, vote.validator)

    # --- the algorithm -----------------------------------------------------------------

    def _valid(self, block_hash: bytes) -> bool:
        cached = self._validity.get(block_hash)
        if cached is not None:
            return cached
        assert self._is_valid is not None
        block = self._blocks[block_hash]
        try:
            ok = bool(self._is_valid(block))
        except Exception:  # a hostile block must not crash the node
            self._count("is_valid_error")
            ok = False
        self._validity[block_hash] = ok
        return ok

    def _run_rules(self) -> None:
        """Apply the upon-rules until none fires: the order of arrivals never matters."""
        while self._active():
            if self._try_decide():
                return
            if self._skip_round > self._round:  # line 55
                self._start_round(self._skip_round)
                continue
            if not self._round_rules():
                return

    def _try_decide(self) -> bool:
        """Line 49, any round: a known, valid block with a precommit quorum is final."""
        for r, block_hash in self._commit_candidates:
            if block_hash in self._blocks and self._valid(block_hash):
                votes = tuple(
                    sorted(
                        self._rounds[r].votes_for(VoteType.PRECOMMIT, block_hash),
                        key=lambda v: v.validator,
                    )
                )
                cert = CommitCertificate(self._height, r, block_hash, votes)
                self._decide(r, block_hash, self._blocks[block_hash], cert)
                return True
        return False

    def _decide(
        self, round: int, block_hash: bytes, block: object, cert: CommitCertificate
    ) -> None:
        self._step = Step.COMMIT
        self._decision = Decide(self._height, round, block_hash, block, cert)
        self._actions.append(self._decision)

    def _round_rules(self) -> bool:
        """Rules of the current round; True if one fired (state changed)."""
        assert self._validators is not None
        quorum = self._validators.quorum_power
        rs = self._round_state(self._round)
        p = rs.proposal
        fired = False

        if self._step is Step.PROPOSE and p is not None:
            if p.pol_round == -1:  # line 22
                ok = self._valid(p.block_hash) and (
                    self._locked_round == -1 or self._locked_hash == p.block_hash
                )
                self._prevote(p.block_hash if ok else None)
                return True
            pol = self._rounds.get(p.pol_round)
            if pol is not None and pol.power_for(VoteType.PREVOTE, p.block_hash) >= quorum:
                ok = self._valid(p.block_hash) and (  # line 28
                    self._locked_round <= p.pol_round or self._locked_hash == p.block_hash
                )
                self._prevote(p.block_hash if ok else None)
                return True

        if (
            self._step is Step.PREVOTE
            and not rs.prevote_timeout_scheduled
            and rs.total[VoteType.PREVOTE] >= quorum
        ):  # line 34
            rs.prevote_timeout_scheduled = True
            self._schedule(TimeoutKind.PREVOTE)
            fired = True

        if self._step in (Step.PREVOTE, Step.PRECOMMIT) and not rs.polka_handled:
            polka = next(
                (
                    q
                    for q in rs.proposals.values()
                    if rs.power_for(VoteType.PREVOTE, q.block_hash) >= quorum
                    and self._valid(q.block_hash)
                ),
                None,
            )
            if polka is not None:  # line 36
                rs.polka_handled = True
                if self._step is Step.PREVOTE:
                    sent = self._precommit(polka.block_hash)
                    if sent is None or sent.block_hash == polka.block_hash:
                        self._locked_hash, self._locked_round = polka.block_hash, self._round
                self._valid_hash, self._valid_block = polka.block_hash, polka.block
                self._valid_round = self._round
                return True

        if self._step is Step.PREVOTE and rs.power_for(VoteType.PREVOTE, None) >= quorum:
            self._precommit(None)  # line 44
            return True

        if not rs.precommit_timeout_scheduled and rs.total[VoteType.PRECOMMIT] >= quorum:
            rs.precommit_timeout_scheduled = True  # line 47
            self._schedule(TimeoutKind.PRECOMMIT)
            fired = True
        return fired

    def _start_round(self, round: int) -> None:
        assert self._validators is not None
        self._round = round
        self._step = Step.PROPOSE
        rs = self._round_state(round)
        if self._is_validator and self._validators.proposer(self._height, round) == self._me:
            if rs.proposal is not None:  # already proposed before a restart: same message
                self._actions.append(Broadcast(rs.proposal))
                return
            if self._valid_block is not None and self._valid_hash is not None:
                block_hash, block, pol = self._valid_hash, self._valid_block, self._valid_round
            else:
                assert self._get_value is not None
                block_hash, block = self._get_value(self._height, round)
                pol = -1
                if not self._hash_matches(block, block_hash):
                    raise ValueError("get_value returned a block that does not match its hash")
            assert self._signer is not None and self._me is not None
            proposal = Proposal.create(
                self._chain_id, self._height, round, block_hash, block, pol, self._me, self._signer
            )
            rs.proposal = proposal
            rs.proposals[block_hash] = proposal
            self._blocks.setdefault(block_hash, block)
            self._own.append(proposal)
            self._note_sender(round, self._me)
            self._actions.append(Broadcast(proposal))
        else:
            self._schedule(TimeoutKind.PROPOSE)

    def _schedule(self, kind: TimeoutKind) -> None:
        delay = self._timeouts.delay_ms(kind, self._round)
        self._actions.append(ScheduleTimeout(kind, self._height, self._round, delay))

    def _prevote(self, block_hash: bytes | None) -> Vote | None:
        self._step = Step.PREVOTE
        return self._sign_vote(VoteType.PREVOTE, block_hash)

    def _precommit(self, block_hash: bytes | None) -> Vote | None:
        self._step = Step.PRECOMMIT
        return self._sign_vote(VoteType.PRECOMMIT, block_hash)

    def _sign_vote(self, vote_type: VoteType, block_hash: bytes | None) -> Vote | None:
        """Sign at most one vote per (type, round), ever: a restored vote is re-sent instead."""
        if not self._is_validator:
            return None
        assert self._signer is not None and self._me is not None
        rs = self._round_state(self._round)
        existing = rs.first_vote(vote_type, self._me)
        if existing is not None:
            self._actions.append(Broadcast(existing))
            return existing
        vote = Vote.create(
            self._chain_id, vote_type, self._height, self._round, block_hash, self._me, self._signer
        )
        self._own.append(vote)
        self._add_vote(vote, first=True)
        self._actions.append(Broadcast(vote))
        return vote
