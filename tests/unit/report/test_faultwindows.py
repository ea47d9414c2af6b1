"""Fault windows from format-2 records (built by hand here), and the old-format adapter."""

from __future__ import annotations

from typing import Any

import pytest

from harness.report.faultwindows import FaultLogError, fault_windows


def rec(seq: int, t: float, kind: str, **state: Any) -> dict[str, Any]:
    full = {"links_down": [], "toxics": {}, "killed": [], "paused": [], "hooks": {}}
    full.update(state)
    return {
        "format": 2,
        "seq": seq,
        "kind": kind,
        "args": {},
        "height": seq * 5,
        "t_start": t,
        "t_end": t + 0.25,
        "state": full,
    }


def test_a_window_runs_from_first_showing_record_to_first_not_showing() -> None:
    log = [
        rec(0, 10.0, "cut", links_down=["v0_to_v1"]),
        rec(1, 12.0, "kill", links_down=["v0_to_v1"], killed=["v2"]),
        rec(2, 15.0, "heal", killed=["v2"]),
        rec(3, 20.0, "restart"),
    ]
    ws = {(w.kind, w.node): w for w in fault_windows(log)}
    out, into = ws["link_out", "v0"], ws["link_in", "v1"]
    assert (out.start, out.end, out.opened_by, out.closed_by) == (10.0, 15.25, 0, 2)
    assert (into.start, into.end, into.detail) == (10.0, 15.25, "v0 -> v1 down")
    killed = ws["killed", "v2"]
    assert (killed.start, killed.end, killed.height) == (12.0, 20.25, 5)
    assert set(ws) == {("link_out", "v0"), ("link_in", "v1"), ("killed", "v2")}


def test_open_faults_last_to_the_end_and_hooks_toxics_loss_have_kinds() -> None:
    toxic = {"name": "lat", "type": "latency", "attributes": {"latency": 300, "jitter": 0}}
    log = [
        rec(
            0,
            1.0,
            "latency",
            toxics={"v1_to_v2": [toxic]},
            hooks={"v3": {"lazy": True, "clock_offset_ms": -500}},
            packet_loss={"v4": 0.3},
            paused=["v0"],
        )
    ]
    ws = {(w.kind, w.node): w for w in fault_windows(log)}
    assert set(ws) == {
        ("toxic", "v1"),
        ("lazy", "v3"),
        ("clock_offset", "v3"),
        ("packet_loss", "v4"),
        ("paused", "v0"),
    }
    assert all(w.end is None for w in ws.values())
    assert ws["toxic", "v1"].detail == "latency jitter=0, latency=300 on v1 -> v2"
    assert ws["clock_offset", "v3"].detail == "clock offset -500 ms"


def test_a_changed_clock_offset_is_a_new_window() -> None:
    log = [
        rec(0, 1.0, "clock_offset", hooks={"v1": {"lazy": False, "clock_offset_ms": 100}}),
        rec(1, 2.0, "clock_offset", hooks={"v1": {"lazy": False, "clock_offset_ms": 900}}),
    ]
    ws = fault_windows(log)
    assert [(w.detail, w.end) for w in ws] == [
        ("clock offset +100 ms", 2.25),
        ("clock offset +900 ms", None),
    ]


def test_records_without_format_2_are_rejected_with_one_error() -> None:
    with pytest.raises(FaultLogError, match="fault record 1: format None"):
        fault_windows([rec(0, 1.0, "heal"), {"time": 2.0, "action": "heal"}])


def test_a_double_sign_is_a_momentary_window_on_its_validators_lane() -> None:
    from harness.faults.kinds import KINDS
    from harness.faults.log import FaultRecord
    from harness.faults.state import FaultState

    kind = KINDS["double_sign"]
    req = kind.request({"node": "v2"}, ["v0", "v1", "v2"], 0)
    rec = FaultRecord(0, "double_sign", req.args, 4, 10.0, 10.2, kind.effect(FaultState(), req))
    (w,) = fault_windows([rec.to_json()])
    assert (w.kind, w.node, w.start, w.end, w.height) == ("double_sign", "v2", 10.0, 10.2, 4)
