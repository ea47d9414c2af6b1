"""§15.10 link discipline on doctored fault-proxy counters."""

from __future__ import annotations

from typing import Any

import pytest

from harness.checks import SAFETY_CHECKS, History, HistoryError, link_discipline
from harness.checks.analysis import Analysis

from .history_builder import CONSENSUS_B_PER_S, HANDSHAKE_B, Built, doctored


def seconds(built: Built) -> float:
    h = built.history
    first = Analysis(h).time_of(1)
    assert first is not None and h.link_bytes_at is not None
    return h.link_bytes_at - first


def backward(history: History, **per_link: int) -> History:
    def edit(d: dict[str, Any]) -> None:
        for link, n in per_link.items():
            d["link_bytes"][link]["downstream"] = n

    return doctored(history, edit)


def test_is_a_safety_check() -> None:
    assert link_discipline.NAME in SAFETY_CHECKS


def test_the_handshake_is_the_worked_example() -> None:
    """§16.9: hello (196 B of payload) and auth, each with its 4-byte prefix."""
    assert link_discipline.handshake_bytes("clp-testnet") == 4 + 196 + 4 + 158
    assert link_discipline.handshake_bytes("synthetic") == 4 + 196 + 4 + 158 - 2


def test_disciplined_links_pass(quiet: Built) -> None:
    result = link_discipline.check(quiet.history)
    assert result.verdict == "pass", result.evidence
    assert result.evidence[0].startswith("20 links")


def test_consensus_traffic_backward_fails_naming_the_link(quiet: Built) -> None:
    """v1 sends its messages to v0 over the connection v0 dialled, not over its own."""
    traffic = int(CONSENSUS_B_PER_S * seconds(quiet))
    result = link_discipline.check(backward(quiet.history, v0_to_v1=traffic))
    assert result.verdict == "fail"
    assert len([e for e in result.evidence if e.startswith("v0_to_v1:")]) == 1
    assert f"v1 wrote {traffic} bytes back over the connection v0 dialled" in result.evidence[0]
    assert not any(e.startswith("v1_to_v0") for e in result.evidence)


def test_the_budget_is_the_boundary(quiet: Built) -> None:
    h = quiet.history
    first = Analysis(h).time_of(1)
    assert first is not None and h.link_bytes_at is not None
    allowed, _ = link_discipline.budget(
        h, first - link_discipline.STARTUP_S, h.link_bytes_at, "v2_to_v3"
    )
    assert link_discipline.check(backward(h, v2_to_v3=allowed)).verdict == "pass"
    over = link_discipline.check(backward(h, v2_to_v3=allowed + 1))
    assert over.verdict == "fail"
    assert over.evidence[0].startswith("v2_to_v3:")


def test_reconnections_a_fault_explains_are_allowed_only_on_its_links(isolated: Built) -> None:
    """v4 isolated for 43 blocks: its links may redial every second of it (a handshake
    each); the same bytes on a link between two untouched nodes are over budget."""
    h = isolated.history
    cut_s = seconds(isolated) * 43 / 80
    redials = HANDSHAKE_B * int(cut_s) + 4000
    fine = link_discipline.check(backward(h, v0_to_v4=redials, v4_to_v1=redials))
    assert fine.verdict == "pass", fine.evidence
    flagged = link_discipline.check(backward(h, v0_to_v1=redials))
    assert flagged.verdict == "fail"
    assert [e.split(":")[0] for e in flagged.evidence] == ["v0_to_v1"]


def test_a_history_without_counters_is_unknown_with_the_reason(quiet: Built) -> None:
    def old(d: dict[str, Any]) -> None:  # saved before the counters were collected
        for key in ("link_bytes", "link_bytes_at", "link_bytes_problem"):
            del d[key]

    result = link_discipline.check(doctored(quiet.history, old))
    assert result.verdict == "unknown"
    assert "no link byte counters" in result.evidence[0]

    def direct(d: dict[str, Any]) -> None:
        d["link_bytes"] = {}
        d["link_bytes_problem"] = "no fault proxy: the nodes dial each other directly"

    result = link_discipline.check(doctored(quiet.history, direct))
    assert result.verdict == "unknown"
    assert result.evidence == ["not applicable: no fault proxy: the nodes dial each other directly"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "link_bytes: an object"),
        ({"v0_to_v1": {"sideways": 1}}, "link_bytes.v0_to_v1: an object with"),
        ({"v0_to_v1": {"downstream": -1}}, "link_bytes.v0_to_v1.downstream: a byte count"),
        ({"v0_to_v1": {"downstream": "9"}}, "link_bytes.v0_to_v1.downstream: a byte count"),
    ],
)
def test_malformed_counters_are_refused_with_the_field(
    quiet: Built, value: object, message: str
) -> None:
    def edit(d: dict[str, Any]) -> None:
        d["link_bytes"] = value

    with pytest.raises(HistoryError, match=message):
        doctored(quiet.history, edit)
