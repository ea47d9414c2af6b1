"""Property tests: random committees, stakes and miss patterns driven through ChainState."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from clp_node.chain.state import ChainState
from clp_node.clp.challenge import ChallengeGenerator
from clp_node.clp.types import ClpChallenge, ClpConfig, ValidatorStatus

E, K, W = 10, 2, 3  # challenges at 2, 4, 6 of every epoch


@dataclass
class Scenario:
    cfg: ClpConfig
    stakes: list[int]
    epochs: int
    # delays[(challenge height, validator index)] in 1..W, or 0 = never answers
    delays: dict[tuple[int, int], int]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    n = draw(st.integers(4, 10))
    stakes = draw(
        st.lists(
            st.one_of(st.integers(1, 1500), st.integers(900, 1300), st.integers(1500, 200_000)),
            min_size=n,
            max_size=n,
        )
    )
    cfg = ClpConfig(
        epoch_length=E,
        challenge_interval=K,
        response_window=W,
        min_response_rate_bps=draw(st.sampled_from([3334, 5000, 6667, 10_000])),
        slash_fraction_bps=draw(st.sampled_from([0, 1000, 3000, 10_000])),
        max_consecutive_failures=draw(st.integers(1, 7)),
        min_stake=1000,
        min_committee_size=draw(st.integers(3, 6)),
        systemic_fault_bps=draw(st.sampled_from([3334, 5000, 10_000, 10_000, 0])),
    )
    epochs = draw(st.integers(2, 4))
    heights = [
        h for h in range(1, epochs * E + 1) if ChallengeGenerator(cfg, "p").should_generate(h)
    ]
    # per validator a reliability, then per challenge a draw biased by it
    delays: dict[tuple[int, int], int] = {}
    for i in range(n):
        style = draw(st.sampled_from(["always", "always", "always", "never", "mixed", "mixed"]))
        for h in heights:
            if style == "always":
                delays[(h, i)] = draw(st.integers(1, W))
            elif style == "never":
                delays[(h, i)] = 0
            else:
                delays[(h, i)] = draw(st.integers(0, W))
    return Scenario(cfg, stakes, epochs, delays)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sc=scenarios())
def test_invariants_hold_after_every_block(kit: SimpleNamespace, sc: Scenario) -> None:
    g = kit.genesis(sc.stakes, clp=sc.cfg, chain_id="prop")
    index = {a: i for i, a in enumerate(kit.addrs[: len(sc.stakes)])}
    d = kit.Driver(g)
    s = d.state
    total = sum(sc.stakes)
    n0 = len(sc.stakes)
    floor = min(sc.cfg.min_committee_size, n0)
    frozen: dict[str, int] = {}  # ejected validator -> its stake at ejection
    answered: dict[tuple[int, str], int] = {}  # (epoch, validator) -> responses drawn

    def answer(ch: ClpChallenge, addr: str) -> int | None:
        delay = sc.delays[(ch.height, index[addr])]
        if delay:
            answered[(ch.epoch, addr)] = answered.get((ch.epoch, addr), 0) + 1
        return delay or None

    for _ in range(sc.epochs * E):
        applied = d.step(answer)
        stakes = s.ledger.stakes()
        # conservation, no negative stake
        assert sum(stakes.values()) + s.ledger.burned == total
        assert all(v >= 0 for v in stakes.values())
        assert s.ledger.conserved()
        # committees: never below the floor, never growing, only ever losing members
        sizes = [len(s.committees[e]) for e in sorted(s.committees)]
        assert min(sizes) >= floor
        assert sizes == sorted(sizes, reverse=True)
        for e in sorted(s.committees)[1:]:
            assert set(s.committees[e]) <= set(s.committees[e - 1])
        # ejected validators: out of every later committee, never slashed again
        for addr, e in s.ejected_at.items():
            frozen.setdefault(addr, stakes[addr])
            assert stakes[addr] == frozen[addr]
            assert all(addr not in s.committees[x] for x in s.committees if x > e)
        if applied.challenge is not None:
            assert not set(applied.challenge.expected) & set(s.ejected_at)

        res = applied.epoch_result
        if res is None:
            continue
        event("systemic" if res.systemic else "not systemic")
        event(f"ejected {len(res.ejected)}")
        event(
            "deferred"
            if any(v.status is ValidatorStatus.EJECTION_DEFERRED for v in res.validators)
            else "none deferred"
        )
        event("slashed" if res.slashed_total else "no slash")
        if res.systemic:
            assert res.ejected == () and res.slashed_total == 0
        committee = s.committees[res.epoch]
        n = len(committee)
        assert res.burned_total == s.ledger.burned
        assert len(res.ejected) <= max(0, min((n - 1) // 3, n - sc.cfg.min_committee_size))
        assert res.next_committee == tuple(a for a in sorted(committee) if a not in res.ejected)
        for v in res.validators:
            # accountability: the record is exactly what was included on chain
            assert v.challenges == 3
            assert v.responses == answered.get((res.epoch, v.address), 0)
            assert v.rate_bps == v.responses * 10_000 // 3
            failed = v.rate_bps < sc.cfg.min_response_rate_bps
            if v.slashed:
                assert failed and not res.systemic
            if failed and not res.systemic:
                assert v.slashed == committee[v.address] * sc.cfg.slash_fraction_bps // 10_000
            assert v.stake_after == committee[v.address] - v.slashed == stakes[v.address]
            if res.systemic:
                assert v.status is ValidatorStatus.ACTIVE and v.slashed == 0
            if v.status is ValidatorStatus.EJECTED:
                assert v.governance_weight_bps == 0
                assert (
                    v.consecutive_failures >= sc.cfg.max_consecutive_failures
                    or v.stake_after < sc.cfg.min_stake
                )
            else:
                assert v.governance_weight_bps == v.rate_bps

    # determinism: the same blocks in the same order give the same state
    replica = ChainState(g)
    for b in d.blocks:
        replica.apply_block(b)
    assert replica.digest() == s.digest()
    assert replica.epoch_results == s.epoch_results
