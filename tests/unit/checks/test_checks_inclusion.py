"""§15.11 Inclusion: a response sent in time to a reachable proposer is on chain.

Six validators (so that one, v1, is neither the missing validator nor a proposer of the window,
and can only be a relay). v0 answers challenge ``H`` ``SENT_AFTER_S`` after its block, and
no block of the window holds the response; the window's blocks are seconds apart, so a
proposer is in reach unless the fault log says otherwise.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from harness.checks import inclusion
from harness.checks.history import History
from harness.explore import coverage

from .history_builder import Built, Net, build, doctored, record, time_s

H = 30  # the challenge v0 misses (epoch 1; window 31..34)
SENT_AFTER_S = 0.05
# block times: 31..34 at +2, +4, +7 and +12 s after block 30 (room for a relay)
DELAYS_MS = {31: 1800, 32: 1800, 33: 2800, 34: 4800}
VICTIM = "v0"


def _not_answering(name: str, height: int) -> bool:
    return not (name == VICTIM and H < height <= H + 4)


@pytest.fixture(scope="module")
def net6() -> Net:
    return Net(n=6, seed="inclusion")


def _built(net: Net, faults: list[dict[str, Any]] | None = None) -> Built:
    return build(net, 45, delays_ms=DELAYS_MS, answering=_not_answering, faults=faults)


@pytest.fixture(scope="module")
def plain(net6: Net) -> Built:
    return _built(net6)


def _answers(built: Built, sent: dict[str, dict[int, float]]) -> History:
    """Every node serves its own answers: ``sent[name][challenge] = wall time (s)``."""
    net = built.net
    body = {
        nm: {
            "validator": net.addr[nm],
            "answers": [
                {"challenge_height": h, "sent_at_ms": int(t * 1000)}
                for h, t in sorted(sent.get(nm, {}).items())
            ],
        }
        for nm in net.names
    }
    return dataclasses.replace(built.history, answers=dict(body))


def _sent(built: Built) -> dict[str, dict[int, float]]:
    return {VICTIM: {H: time_s(built, H) + SENT_AFTER_S}}


def _proposer(built: Built, height: int) -> str:
    return built.net.name_of[built.entries[height - 1]["block"]["proposer"]]


def _relay(built: Built) -> str:
    """The node that proposes no block of the window and is not the victim."""
    window = {_proposer(built, b) for b in range(H + 1, H + 5)}
    return next(n for n in built.net.names if n != VICTIM and n not in window)


def _before(built: Built, height: int) -> float:
    """A fault time well before the send (more than the checker's reconnect margin)."""
    return time_s(built, height) + 0.15


def test_the_fixture_has_the_shape_the_tests_rely_on(plain: Built) -> None:
    v0 = plain.net.addr[VICTIM]
    on_chain = {
        (r["challenge_height"], r["validator"]) for e in plain.entries for r in e["responses"]
    }
    assert (H - 2, v0) in on_chain and (H + 2, v0) in on_chain and (H, v0) not in on_chain
    assert VICTIM not in {_proposer(plain, b) for b in range(H + 1, H + 5)}
    assert time_s(plain, H + 4) - time_s(plain, H) == pytest.approx(12.0)


def test_reachable_and_missed_fails(plain: Built) -> None:
    r = inclusion.check(_answers(plain, _sent(plain)))
    assert r.verdict == "fail", r.evidence
    text = r.evidence[0]
    t = time_s(plain, H) + SENT_AFTER_S
    assert text.startswith(f"v0 answered challenge {H} at t={t:.2f} yet no block of 31..34")
    for b in range(H + 1, H + 5):  # each is seconds after the send: all in reach
        assert f"block {b} by {_proposer(plain, b)}" in text
    assert "a node dropped the response" in text


def test_a_response_on_chain_passes(plain: Built) -> None:
    sent = {nm: {H: time_s(plain, H) + SENT_AFTER_S} for nm in plain.net.names if nm != VICTIM}
    r = inclusion.check(_answers(plain, sent))
    assert r.verdict == "pass", r.evidence
    assert r.evidence[0].startswith("5 answers in the collected window")
    assert "5 on chain, 0 misses" in r.evidence[0]


def test_a_lazy_validator_has_no_answer_to_judge(plain: Built) -> None:
    r = inclusion.check(_answers(plain, {}))
    assert r.verdict == "pass", r.evidence
    assert r.evidence[0].startswith("0 answers")


def test_a_cut_off_validator_passes(net6: Net, plain: Built) -> None:
    faults = [record("isolate", _before(plain, 20), 20, node=VICTIM)]
    built = _built(net6, faults)
    r = inclusion.check(_answers(built, _sent(built)))
    assert r.verdict == "pass", r.evidence
    assert any(
        e.startswith(f"v0 answered challenge {H}") and "no proposer of 31..34" in e
        for e in r.evidence
    ), r.evidence


def test_a_cut_just_before_the_send_still_explains(net6: Net, plain: Built) -> None:
    """Healed 2 s before the send: the peers may still be redialling (no sure path)."""
    faults = [
        record("isolate", _before(plain, 20), 20, node=VICTIM),
        record("heal", time_s(plain, H) - 2.0, H - 1),
    ]
    built = _built(net6, faults)
    r = inclusion.check(_answers(built, _sent(built)))
    assert r.verdict == "pass", r.evidence


def test_a_cut_after_the_window_does_not_explain(net6: Net, plain: Built) -> None:
    faults = [record("isolate", time_s(plain, H + 4) + 3.0, H + 4, node=VICTIM)]
    built = _built(net6, faults)
    r = inclusion.check(_answers(built, _sent(built)))
    assert r.verdict == "fail", r.evidence


def test_latency_beyond_the_window_passes(net6: Net, plain: Built) -> None:
    faults = [record("latency", _before(plain, 20), 20, node=VICTIM, ms=15_000)]
    built = _built(net6, faults)
    r = inclusion.check(_answers(built, _sent(built)))
    assert r.verdict == "pass", r.evidence


def test_latency_within_the_window_still_reaches_the_late_blocks(net6: Net, plain: Built) -> None:
    """3 s of latency: blocks 31 and 32 (+2, +4 s) are out of reach, 33 and 34 are not."""
    faults = [record("latency", _before(plain, 20), 20, node=VICTIM, ms=3_000)]
    built = _built(net6, faults)
    r = inclusion.check(_answers(built, _sent(built)))
    assert r.verdict == "fail", r.evidence
    assert "block 31 " not in r.evidence[0] and "block 32 " not in r.evidence[0]
    assert "block 33 " in r.evidence[0] and "block 34 " in r.evidence[0]


def test_a_toxic_other_than_latency_is_unknown(net6: Net, plain: Built) -> None:
    faults = [record("bandwidth", _before(plain, 20), 20, node=VICTIM, rate_kb=1)]
    built = _built(net6, faults)
    r = inclusion.check(_answers(built, _sent(built)))
    assert r.verdict == "unknown", r.evidence
    assert "crossed a toxic other than latency" in r.evidence[0]


def _only_via_relay(built: Built) -> list[dict[str, Any]]:
    relay = _relay(built)
    return [
        record("cut", _before(built, 20) + 0.01 * i, 20, **{"from": VICTIM, "to": q})
        for i, q in enumerate(n for n in built.net.names if n not in (VICTIM, relay))
    ]


def test_a_relay_path_around_a_cut_fails_when_missed(net6: Net, plain: Built) -> None:
    """v0 reaches only the relay; the relay is in sync and passes it on to the proposer of
    the window's last block in time (two blocks went by at the relay first)."""
    relay = _relay(plain)
    built = _built(net6, _only_via_relay(plain))
    r = inclusion.check(_answers(built, _sent(built)))
    assert r.verdict == "fail", r.evidence
    last = _proposer(built, H + 4)
    text = r.evidence[0]
    assert f"block {H + 4} by {last}" in text and f"v0 -> {relay} -> {last}" in text
    for b in range(H + 1, H + 4):  # too early for a relay
        assert f"block {b} by" not in text


def test_no_relay_path_when_the_relay_is_cut_too(net6: Net, plain: Built) -> None:
    relay = _relay(plain)
    faults = [
        *_only_via_relay(plain),
        record("cut", _before(plain, 21), 21, **{"from": relay, "to": _proposer(plain, H + 4)}),
    ]
    built = _built(net6, faults)
    r = inclusion.check(_answers(built, _sent(built)))
    assert r.verdict == "pass", r.evidence


def test_not_applicable_without_answers(plain: Built) -> None:
    r = inclusion.check(dataclasses.replace(plain.history, answers={}))
    assert r.evidence == ["not applicable: the history holds no answers (not collected)"]
    none_served = dataclasses.replace(plain.history, answers=dict.fromkeys(plain.net.names))
    r = inclusion.check(none_served)
    assert r.evidence == ["not applicable: no node serves /alpha/clp/answers"]


def test_answers_survive_a_save_and_an_old_history_loads(plain: Built) -> None:
    h = _answers(plain, _sent(plain))
    again = History.from_json(h.to_json())
    assert again.answers == h.answers
    old = doctored(plain.history, lambda d: d.pop("answers"))
    assert old.answers == {}


def test_unreadable_answers_are_unknown_not_a_crash(plain: Built) -> None:
    h = _answers(plain, {})
    bad = dataclasses.replace(h, answers={**h.answers, "v0": {"validator": "x", "answers": 3}})
    r = inclusion.check(bad)
    assert r.verdict == "unknown"
    assert any("v0: answers without a known validator" in e for e in r.evidence)


def test_explained_misses_for_coverage(net6: Net, plain: Built) -> None:
    assert inclusion.explained_misses(_answers(plain, _sent(plain))) == []
    faults = [record("isolate", _before(plain, 20), 20, node=VICTIM)]
    built = _built(net6, faults)
    assert inclusion.explained_misses(_answers(built, _sent(built))) == [
        {"validator": VICTIM, "challenge": H}
    ]


def test_coverage_sees_a_miss_the_network_explains(net6: Net, plain: Built) -> None:
    faults = [record("isolate", _before(plain, 20), 20, node=VICTIM)]
    built = _built(net6, faults)
    explained = _answers(built, _sent(built)).to_json()
    assert "miss_network_explained" in coverage.observe({"steps": []}, explained)
    unexplained = _answers(plain, _sent(plain)).to_json()
    assert "miss_network_explained" not in coverage.observe({"steps": []}, unexplained)
    assert "miss_network_explained" not in coverage.observe({"steps": []}, plain.history.to_json())


def test_latency_that_may_churn_the_connection_is_unknown_when_in_time(
    net6: Net, plain: Built
) -> None:
    """9 s each way may drop the link (keepalive); block 34 is 12 s after the send."""
    faults = [record("latency", _before(plain, 20), 20, node=VICTIM, ms=9_000)]
    built = _built(net6, faults)
    r = inclusion.check(_answers(built, _sent(built)))
    assert r.verdict == "unknown", r.evidence
