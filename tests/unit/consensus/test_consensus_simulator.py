"""Whole-network behaviour in the deterministic simulator: safety always, liveness when
more than 2/3 of the stake is connected after GST."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clp_node.consensus.simulator import (
    Crash,
    Partition,
    SimBlock,
    SimConfig,
    SimResult,
    Simulator,
    sim_block_hash,
    simulate,
)

TWO_TWO = (frozenset({0, 1}), frozenset({2, 3}))


def assert_agreement(result: SimResult) -> None:
    assert result.conflicts() == {}


def test_four_and_seven_validators_reach_height_20_identically() -> None:
    for n in (4, 7):
        r = simulate(SimConfig(powers=(1,) * n, target_height=20, seed=n))
        assert r.heights() == (20,) * n
        assert all(d == r.decisions[0] for d in r.decisions)
        assert_agreement(r)


def test_one_of_four_crashed_is_still_live() -> None:
    r = simulate(SimConfig(target_height=10, crashes=(Crash(2, at_ms=0),), seed=3))
    assert r.heights()[2] == 0
    assert all(h >= 10 for i, h in enumerate(r.heights()) if i != 2)
    assert_agreement(r)


def test_crash_mid_run_then_survivors_continue() -> None:
    r = simulate(SimConfig(target_height=12, crashes=(Crash(1, at_ms=900),), seed=4))
    assert 0 < r.heights()[1] < 12
    assert [h for i, h in enumerate(r.heights()) if i != 1] == [12, 12, 12]
    assert_agreement(r)


def test_two_of_four_crashed_halts_without_disagreement() -> None:
    r = simulate(
        SimConfig(
            target_height=5,
            time_limit_ms=5_000,
            crashes=(Crash(0, at_ms=0), Crash(3, at_ms=0)),
            seed=5,
        )
    )
    assert r.heights() == (0, 0, 0, 0)
    assert r.end_time_ms >= 4_500  # it ran, it just could not decide
    assert_agreement(r)


def test_two_two_partition_halts_then_recovers_after_heal() -> None:
    start, end = 1_000, 4_000
    r = simulate(SimConfig(target_height=15, partitions=(Partition(start, end, TWO_TWO),), seed=6))
    assert_agreement(r)
    assert r.heights() == (15,) * 4
    for times in r.decision_times_ms:
        # nothing is decided while neither side has > 2/3 (a block already in flight may land)
        during = [t for t in times.values() if start + 300 <= t < end]
        assert during == []
        assert max(times.values()) > end


def test_isolated_node_catches_up_from_certificates() -> None:
    r = simulate(
        SimConfig(
            target_height=20,
            partitions=(Partition(0, 3_000, (frozenset({0, 1, 2}), frozenset({3}))),),
            seed=7,
        )
    )
    assert_agreement(r)
    assert r.heights() == (20,) * 4
    assert min(r.decision_times_ms[3].values()) >= 3_000  # all its blocks came after the heal


def test_crash_and_restart_with_wal_rejoins() -> None:
    r = simulate(
        SimConfig(target_height=15, crashes=(Crash(2, at_ms=700, recover_ms=2_500),), seed=8)
    )
    assert_agreement(r)
    assert r.heights() == (15,) * 4


def test_follower_tracks_the_chain() -> None:
    r = simulate(SimConfig(target_height=8, followers=2, seed=9))
    assert r.heights() == (8,) * 6
    assert r.decisions[4] == r.decisions[0] == r.decisions[5]


def test_validator_with_over_a_third_of_stake_crashed_halts() -> None:
    # power 2 of 5 is 40% > 1/3: the other 3 hold 60% < 2/3
    r = simulate(
        SimConfig(
            powers=(1, 1, 1, 2),
            target_height=5,
            time_limit_ms=6_000,
            crashes=(Crash(3, at_ms=0),),
            seed=10,
        )
    )
    assert r.heights() == (0, 0, 0, 0)
    assert_agreement(r)


def test_largest_validator_under_a_third_crashed_is_live() -> None:
    # power 3 of 10 is 30% < 1/3: the other 7 hold > 2/3
    r = simulate(
        SimConfig(powers=(3, 2, 2, 3), target_height=8, crashes=(Crash(0, at_ms=0),), seed=11)
    )
    assert [h for i, h in enumerate(r.heights()) if i != 0] == [8, 8, 8]
    assert_agreement(r)


def test_same_seed_same_run() -> None:
    cfg = SimConfig(
        target_height=6,
        max_delay_ms=120,
        drop_permille=200,
        drop_until_ms=2_000,
        partitions=(Partition(300, 1_500, TWO_TWO),),
        seed=12,
    )
    a, b = simulate(cfg), simulate(cfg)
    assert a == b
    assert simulate(SimConfig(target_height=6, max_delay_ms=120, seed=13)) != a


def test_blocks_chain_to_their_parents() -> None:
    sim = Simulator(SimConfig(target_height=5, seed=14))
    sim.run()
    chain = sim.nodes[0].decided
    for h in range(2, 6):
        assert chain[h][0].parent == chain[h - 1][0].hash()
        assert chain[h][1].block_hash == sim_block_hash(chain[h][0])
        chain[h][1].verify(sim.config.chain_id, sim.validators)
    assert isinstance(chain[1][0], SimBlock)


# --- property: safety always, liveness after GST ---------------------------------------------


def test_equivocating_validator_cannot_split_or_stall_the_honest_ones() -> None:
    cfg = SimConfig(powers=(1, 1, 1, 1), target_height=10, byzantine=frozenset({1}), seed=15)
    r = simulate(cfg)
    honest = [0, 2, 3]
    assert r.conflicts(honest) == {}
    assert all(r.heights()[i] >= 10 for i in honest)
    assert r.evidence > 0  # the honest nodes noticed


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[SimConfig, bool]:
    n = draw(st.sampled_from([4, 4, 5, 7]))
    powers = tuple(draw(st.lists(st.integers(1, 3), min_size=n, max_size=n)))
    total = sum(powers)
    byzantine: set[int] = set()
    for node in draw(st.lists(st.integers(0, n - 1), max_size=2, unique=True)):
        if 3 * (sum(powers[b] for b in byzantine) + powers[node]) < total:
            byzantine.add(node)  # safety needs Byzantine stake < 1/3
    partitions = []
    t = 0
    for _ in range(draw(st.integers(0, 3))):
        begin = t + draw(st.integers(0, 1_500))
        end = begin + draw(st.integers(100, 3_000))
        t = end
        side = draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=n - 1))
        rest = frozenset(range(n)) - side
        partitions.append(Partition(begin, end, (frozenset(side), rest)))
    drop = draw(st.sampled_from([0, 0, 200, 500]))
    gst = max([p.end_ms for p in partitions] + [draw(st.integers(0, 3_000)) if drop else 0])
    crashes = []
    honest = [i for i in range(n) if i not in byzantine]
    for node in draw(st.lists(st.sampled_from(honest), max_size=2, unique=True)):
        at = draw(st.integers(0, 3_000))
        recover = draw(st.one_of(st.none(), st.integers(at + 1, at + 3_000)))
        crashes.append(Crash(node, at, recover))
        gst = max(gst, recover or at)
    faulty = sum(powers[b] for b in byzantine) + sum(
        powers[c.node] for c in crashes if c.recover_ms is None
    )
    live_expected = 3 * faulty < total  # correct, connected validators hold > 2/3
    cfg = SimConfig(
        powers=powers,
        followers=draw(st.integers(0, 1)),
        seed=draw(st.integers(0, 2**32)),
        max_delay_ms=draw(st.sampled_from([5, 60, 300])),
        drop_permille=drop,
        drop_until_ms=gst,
        partitions=tuple(partitions),
        crashes=tuple(crashes),
        byzantine=frozenset(byzantine),
        gossip_interval_ms=draw(st.sampled_from([100, 250, 500])),
        target_height=6,
        time_limit_ms=gst + (40_000 if live_expected else 4_000),
    )
    return cfg, live_expected


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_safety_always_and_liveness_after_gst(scenario: tuple[SimConfig, bool]) -> None:
    """Safety: no two correct nodes decide differently at a height, whatever the network
    does. Liveness: once partitions and drops end (GST), every correct node that is up
    reaches the target height if faulty (Byzantine or crashed) stake is < 1/3."""
    cfg, live_expected = scenario
    r = simulate(cfg)
    correct = [i for i in range(cfg.nodes) if i not in cfg.byzantine]
    assert r.conflicts(correct) == {}
    for decided in r.decisions:  # each node's decisions form a gap-free prefix
        assert sorted(decided) == list(range(1, len(decided) + 1))
    if live_expected:
        down = {c.node for c in cfg.crashes if c.recover_ms is None}
        assert all(r.heights()[i] >= cfg.target_height for i in correct if i not in down)
