"""PenaltyEvaluator (CLP_SPEC §7): failing rate, slashes, systemic breaker, capped ejections."""

from __future__ import annotations

from dataclasses import replace

import pytest

from clp_node.clp.penalty import GovernorClpImpact, PenaltyEvaluator, SlashError
from clp_node.clp.types import (
    ClpConfig,
    ClpEpochResult,
    ValidatorClpStatus,
    ValidatorEpochOutcome,
    ValidatorStatus,
)

V = [f"{i:02x}" * 20 for i in range(1, 17)]  # V[0] < V[1] < ... (address order)
ACTIVE, SLASHED = ValidatorStatus.ACTIVE, ValidatorStatus.SLASHED
DEFERRED, EJECTED = ValidatorStatus.EJECTION_DEFERRED, ValidatorStatus.EJECTED
BIG = 100_000
TP = ClpConfig.test_profile()  # slash 1000 bps, min rate 5000, max cf 12, min stake 1000, floor 4


def status(addr: str, challenges: int, responses: int, cf: int | None = None) -> ValidatorClpStatus:
    missed = challenges - responses
    if cf is None:
        cf = missed if responses == 0 else 0
    return ValidatorClpStatus(addr, challenges, responses, missed, cf)


def evaluate(
    committee: dict[str, int],
    stats: dict[str, tuple[int, ...]],
    cfg: ClpConfig = TP,
    burned: int = 0,
    epoch: int = 3,
) -> ClpEpochResult:
    statuses = {a: status(a, *s) for a, s in stats.items()}
    return PenaltyEvaluator(cfg).evaluate_epoch(epoch, committee, statuses, burned)


def by_addr(result: ClpEpochResult) -> dict[str, ValidatorEpochOutcome]:
    return {o.address: o for o in result.validators}


def honest(n: int, challenges: int = 8) -> dict[str, tuple[int, ...]]:
    return {a: (challenges, challenges) for a in V[:n]}


# ---- failing rate ---------------------------------------------------------------------------


def test_rate_exactly_at_minimum_passes_one_fewer_fails() -> None:
    committee = dict.fromkeys(V[:10], BIG)
    stats = honest(10)
    stats[V[3]] = (8, 4, 4)  # 5000 bps == minimum
    stats[V[5]] = (8, 3, 5)  # 3750 bps
    out = by_addr(evaluate(committee, stats))
    assert (out[V[3]].rate_bps, out[V[3]].status, out[V[3]].slashed) == (5000, ACTIVE, 0)
    assert (out[V[5]].rate_bps, out[V[5]].status, out[V[5]].slashed) == (3750, SLASHED, 10_000)
    assert out[V[5]].stake_after == BIG - 10_000
    assert all(out[a].status is ACTIVE for a in V[:10] if a != V[5])


@pytest.mark.parametrize(
    ("min_bps", "challenges", "responses", "fails"),
    [
        (6666, 3, 2, False),
        (6667, 3, 2, True),
        (10_000, 10_000, 9_999, True),
        (10_000, 7, 7, False),
        (0, 8, 0, False),
        (1, 8, 0, True),
        (1, 10_000, 1, False),
        (2, 10_001, 2, True),
    ],
)
def test_rate_is_integer_bps_floor(
    min_bps: int, challenges: int, responses: int, fails: bool
) -> None:
    cfg = replace(TP, min_response_rate_bps=min_bps)
    committee = dict.fromkeys(V[:10], BIG)
    stats = honest(10, challenges)
    stats[V[0]] = (challenges, responses, 0)
    o = by_addr(evaluate(committee, stats, cfg))[V[0]]
    assert o.rate_bps == responses * 10_000 // challenges
    assert (o.status is SLASHED) is fails
    assert (o.slashed > 0) is fails


def test_member_without_challenges_is_not_evaluated() -> None:
    committee = dict.fromkeys(V[:5], BIG)
    stats = honest(4)  # V[4] has no status at all
    stats[V[3]] = (0, 0, 0)
    out = by_addr(evaluate(committee, stats))
    for a in (V[3], V[4]):
        assert (out[a].challenges, out[a].rate_bps, out[a].slashed, out[a].status) == (
            0,
            10_000,
            0,
            ACTIVE,
        )


# ---- calculate_slash ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bps", "stake", "want"),
    [
        (1000, 100_000, 10_000),
        (1000, 9, 0),
        (1000, 19, 1),
        (10_000, 123_457, 123_457),
        (10_000, 1, 1),
        (0, 100_000, 0),
        (1000, 0, 0),
        (10_000, 0, 0),
        (9_999, 10_000, 9_999),
        (100, 2**70, 2**70 // 100),
    ],
)
def test_calculate_slash(bps: int, stake: int, want: int) -> None:
    assert PenaltyEvaluator(replace(TP, slash_fraction_bps=bps)).calculate_slash(stake) == want


def test_calculate_slash_never_above_stake() -> None:
    for bps in (0, 1, 5000, 9999, 10_000):
        ev = PenaltyEvaluator(replace(TP, slash_fraction_bps=bps))
        for stake in range(0, 300):
            assert 0 <= ev.calculate_slash(stake) <= stake


def test_calculate_slash_negative_stake_raises() -> None:
    with pytest.raises(SlashError, match="-1"):
        PenaltyEvaluator(TP).calculate_slash(-1)


def test_calculate_slash_guard_against_corrupt_fraction() -> None:
    # A config that escaped validation must not produce a negative or oversized slash.
    cfg = ClpConfig.test_profile()
    object.__setattr__(cfg, "slash_fraction_bps", -1)
    with pytest.raises(SlashError, match="outside"):
        PenaltyEvaluator(cfg).calculate_slash(100_000)
    object.__setattr__(cfg, "slash_fraction_bps", 20_000)
    assert PenaltyEvaluator(cfg).calculate_slash(100_000) == 100_000


# ---- systemic breaker ---------------------------------------------------------------------


def _systemic_case(failing_stake: int) -> ClpEpochResult:
    rest = 10_000 - failing_stake
    committee = {V[0]: failing_stake, V[1]: 2222, V[2]: 2222, V[3]: rest - 4444}
    stats = honest(4)
    stats[V[0]] = (8, 0, 12)  # failing and over the streak threshold
    return evaluate(committee, stats, burned=77)


def test_systemic_exactly_at_threshold() -> None:
    r = _systemic_case(3334)  # 3334 * 10000 >= 10000 * 3334
    assert r.systemic is True
    assert r.slashed_total == 0
    assert r.ejected == ()
    assert r.slashes() == {}
    assert r.next_committee == tuple(V[:4])
    assert r.burned_total == 77
    o = by_addr(r)[V[0]]
    assert (o.rate_bps, o.slashed, o.stake_after) == (0, 0, 3334)
    # Spec lists no status for "failed in a systemic epoch"; the code reports `active`.
    assert all(v.status is ACTIVE for v in r.validators)


def test_not_systemic_one_stake_unit_below() -> None:
    r = _systemic_case(3333)
    assert r.systemic is False
    o = by_addr(r)[V[0]]
    assert o.slashed == 333
    assert r.slashed_total == 333
    assert r.burned_total == 77 + 333
    # streak 12 >= 12 -> candidate; n=4 with floor 4 -> cap 0 -> deferred
    assert o.status is DEFERRED
    assert r.ejected == ()


def test_systemic_sums_all_failing_stake() -> None:
    committee = {
        V[0]: 1000,
        V[1]: 1000,
        V[2]: 1334,
        V[3]: 1666,
        V[4]: 1666,
        V[5]: 1667,
        V[6]: 1667,
    }  # total 10000
    stats = honest(7)
    stats[V[0]] = stats[V[1]] = stats[V[2]] = (8, 0, 8)
    assert evaluate(committee, stats).systemic is True  # 1000 + 1000 + 1334 = 3334
    stats[V[2]] = (8, 8, 0)
    r = evaluate(committee, stats)
    assert r.systemic is False
    assert r.slashes() == {V[0]: 100, V[1]: 100}


@pytest.mark.parametrize(
    ("bps", "failing", "total", "want"),
    [
        (3334, 3334, 10_000, True),
        (3334, 3333, 10_000, False),
        (10_000, 9_999, 10_000, False),
        (10_000, 10_000, 10_000, True),
        (0, 1, 10_000, True),
        (1, 1, 10_000, True),
        (1, 1, 10_001, False),
        (3334, 0, 10_000, False),
    ],
)
def test_is_systemic(bps: int, failing: int, total: int, want: bool) -> None:
    ev = PenaltyEvaluator(replace(TP, systemic_fault_bps=bps))
    assert ev.is_systemic(failing, total) is want


def test_epoch_without_failures_is_never_systemic_even_at_zero_threshold() -> None:
    """Read of CLP_SPEC §7 (proposed as a spec clarification): the breaker is about a fault
    that hits stake, so with systemic_fault_bps = 0 an epoch in which nobody failed is not
    systemic (0 >= 0 would otherwise make every epoch systemic), while one failure is."""
    cfg = replace(TP, systemic_fault_bps=0)
    assert PenaltyEvaluator(cfg).is_systemic(0, 10_000) is False
    assert PenaltyEvaluator(cfg).is_systemic(1, 10_000) is True
    committee = dict.fromkeys(V[:5], BIG)
    assert evaluate(committee, honest(5), cfg).systemic is False


# ---- ejection candidates --------------------------------------------------------------------


def test_candidate_by_streak_boundary() -> None:
    committee = dict.fromkeys(V[:7], BIG)  # cap min(2, 3) = 2
    stats = honest(7, challenges=40)
    stats[V[1]] = (40, 20, 12)  # passes (5000 bps) but streak == max
    stats[V[2]] = (40, 20, 11)  # streak one below
    out = by_addr(evaluate(committee, stats))
    assert out[V[1]].status is EJECTED
    assert out[V[1]].slashed == 0
    assert out[V[2]].status is ACTIVE


def test_candidate_by_stake_after_slash_boundary() -> None:
    # 1111 - 111 = 1000 (not < 1000); 1110 - 111 = 999 (< 1000)
    committee = dict.fromkeys(V[:7], BIG) | {V[1]: 1111, V[2]: 1110}
    stats = honest(7)
    stats[V[1]] = stats[V[2]] = (8, 3, 1)
    out = by_addr(evaluate(committee, stats))
    assert (out[V[1]].slashed, out[V[1]].stake_after, out[V[1]].status) == (111, 1000, SLASHED)
    assert (out[V[2]].slashed, out[V[2]].stake_after, out[V[2]].status) == (111, 999, EJECTED)


def test_candidate_by_low_stake_without_failing() -> None:
    committee = dict.fromkeys(V[:7], BIG) | {V[0]: 999, V[1]: 1000}
    out = by_addr(evaluate(committee, honest(7)))
    assert (out[V[0]].status, out[V[0]].slashed, out[V[0]].stake_after) == (EJECTED, 0, 999)
    assert out[V[1]].status is ACTIVE


def test_full_slash_makes_a_candidate() -> None:
    cfg = replace(TP, slash_fraction_bps=10_000)
    committee = dict.fromkeys(V[:7], BIG)
    stats = honest(7)
    stats[V[4]] = (8, 0, 8)
    r = evaluate(committee, stats, cfg)
    o = by_addr(r)[V[4]]
    assert (o.slashed, o.stake_after, o.status) == (BIG, 0, EJECTED)
    assert r.ejected == (V[4],)


# ---- ejection cap ---------------------------------------------------------------------------


@pytest.mark.parametrize("floor", [3, 4, 5, 9])
def test_ejection_cap_formula(floor: int) -> None:
    ev = PenaltyEvaluator(replace(TP, min_committee_size=floor))
    for n in range(0, 20):
        assert ev.ejection_cap(n) == max(0, min((n - 1) // 3, n - floor)), n


@pytest.mark.parametrize(
    ("n", "floor", "cap"),
    [
        (4, 4, 0),
        (5, 4, 1),
        (7, 4, 2),
        (10, 4, 3),
        (10, 9, 1),
        (3, 3, 0),
        (4, 3, 1),
        (6, 6, 0),
        (13, 3, 4),
    ],
)
def test_cap_applied_surplus_deferred(n: int, floor: int, cap: int) -> None:
    cfg = replace(TP, min_committee_size=floor)
    committee = dict.fromkeys(V[:n], BIG)
    stats = {a: (40, 20, 12) for a in V[:n]}  # everyone passes but everyone is a candidate
    r = evaluate(committee, stats, cfg)
    statuses = [o.status for o in r.validators]
    assert statuses.count(EJECTED) == cap == len(r.ejected)
    assert statuses.count(DEFERRED) == n - cap
    assert len(r.next_committee) == n - cap >= min(floor, n)
    assert r.ejected == tuple(V[:cap])  # all tied: address asc


def test_deferred_validator_is_still_slashed() -> None:
    committee = dict.fromkeys(V[:4], BIG)  # n=4, floor 4 -> cap 0
    stats = honest(4)
    stats[V[2]] = (8, 0, 16)
    r = evaluate(committee, stats)
    o = by_addr(r)[V[2]]
    assert (o.status, o.slashed, o.stake_after) == (DEFERRED, 10_000, BIG - 10_000)
    assert r.next_committee == tuple(V[:4])
    assert r.ejected == ()


# ---- tie-break order: (consecutive_failures desc, stake asc, address asc) -------------------


def _pick(committee: dict[str, int], stats: dict[str, tuple[int, ...]]) -> tuple[str, ...]:
    # n=5 with floor 4 -> exactly one ejection
    r = evaluate(committee, stats)
    assert sum(o.status is DEFERRED for o in r.validators) == 1
    return r.ejected


def test_tie_break_streak_first() -> None:
    committee = dict.fromkeys(V[:5], BIG) | {V[4]: 2 * BIG}
    stats = honest(5, 40)
    stats[V[0]] = (40, 20, 12)
    stats[V[4]] = (40, 20, 13)  # larger stake and larger address, but the longer streak
    assert _pick(committee, stats) == (V[4],)


def test_tie_break_stake_second() -> None:
    committee = dict.fromkeys(V[:5], BIG) | {V[0]: BIG + 1, V[4]: BIG}
    stats = honest(5, 40)
    stats[V[0]] = (40, 20, 12)
    stats[V[4]] = (40, 20, 12)  # same streak, smaller stake wins over smaller address
    assert _pick(committee, stats) == (V[4],)


def test_tie_break_address_last() -> None:
    committee = dict.fromkeys(V[:5], BIG)
    stats = honest(5, 40)
    stats[V[4]] = (40, 20, 12)
    stats[V[1]] = (40, 20, 12)
    assert _pick(committee, stats) == (V[1],)


def test_tie_break_all_levels_with_cap_two() -> None:
    committee = dict.fromkeys(V[:10], BIG) | {V[2]: 5000, V[7]: 5000, V[8]: 4000}
    stats = honest(10, 40)
    for a in (V[2], V[7], V[8], V[9]):
        stats[a] = (40, 20, 12)
    stats[V[9]] = (40, 20, 14)  # first by streak
    # then V[8] (stake 4000) before V[2]/V[7] (5000); cap for n=10 is 3 -> V[2] by address
    r = evaluate(committee, stats)
    assert r.ejected == (V[2], V[8], V[9])
    assert by_addr(r)[V[7]].status is DEFERRED


def test_tie_break_uses_stake_after_slash() -> None:
    # Two failing candidates, same streak; both slashed 10 %: 2000 -> 1800 before 3000 -> 2700.
    committee = dict.fromkeys(V[:5], BIG) | {V[0]: 3000, V[1]: 2000}
    stats = honest(5)
    stats[V[0]] = stats[V[1]] = (8, 0, 12)
    r = evaluate(committee, stats)
    assert r.ejected == (V[1],)
    assert by_addr(r)[V[0]].status is DEFERRED


def test_tie_break_stake_is_the_stake_after_slash() -> None:
    # Same streak. V[4] fails: 1050 -> 945 after the slash; V[1] passes with 990.
    # Before the slash V[1] (990) would come first; after it, V[4] (945) does.
    committee = dict.fromkeys(V[:5], BIG) | {V[1]: 990, V[4]: 1050}
    stats = honest(5, 40)
    stats[V[1]] = (40, 20, 8)
    stats[V[4]] = (40, 12, 8)
    r = evaluate(committee, stats)
    o = by_addr(r)
    assert (o[V[4]].slashed, o[V[4]].stake_after) == (105, 945)
    assert r.ejected == (V[4],)
    assert o[V[1]].status is DEFERRED


# ---- GovernorClpImpact and ClpEpochResult -----------------------------------------------------


def test_governance_weights() -> None:
    committee = dict.fromkeys(V[:7], BIG)
    stats = honest(7)
    stats[V[1]] = (8, 6, 0)  # 7500
    stats[V[2]] = (8, 2, 6)  # 2500, slashed
    stats[V[3]] = (8, 0, 12)  # 0 -> ejected (cap 2)
    stats[V[4]] = (8, 4, 12)  # 5000, passes but ejected -> weight 0
    r = evaluate(committee, stats)
    w = {o.address: o.governance_weight_bps for o in r.validators}
    assert by_addr(r)[V[4]].status is EJECTED
    assert w == {V[0]: 10_000, V[1]: 7500, V[2]: 2500, V[3]: 0, V[4]: 0, V[5]: 10_000, V[6]: 10_000}
    impact = GovernorClpImpact.from_outcomes(r.validators)
    assert dict(impact.weights_bps) == w
    assert impact.total_bps == r.governance_weight_total_bps == 40_000


def test_epoch_result_fields() -> None:
    committee = {V[0]: BIG, V[1]: 50_000, V[2]: BIG, V[3]: BIG, V[4]: BIG, V[5]: 700}
    stats = honest(6)
    stats[V[1]] = (8, 1, 7)
    stats[V[3]] = (8, 0, 12)
    r = evaluate(committee, stats, burned=1234, epoch=7)
    assert r.epoch == 7
    assert r.systemic is False
    assert [o.address for o in r.validators] == V[:6]
    # candidates: V[3] (streak 12), V[5] (700 < 1000); cap for n=6 = min(1, 2) = 1
    assert r.ejected == (V[3],)
    assert by_addr(r)[V[5]].status is DEFERRED
    assert r.next_committee == (V[0], V[1], V[2], V[4], V[5])
    assert r.slashes() == {V[1]: 5000, V[3]: 10_000}
    assert r.slashed_total == 15_000
    assert r.burned_total == 1234 + 15_000
    o = by_addr(r)[V[1]]
    assert (o.challenges, o.responses, o.rate_bps, o.consecutive_failures, o.stake_after) == (
        8,
        1,
        1250,
        7,
        45_000,
    )
    j = r.to_json()
    assert set(j) >= {
        "epoch",
        "systemic",
        "validators",
        "slashed_total",
        "ejected",
        "next_committee",
        "burned_total",
    }
    assert j["ejected"] == [V[3]]
    assert j["next_committee"] == [V[0], V[1], V[2], V[4], V[5]]
    assert j["validators"][1] == {
        "address": V[1],
        "challenges": 8,
        "responses": 1,
        "rate_bps": 1250,
        "slashed": 5000,
        "status": "slashed",
        "consecutive_failures": 7,
        "stake_after": 45_000,
        "governance_weight_bps": 1250,
    }
    assert j["validators"][3]["status"] == "ejected"
    assert j["validators"][5]["status"] == "ejection_deferred"
    assert j["governance_weight_total_bps"] == r.governance_weight_total_bps


def test_statuses_of_non_members_are_ignored() -> None:
    committee = dict.fromkeys(V[:4], BIG)
    stats = honest(4) | {V[9]: (8, 0, 30)}  # ejected earlier: not in the committee
    r = evaluate(committee, stats)
    assert [o.address for o in r.validators] == V[:4]
    assert r.slashed_total == 0
    assert V[9] not in r.next_committee
