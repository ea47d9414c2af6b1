"""The CLP response pool alone: what is pooled for the next block, and who gets it."""

from __future__ import annotations

import dataclasses
import time
from types import SimpleNamespace
from typing import Any

import pytest
from node_fakes import FakeLinks

from clp_node import responses
from clp_node.api.metrics import NodeMetrics
from clp_node.chain.block import Block
from clp_node.chain.genesis import Genesis
from clp_node.chain.keys import ValidatorKey
from clp_node.chain.state import AppliedBlock, ChainState
from clp_node.clp.types import ClpConfig, ClpResponse, ResponseRejectReason
from clp_node.relay import RELAY_AFTER_S
from clp_node.responses import FUTURE_RESPONSES_MAX, RESPONSE_RESEND_AFTER_S, ResponsePool

CHAIN = "t"
PREFIX = b'{"type":"clp_response"'


def _genesis(kit: SimpleNamespace) -> Genesis:
    """6 validators, a challenge every 2nd block and a window of 2 (a relay after 1 block)."""
    clp = dataclasses.replace(ClpConfig.test_profile(), response_window=2)
    genesis: Genesis = kit.genesis([100_000] * 6, clp=clp, chain_id=CHAIN)
    return genesis


def _next_block(state: ChainState, responses: tuple[ClpResponse, ...] = ()) -> AppliedBlock:
    """The same block at a height for every ChainState of the genesis."""
    h = state.next_height
    members = sorted(state.committee_for_height(h) or {})
    return state.apply_block(Block(CHAIN, h, state.head_hash, members[h % 6], responses, 1000 * h))


class Pool(SimpleNamespace):
    """KEYS[0]'s pool at height 2 (a challenge open), peers KEYS[1..5], what it sent."""

    pool: ResponsePool
    state: ChainState
    links: FakeLinks
    metrics: NodeMetrics
    proposers: set[str]
    flags: dict[str, bool]


@pytest.fixture
def p(kit: SimpleNamespace) -> Pool:
    state = ChainState(_genesis(kit))
    _next_block(state)
    _next_block(state)
    peers = [k.address for k in kit.keys[1:6]]
    links = FakeLinks(peers)
    metrics = NodeMetrics()
    proposers = {kit.keys[1].address, kit.keys[2].address}
    flags = {"lazy": False}
    pool = ResponsePool(
        kit.keys[0], state, peers, links, metrics, lambda: set(proposers), lambda: flags["lazy"]
    )
    return Pool(
        pool=pool, state=state, links=links, metrics=metrics, proposers=proposers, flags=flags
    )


def _response(p: Pool, key: ValidatorKey) -> ClpResponse:
    challenge = next(iter(p.state.clp.open_challenges()))
    return p.state.clp.handler.create_response(key, challenge)


def _frame_of(response: ClpResponse) -> dict[str, Any]:
    return {"type": "clp_response", **response.to_json()}


def _response_frames(p: Pool) -> dict[str, int]:
    return {
        a: sum(1 for f in p.links.frames_to(a) if f[4:].startswith(PREFIX)) for a in p.links.peers
    }


def _rejected(p: Pool, reason: ResponseRejectReason) -> float:
    value = p.metrics.registry.get_sample_value(
        "alphaos_clp_responses_rejected_total", {"reason": reason.value}
    )
    return value or 0.0


def test_a_peers_response_is_relayed_late_to_the_next_proposers_only(
    p: Pool, kit: SimpleNamespace
) -> None:
    sender = kit.keys[1].address
    p.pool.on_gossip(sender, _frame_of(_response(p, kit.keys[1])))
    assert len(p.pool.pool) == 1
    p.pool.tick(time.monotonic())
    assert sum(_response_frames(p).values()) == 0  # its signer sent it to everyone
    p.pool.tick(time.monotonic() + RELAY_AFTER_S)
    assert sum(_response_frames(p).values()) == 0  # no block went by without it yet
    _next_block(p.state)
    p.pool.tick(time.monotonic())
    assert sum(_response_frames(p).values()) == 0  # a block without it, but still young
    p.pool.tick(time.monotonic() + RELAY_AFTER_S)
    got = {a for a, n in _response_frames(p).items() if n}
    assert got == p.proposers - {sender}  # never back to its sender
    p.pool.tick(time.monotonic() + RELAY_AFTER_S)  # not again before a resend is due
    assert sum(_response_frames(p).values()) == len(got)


def test_a_clients_response_goes_to_every_peer_at_once(p: Pool, kit: SimpleNamespace) -> None:
    body = _response(p, kit.keys[2]).to_json()
    assert p.pool.submit(body) is None
    assert _response_frames(p) == dict.fromkeys(p.links.peers, 1)
    assert p.pool.submit(body) is ResponseRejectReason.DUPLICATE
    assert _rejected(p, ResponseRejectReason.DUPLICATE) == 1  # a client hears why
    assert p.pool.submit({"validator": 7}) is ResponseRejectReason.MALFORMED
    assert _rejected(p, ResponseRejectReason.MALFORMED) == 1


def test_our_own_response_is_sent_once_then_again_only_when_a_resend_is_due(p: Pool) -> None:
    p.pool.answer_open_challenges()
    assert _response_frames(p) == dict.fromkeys(p.links.peers, 0)  # the gossip loop sends it
    p.pool.tick(time.monotonic())
    assert _response_frames(p) == dict.fromkeys(p.links.peers, 1)
    p.pool.tick(time.monotonic())
    assert _response_frames(p) == dict.fromkeys(p.links.peers, 1)
    p.pool.tick(time.monotonic() + RESPONSE_RESEND_AFTER_S)
    assert _response_frames(p) == dict.fromkeys(p.links.peers, 2)


def test_a_lazy_validator_answers_nothing(p: Pool) -> None:
    p.flags["lazy"] = True
    p.pool.answer_open_challenges()
    _next_block(p.state)
    p.pool.after_block(_next_block(p.state))  # height 4: a new challenge
    assert p.pool.pool == {}


def test_a_new_challenge_is_answered_at_once_and_the_pool_follows_the_chain(
    p: Pool, kit: SimpleNamespace
) -> None:
    theirs = _response(p, kit.keys[3])
    p.pool.on_gossip(kit.keys[3].address, _frame_of(theirs))
    p.pool.after_block(_next_block(p.state, (theirs,)))  # height 3 carries it
    assert p.pool.pool == {}  # in a block: no longer for the next one
    applied = _next_block(p.state)  # height 4: a challenge
    assert applied.challenge is not None and kit.keys[0].address in applied.challenge.expected
    p.pool.after_block(applied)
    ours = p.state.clp.handler.create_response(kit.keys[0], applied.challenge)
    assert p.pool.pool == {ours.key(): ours}
    assert _response_frames(p) == dict.fromkeys(p.links.peers, 1)
    assert p.pool.for_block(p.state.next_height) == [ours]


def test_a_response_that_came_early_waits_for_its_challenge(p: Pool, kit: SimpleNamespace) -> None:
    ahead = ChainState(p.state.genesis)  # a peer two blocks ahead of us
    for _ in range(4):
        applied = _next_block(ahead)
    assert applied.challenge is not None
    early = ahead.clp.handler.create_response(kit.keys[4], applied.challenge)
    p.pool.on_gossip(kit.keys[4].address, _frame_of(early))
    assert p.pool.pool == {} and p.pool.future == {early.key(): early}
    assert _rejected(p, ResponseRejectReason.UNKNOWN_CHALLENGE) == 0
    p.pool.after_block(_next_block(p.state))
    assert early.key() in p.pool.future
    p.pool.after_block(_next_block(p.state))  # its challenge is here now
    assert p.pool.future == {} and early.key() in p.pool.pool


def test_early_responses_are_bounded(
    p: Pool, kit: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("clp_node.responses.FUTURE_RESPONSES_MAX", 0)
    assert FUTURE_RESPONSES_MAX > 0
    ahead = ChainState(p.state.genesis)
    for _ in range(4):
        applied = _next_block(ahead)
    assert applied.challenge is not None
    early = ahead.clp.handler.create_response(kit.keys[4], applied.challenge)
    p.pool.on_gossip(kit.keys[4].address, _frame_of(early))
    assert p.pool.future == {}
    assert _rejected(p, ResponseRejectReason.UNKNOWN_CHALLENGE) == 1


def test_a_forged_response_is_refused_and_counted(p: Pool, kit: SimpleNamespace) -> None:
    forged = dataclasses.replace(_response(p, kit.keys[1]), signature=b"\x01" * 64)
    p.pool.on_gossip(kit.keys[2].address, _frame_of(forged))
    assert p.pool.pool == {}
    assert _rejected(p, ResponseRejectReason.BAD_SIGNATURE) == 1
    p.pool.on_gossip(kit.keys[2].address, {"type": "clp_response", "validator": "x"})
    assert _rejected(p, ResponseRejectReason.MALFORMED) == 1


def test_a_block_carries_each_pooled_response_valid_for_it_in_key_order(
    p: Pool, kit: SimpleNamespace
) -> None:
    rs = [_response(p, k) for k in kit.keys[1:4]]
    for r in reversed(rs):
        p.pool.on_gossip(r.validator, _frame_of(r))
    assert p.pool.for_block(p.state.next_height) == sorted(rs, key=lambda r: r.key())


def test_our_answers_record_when_each_response_first_went_out(p: Pool) -> None:
    """§11 ``/alpha/clp/answers``: the first send is recorded, a resend does not move it."""
    p.pool.answer_open_challenges()
    assert p.pool.answers == {}  # pooled, not sent yet
    before = int(time.time() * 1000)
    p.pool.tick(time.monotonic())
    after = int(time.time() * 1000)
    assert list(p.pool.answers) == [2]
    assert before <= p.pool.answers[2] <= after
    first = p.pool.answers[2]
    p.pool.tick(time.monotonic() + RESPONSE_RESEND_AFTER_S)  # a resend
    assert p.pool.answers == {2: first}


def test_a_lazy_validator_records_no_answer(p: Pool) -> None:
    p.flags["lazy"] = True
    p.pool.answer_open_challenges()
    _next_block(p.state)
    p.pool.after_block(_next_block(p.state))
    p.pool.tick(time.monotonic())
    assert p.pool.answers == {}


def test_a_peers_response_is_no_answer_of_ours(p: Pool, kit: SimpleNamespace) -> None:
    p.pool.on_gossip(kit.keys[1].address, _frame_of(_response(p, kit.keys[1])))
    _next_block(p.state)
    p.pool.tick(time.monotonic() + RELAY_AFTER_S)  # relayed, but not ours
    assert p.pool.answers == {}


def test_answers_are_bounded_but_keep_the_current_and_previous_epoch(
    p: Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With room for 3 (E = 20, a challenge every 2nd height, none whose window crosses
    into the next epoch): the oldest go first, but never one of the previous or current
    epoch."""
    monkeypatch.setattr(responses, "ANSWERS_KEPT", 3)
    p.pool.answer_open_challenges()
    p.pool.tick(time.monotonic())
    while p.state.height < 40:
        p.pool.after_block(_next_block(p.state))
        p.pool.tick(time.monotonic())
    # epoch 2 is next: epoch 0's answers are gone, all of epoch 1's stay (more than 3)
    assert sorted(p.pool.answers) == list(range(22, 39, 2))
    p.pool.answers = {h: 1 for h in range(2, 39, 2)}  # as if nothing had been pruned
    p.pool.after_block(_next_block(p.state))
    assert sorted(p.pool.answers) == list(range(22, 39, 2))
