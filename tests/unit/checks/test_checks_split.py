"""Split (§15): on a mixed run, the first block, stall or epoch result the implementations
disagree on, and the sides; a stall it explains is not a liveness failure."""

from __future__ import annotations

from typing import Any

import pytest

from harness.checks import liveness, run_checks, split
from harness.checks.analysis import Analysis

from .history_builder import (
    Built,
    Net,
    build,
    doctored,
    record,
    relink,
    time_s,
    with_implementations,
)

MIX = {"v0": "python", "v1": "python", "v2": "python", "v3": "rust", "v4": "rust"}
RUST = ("v3", "v4")
LATE_S = 60.0  # the heads were read this long after the last block


@pytest.fixture(scope="module")
def chain40(net: Net) -> Built:
    return build(net, 40)


def _fork(d: dict[str, Any], net: Net, nodes: tuple[str, ...], height: int) -> None:
    """``nodes`` finalize a different block from ``height`` on (another time, so another hash)."""
    for n in nodes:
        chain = d["chains"][n]
        chain[height - 1]["block"]["time_ms"] += 1
        relink(net, chain, height - 1)


def _stalled(d: dict[str, Any], nodes: tuple[str, ...], head: int) -> None:
    """``nodes`` stop at ``head``, and the heads are read LATE_S after the last block."""
    for n in nodes:
        d["chains"][n] = d["chains"][n][:head]
    d["collected_at"] += LATE_S


def test_not_applicable_without_implementations_or_with_one(chain40: Built) -> None:
    r = split.check(chain40.history)
    assert r.verdict == "unknown"
    assert r.evidence == ["not applicable: the fault log records no implementations"]
    one = with_implementations(chain40.history, dict.fromkeys(MIX, "python"))
    r = split.check(one)
    assert r.verdict == "unknown" and r.evidence == ["not applicable: every validator ran python"]


def test_agreeing_implementations_pass(chain40: Built) -> None:
    r = split.check(with_implementations(chain40.history, MIX))
    assert r.verdict == "pass", r.evidence
    assert "at the start: python v0 v1 v2; rust v3 v4" in r.evidence[0]


def test_a_different_block_names_the_first_height_and_the_sides(net: Net, chain40: Built) -> None:
    forked = doctored(chain40.history, lambda d: _fork(d, net, RUST, 36))
    r = split.check(with_implementations(forked, MIX))
    assert r.verdict == "fail", r.evidence
    first = r.evidence[0]
    assert first.startswith("first divergent height 36: the block differs"), first
    assert "python v0 v1 v2 served" in first and "rust v3 v4 served" in first
    assert "sides at height 36: python holds 300000 of 500000 (v0, v1, v2); " in first
    assert "rust holds 200000 of 500000 (v3, v4)" in first


def test_a_fork_inside_one_implementation_is_not_a_split(net: Net, chain40: Built) -> None:
    """v0 alone differs: python is on both sides, so agreement reports it, not split."""
    forked = with_implementations(
        doctored(chain40.history, lambda d: _fork(d, net, ("v0",), 36)), MIX
    )
    assert split.check(forked).verdict == "pass"
    assert next(r for r in run_checks(forked) if r.name == "agreement").verdict == "fail"


def test_a_different_certificate_is_a_split(chain40: Built) -> None:
    def edit(d: dict[str, Any]) -> None:
        for n in RUST:
            d["chains"][n][19]["certificate"]["block_hash"] = "ab" * 32

    r = split.check(with_implementations(doctored(chain40.history, edit), MIX))
    assert r.verdict == "fail"
    assert r.evidence[0].startswith("first divergent height 20: the certificate differs")
    assert (
        f"rust v3 v4 served {chain40.entries[19]['block']['hash'][:16]} certified abababab"
        in (r.evidence[0])
    )


def test_a_side_stalled_while_connected_is_a_split_and_explains_the_stall(
    chain40: Built,
) -> None:
    stalled = doctored(chain40.history, lambda d: _stalled(d, RUST, 30))
    # without implementations the late heads are a liveness failure, as before
    plain = liveness.check(stalled)
    assert plain.verdict == "fail" and "stalled" in plain.evidence[0], plain.evidence
    mixed = with_implementations(stalled, MIX)
    r = split.check(mixed)
    assert r.verdict == "fail", r.evidence
    assert r.evidence[0].startswith(
        "first divergent height 31: python (v0 v1 v2) finalized it, rust (v3 v4) stalled at 30: "
        "v3 connected"
    ), r.evidence
    assert "without finalizing it" in r.evidence[0]
    live = liveness.check(mixed)
    assert live.verdict == "pass", live.evidence
    assert any(e.startswith("explained by split at height 31: ") for e in live.evidence)


def test_a_side_cut_off_is_no_split(net: Net, chain40: Built) -> None:
    """Rust was partitioned off after height 30 and never healed: it owes nothing."""
    at = time_s(chain40, 30) + 0.1
    cut = [record("partition", at, 30, groups=[["v0", "v1", "v2"], list(RUST)])]
    history = doctored(build(net, 40, faults=cut).history, lambda d: _stalled(d, RUST, 30))
    r = split.check(with_implementations(history, MIX))
    assert r.verdict == "pass", r.evidence


def test_a_different_epoch_result_names_its_fields_by_implementation(chain40: Built) -> None:
    v2 = chain40.net.addr["v2"]

    def edit(d: dict[str, Any]) -> None:
        for n in RUST:
            result = d["results"][n]["1"]
            result["burned_total"] += 7
            for v in result["validators"]:
                if v["address"] == v2:
                    v["responses"] += 1

    r = split.check(with_implementations(doctored(chain40.history, edit), MIX))
    assert r.verdict == "fail", r.evidence
    [epoch] = [e for e in r.evidence if e.startswith("first divergent epoch")]
    burned = chain40.state.epoch_results[1].burned_total
    assert epoch.startswith(
        "first divergent epoch 1: its result differs between implementations in 2 field(s): "
    )
    assert f"burned_total: python v0 v1 v2 = {burned}; rust v3 v4 = {burned + 7}" in epoch
    assert "validators.v2.responses: python v0 v1 v2 = " in epoch
    assert "sides in epoch 1: python holds 300000 of 500000" in epoch


def test_an_upgrade_moves_a_node_to_the_other_side(net: Net, chain40: Built) -> None:
    """v4 ran python until the time of block 20 and rust after: its fork from 36 is rust's."""
    forked = doctored(chain40.history, lambda d: _fork(d, net, RUST, 36))
    start = dict(MIX, v4="python")
    upgraded = with_implementations(forked, start, [(time_s(chain40, 20), "v4", "rust")])
    impls = split.Implementations.from_faults(upgraded.faults)
    assert impls.at("v4", time_s(chain40, 10)) == "python"
    assert impls.at("v4", time_s(chain40, 30)) == "rust"
    r = split.check(upgraded)
    assert r.verdict == "fail"
    assert "python v0 v1 v2 served" in r.evidence[0] and "rust v3 v4 served" in r.evidence[0]


def test_an_upgrade_as_the_first_record_still_gives_the_start(chain40: Built) -> None:
    """The first record's state is after its action: an upgrade's ``from`` is the start."""
    upgraded = with_implementations(
        chain40.history, MIX, [(time_s(chain40, 20), "v0", "rust")], start_record=False
    )
    assert upgraded.faults[0]["kind"] == "upgrade"
    impls = split.Implementations.from_faults(upgraded.faults)
    assert impls.at("v0", time_s(chain40, 10)) == "python"
    assert impls.at("v0", time_s(chain40, 30)) == "rust"
    assert impls.at("v3", time_s(chain40, 10)) == "rust"


def test_every_kind_is_reported_first_height_first(net: Net, chain40: Built) -> None:
    def edit(d: dict[str, Any]) -> None:
        _fork(d, net, RUST, 36)
        for n in RUST:
            d["results"][n]["0"]["slashed_total"] += 1

    r = split.check(with_implementations(doctored(chain40.history, edit), MIX))
    assert [e.split(":")[0] for e in r.evidence] == [
        "first divergent epoch 0",
        "first divergent height 36",
    ]


def test_a_stall_before_the_divergence_is_still_a_liveness_failure(net: Net) -> None:
    """The chain stalled a minute before height 30; the implementations forked only at 36."""
    late = build(net, 40, delays_ms={30: 60_000}).history
    forked = with_implementations(doctored(late, lambda d: _fork(d, net, RUST, 36)), MIX)
    assert split.split_height(forked) == 36
    r = liveness.check(forked)
    assert r.verdict == "fail", r.evidence
    assert "the chain stalled 60.2 s after height 29" in r.evidence[0], r.evidence


def test_the_split_and_liveness_share_one_search_for_divergences(
    chain40: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    mixed = with_implementations(doctored(chain40.history, lambda d: _stalled(d, RUST, 30)), MIX)
    searched: list[int] = []
    fork = split._fork
    monkeypatch.setattr(split, "_fork", lambda a, i: searched.append(1) or fork(a, i))
    a = Analysis(mixed)
    assert split.check(mixed, a).verdict == "fail"
    assert liveness.check(mixed, a).verdict == "pass"
    assert searched == [1]
