"""ChainState + ClpManager driven with real blocks (CLP_SPEC §3-§7 end to end)."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import replace
from types import SimpleNamespace

import pytest

from clp_node.chain.block import Block
from clp_node.chain.state import ChainState, InvalidBlock
from clp_node.clp.types import (
    ClpChallenge,
    ClpConfig,
    ClpResponse,
    ResponseRejectReason,
    ValidatorStatus,
)

BIG = 100_000
R = ResponseRejectReason
S = ValidatorStatus


def spec_challenge_value(chain_id: str, h: int, block_hash: bytes) -> bytes:
    cid = chain_id.encode()
    raw = b"alphaos.clp.challenge.v1" + struct.pack(">H", len(cid)) + cid
    return hashlib.blake2b(raw + struct.pack(">Q", h) + block_hash, digest_size=32).digest()


def outcome(state: ChainState, epoch: int, addr: str) -> object:
    return next(v for v in state.epoch_results[epoch].validators if v.address == addr)


def test_initial_state(kit: SimpleNamespace) -> None:
    g = kit.genesis([BIG] * 5)
    s = ChainState(g)
    assert (s.height, s.next_height, s.current_epoch) == (0, 1, 0)
    assert s.head_hash == g.hash()
    assert s.committee(0) == dict.fromkeys(kit.addrs[:5], BIG)
    assert s.committee(1) is None
    assert s.committee_for_height(20) == s.committee(0)
    assert s.committee_for_height(21) is None
    with pytest.raises(ValueError):
        s.committee_for_height(0)
    assert s.ledger.conserved() and s.ledger.genesis_total == 5 * BIG
    s.committee(0)[kit.addrs[0]] = 1  # a copy: the state is not changed through it
    assert s.committee(0)[kit.addrs[0]] == BIG


def test_challenges_follow_blocks(kit: SimpleNamespace) -> None:
    d = kit.Driver(kit.genesis([BIG] * 5))
    applied = d.run_to(24)
    issued = [a.height for a in applied if a.challenge is not None]
    assert issued == [2, 4, 6, 8, 10, 12, 14, 16, 22, 24]
    for a, b in zip(applied, d.blocks, strict=True):
        if a.challenge is not None:
            assert a.challenge.value == spec_challenge_value("t", b.height, b.hash)
            assert a.challenge.deadline == b.height + 4
            assert a.challenge.expected == tuple(kit.addrs[:5])
            assert a.challenge.epoch == (b.height - 1) // 20
    fin = {a.height: a.finalized for a in applied if a.finalized}
    assert sorted(fin) == [6, 8, 10, 12, 14, 16, 18, 20]
    assert fin[20] == {16: dict.fromkeys(kit.addrs[:5], True)}
    assert [a.height for a in applied if a.epoch_result is not None] == [20]
    assert [c.height for c in d.state.clp.open_challenges()] == [22, 24]
    assert d.state.current_epoch == 1


def test_lazy_validator_slashed_then_ejected(kit: SimpleNamespace) -> None:
    d = kit.Driver(kit.genesis([BIG] * 5))
    lazy = kit.addrs[2]
    honest = [a for a in kit.addrs[:5] if a != lazy]
    answer = kit.lazy(lazy)
    d.run_to(20, answer)
    s = d.state
    r0 = s.epoch_results[0]
    assert (r0.systemic, r0.ejected, r0.slashed_total) == (False, (), 10_000)
    o = outcome(s, 0, lazy)
    assert (o.challenges, o.responses, o.rate_bps, o.slashed, o.status, o.consecutive_failures) == (
        8,
        0,
        0,
        10_000,
        S.SLASHED,
        8,
    )
    for a in honest:
        assert (outcome(s, 0, a).rate_bps, outcome(s, 0, a).status) == (10_000, S.ACTIVE)
    assert s.committee(1) == dict.fromkeys(honest, BIG) | {lazy: 90_000}
    assert s.ledger.burned == 10_000

    d.run_to(40, answer)
    r1 = s.epoch_results[1]
    o = outcome(s, 1, lazy)
    assert (o.slashed, o.status, o.consecutive_failures, o.governance_weight_bps) == (
        9000,
        S.EJECTED,
        16,
        0,
    )
    assert r1.ejected == (lazy,)
    assert r1.next_committee == tuple(honest)
    assert r1.burned_total == 19_000 == s.ledger.burned
    assert s.committee(2) == dict.fromkeys(honest, BIG)
    assert len(s.committee(2)) == 4
    assert s.ejected_at == {lazy: 1}
    assert s.ledger.stake(lazy) == 81_000
    assert s.slashed_totals == dict.fromkeys(honest, 0) | {lazy: 19_000}

    # Later epochs: never challenged, never slashed again, stake frozen.
    for end in (60, 80, 100):
        applied = d.run_to(end, answer)
        assert all(lazy not in a.challenge.expected for a in applied if a.challenge)
        e = end // 20 - 1
        assert lazy not in {v.address for v in s.epoch_results[e].validators}
        assert s.epoch_results[e].slashed_total == 0
        assert lazy not in s.committee(e + 1)
        assert s.ledger.stake(lazy) == 81_000
        assert s.ledger.conserved()

    # A response from the ejected validator is not in the committee.
    ch = s.clp.aggregator.challenge(s.height)
    assert ch is None  # 100 closes epoch 4, no challenge at 100
    d.run_to(102, answer)
    ch = s.clp.aggregator.challenge(102)
    assert ch is not None
    r = s.clp.handler.create_response(kit.key_by_addr[lazy], ch)
    assert s.check_response(r) is R.NOT_IN_COMMITTEE
    # ... and a block it proposes is refused.
    before = s.digest()
    with pytest.raises(InvalidBlock) as exc:
        s.apply_block(d.make_block(proposer=lazy))
    assert exc.value.reason == "BAD_PROPOSER"
    assert s.digest() == before
    d.step(answer)  # an honest proposer at the same height is fine
    assert s.height == 103


def test_response_included_at_deadline_counts(kit: SimpleNamespace) -> None:
    d = kit.Driver(kit.genesis([BIG] * 5))
    d.run_to(20, lambda ch, a: 4)  # everyone answers, always in the last block of the window
    r0 = d.state.epoch_results[0]
    assert all(v.responses == 8 and v.status is S.ACTIVE for v in r0.validators)
    assert r0.slashed_total == 0


def test_response_after_deadline_makes_block_invalid(kit: SimpleNamespace) -> None:
    d = kit.Driver(kit.genesis([BIG] * 5))
    d.run_to(2)
    ch = d.state.clp.aggregator.challenge(2)
    assert ch is not None
    late = d.state.clp.handler.create_response(kit.keys[0], ch)
    d.run_to(6)  # block 6 = deadline closes the challenge
    assert d.state.check_response(late) is R.EXPIRED
    blk = d.make_block()
    bad = replace(blk, responses=(late,))
    before = d.state.digest()
    with pytest.raises(InvalidBlock, match="EXPIRED") as exc:
        d.state.apply_block(bad)
    assert exc.value.reason == "INVALID_RESPONSE"
    assert d.state.digest() == before


def _refusal(d: SimpleNamespace, block: Block, reason: str, match: str | None = None) -> None:
    s = d.state
    before = (s.digest(), s.height, s.head_hash, s.ledger.stakes())
    with pytest.raises(InvalidBlock) as exc:
        s.validate_block(block)
    assert exc.value.reason == reason
    with pytest.raises(InvalidBlock) as exc:
        s.apply_block(block)
    assert exc.value.reason == reason
    if match is not None:
        assert match in str(exc.value)
    assert (s.digest(), s.height, s.head_hash, s.ledger.stakes()) == before


def test_validate_block_refusals_change_nothing(kit: SimpleNamespace) -> None:
    d = kit.Driver(kit.genesis([BIG] * 5))
    d.run_to(16)
    s = d.state
    good = d.make_block()  # height 17, carries the 5 responses to challenge 16
    assert len(good.responses) == 5
    s.validate_block(good)  # valid as built
    ch = s.clp.aggregator.challenge(16)
    assert ch is not None
    resp = list(good.responses)
    outsider = kit.keys[9]
    from_outsider = s.clp.handler.create_response(outsider, ch)

    _refusal(d, replace(good, chain_id="other"), "WRONG_CHAIN")
    _refusal(d, replace(good, height=18), "WRONG_HEIGHT")
    _refusal(d, replace(good, height=16), "WRONG_HEIGHT")
    _refusal(d, replace(good, parent_hash=b"\x00" * 32), "WRONG_PARENT")
    _refusal(d, replace(good, parent_hash=d.blocks[-2].hash), "WRONG_PARENT")
    _refusal(d, replace(good, proposer=outsider.address), "BAD_PROPOSER")
    _refusal(d, replace(good, responses=tuple(reversed(resp))), "UNSORTED_RESPONSES")
    _refusal(d, replace(good, responses=(resp[0], resp[0])), "INVALID_RESPONSE", "DUPLICATE")
    _refusal(
        d, replace(good, responses=(*resp, from_outsider)), "INVALID_RESPONSE", "NOT_IN_COMMITTEE"
    )
    forged = ClpResponse(16, resp[1].validator, resp[0].signature)
    _refusal(d, replace(good, responses=(resp[0], forged)), "INVALID_RESPONSE", "BAD_SIGNATURE")
    _refusal(
        d,
        replace(good, responses=(ClpResponse(15, resp[0].validator, b"\0" * 64),)),
        "INVALID_RESPONSE",
        "UNKNOWN_CHALLENGE",
    )
    _refusal(
        d,
        replace(good, responses=(ClpResponse(17, resp[0].validator, b"\0" * 64),)),
        "INVALID_RESPONSE",
        "UNKNOWN_CHALLENGE",
    )
    bad_sig_len = ClpResponse(16, resp[0].validator, b"\0" * 10)
    _refusal(d, replace(good, responses=(bad_sig_len,)), "INVALID_RESPONSE", "MALFORMED")

    # after all that, the good block is still accepted and counts every response
    applied = s.apply_block(good)
    assert applied.height == 17
    assert all(s.clp.aggregator.has_response(16, a) for a in kit.addrs[:5])
    # the same responses again in the next block: duplicates on chain
    again = Block("t", 18, s.head_hash, kit.addrs[0], tuple(resp))
    _refusal(d, again, "INVALID_RESPONSE", "DUPLICATE")


def test_block_time_must_not_go_backwards(kit: SimpleNamespace) -> None:
    d = kit.Driver(kit.genesis([BIG] * 5))
    s = d.state
    s.apply_block(replace(d.make_block(), time_ms=1000))
    _refusal(d, replace(d.make_block(), time_ms=999), "TIME_NOT_MONOTONIC")
    s.apply_block(replace(d.make_block(), time_ms=1000))
    assert s.height == 2 and s.head_time_ms == 1000


def test_check_response_explicit_height(kit: SimpleNamespace) -> None:
    d = kit.Driver(kit.genesis([BIG] * 5))
    d.run_to(2)
    ch = d.state.clp.aggregator.challenge(2)
    assert ch is not None
    r = d.state.clp.handler.create_response(kit.keys[1], ch)
    assert d.state.check_response(r) is None
    assert d.state.check_response(r.to_json(), 6) is None
    assert d.state.check_response(r, 7) is R.EXPIRED
    assert d.state.check_response(r, 2) is R.UNKNOWN_CHALLENGE
    assert d.state.check_response({"validator": r.validator}) is R.MALFORMED


def test_committee_floor_defers_ejection(kit: SimpleNamespace) -> None:
    d = kit.Driver(kit.genesis([BIG] * 4))
    lazy = kit.addrs[1]
    d.run_to(60, kit.lazy(lazy))
    s = d.state
    assert s.ejected_at == {}
    for e, slashed in ((0, 10_000), (1, 9000), (2, 8100)):
        o = outcome(s, e, lazy)
        want = S.SLASHED if e == 0 else S.EJECTION_DEFERRED
        assert (o.status, o.slashed) == (want, slashed)
        assert s.epoch_results[e].ejected == ()
        assert len(s.committee(e + 1)) == 4
    assert outcome(s, 1, lazy).consecutive_failures == 16
    assert s.ledger.stake(lazy) == BIG - 27_100
    assert s.ledger.conserved()


def test_two_candidates_cap_one_of_five(kit: SimpleNamespace) -> None:
    stakes = [BIG, 10_000, BIG, 10_000, BIG]
    d = kit.Driver(kit.genesis(stakes))
    a1, a3 = kit.addrs[1], kit.addrs[3]
    d.run_to(40, kit.lazy(a1, a3))
    s = d.state
    r0 = s.epoch_results[0]
    assert r0.systemic is False  # 20000 of 320000 failing
    assert r0.slashes() == {a1: 1000, a3: 1000}
    r1 = s.epoch_results[1]
    # both have streak 16 and stake 8100: the address decides, a1 < a3
    assert r1.slashes() == {a1: 900, a3: 900}
    assert r1.ejected == (a1,)
    assert outcome(s, 1, a3).status is S.EJECTION_DEFERRED
    assert set(s.committee(2)) == set(kit.addrs[:5]) - {a1}
    d.run_to(60, kit.lazy(a1, a3))
    r2 = s.epoch_results[2]
    assert r2.ejected == ()  # n=4: the floor holds
    assert outcome(s, 2, a3).status is S.EJECTION_DEFERRED
    assert r2.slashes() == {a3: 810}
    assert s.ledger.stake(a1) == 8100
    assert s.ledger.stake(a3) == 7290
    assert s.ledger.conserved()


def test_systemic_epochs_slash_and_eject_nobody(kit: SimpleNamespace) -> None:
    d = kit.Driver(kit.genesis([BIG] * 5))
    lazy = (kit.addrs[0], kit.addrs[4])  # 40 % of the stake
    d.run_to(40, kit.lazy(*lazy))
    s = d.state
    for e in (0, 1):
        r = s.epoch_results[e]
        assert r.systemic is True
        assert (r.slashed_total, r.ejected) == (0, ())
    assert outcome(s, 1, lazy[0]).consecutive_failures == 16
    assert s.ledger.stakes() == dict.fromkeys(kit.addrs[:5], BIG)
    assert s.ledger.burned == 0


def test_replay_gives_same_digest(kit: SimpleNamespace) -> None:
    g = kit.genesis([BIG, 50_000, 3_000, BIG, 1_200])
    d = kit.Driver(g)

    def pattern(ch: ClpChallenge, a: str) -> int | None:
        return None if (ch.height // 2 + int(a[:2], 16)) % 3 == 0 else 1 + ch.height % 4

    d.run_to(60, pattern)
    other = ChainState(g)
    digests = []
    for b in d.blocks:
        other.apply_block(b)
        digests.append(other.digest())
    assert other.digest() == d.state.digest()
    assert other.to_json() == d.state.to_json()
    assert len(set(digests)) == len(digests)  # every block changes the state
    assert ChainState(g).digest() != other.digest()


def test_state_json_shape(kit: SimpleNamespace) -> None:
    d = kit.Driver(kit.genesis([BIG] * 4, clp=ClpConfig.test_profile()))
    d.run_to(22)
    j = d.state.to_json()
    assert j["height"] == 22
    assert j["head_hash"] == d.blocks[-1].hash.hex()
    assert j["burned"] == 0
    assert set(j["committees"]) == {"0", "1"}
    assert [c["height"] for c in j["open_challenges"]] == [22]
    assert set(j["epoch_results"]) == {"0"}
    assert len(d.state.digest()) == 32
