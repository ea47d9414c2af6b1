"""The fault log as reachability: who surely cannot get a response into a finalized block."""

from __future__ import annotations

from harness.checks.timeline import NetState, apply_record, segments, unrecognized_actions

NODES = ("v0", "v1", "v2", "v3", "v4")
EQUAL = {n: 100 for n in NODES}


def _after(*records: tuple[str, dict]) -> NetState:
    s = NetState(NODES)
    for action, params in records:
        s = apply_record(s, action, params)
    return s


def test_isolated_muted_and_minority_nodes_are_excluded() -> None:
    assert _after(("isolate", {"node": "v4"})).excluded("v4", EQUAL)
    assert _after(("mute", {"node": "v4"})).excluded("v4", EQUAL)
    split = _after(("partition", {"groups": [["v0", "v1"], ["v2", "v3", "v4"]]}))
    assert split.excluded("v0", EQUAL) and split.excluded("v1", EQUAL)
    # three of five is 60%: not > 2/3 either, so no block with their responses is finalized
    assert split.excluded("v2", EQUAL)
    four = _after(("partition", {"groups": [["v4"]]}))  # the rest form the other group
    assert four.excluded("v4", EQUAL) and four.excluded("v0", EQUAL) is None


def test_one_way_cut_is_bridged_by_relays() -> None:
    s = _after(("cut", {"src": "v4", "dst": "v0"}))
    assert s.excluded("v4", EQUAL) is None
    assert s.touched("v4", EQUAL) is None


def test_process_faults_and_lazy_exclude_until_undone() -> None:
    s = _after(
        ("kill", {"node": "v1"}), ("pause", {"node": "v2"}), ("lazy", {"node": "v3", "on": True})
    )
    assert s.excluded("v1", EQUAL) == "killed"
    assert s.excluded("v2", EQUAL) == "paused"
    assert s.excluded("v3", EQUAL) == "lazy (answers no challenge)"
    s = apply_record(s, "restart", {"node": "v1"})
    s = apply_record(s, "resume", {"node": "v2"})
    s = apply_record(s, "lazy", {"node": "v3", "on": False})
    assert all(s.excluded(n, EQUAL) is None for n in NODES)


def test_heal_and_clear_undo_what_they_should() -> None:
    s = _after(
        ("isolate", {"node": "v4"}),
        ("latency", {"nodes": ["v0"], "link": [], "latency": 100}),
        ("kill", {"node": "v1"}),
        ("heal", {}),
    )
    assert s.excluded("v4", EQUAL) is None and s.touched("v0", EQUAL) is None
    assert s.excluded("v1", EQUAL) == "killed"
    assert apply_record(s, "clear", {}).excluded("v1", EQUAL) is None


def test_toxic_and_unknown_actions_only_touch() -> None:
    s = _after(("latency", {"nodes": [], "link": ["v0", "v1"], "latency": 100}))
    assert s.excluded("v0", EQUAL) is None
    assert s.touched("v0", EQUAL) == "a toxic on its links"
    assert s.touched("v2", EQUAL) is None
    odd = _after(("meteor", {"node": "v2"}))
    assert odd.touched("v2", EQUAL) == "named by an unrecognized fault"
    assert unrecognized_actions([{"action": "meteor"}, {"action": "heal"}]) == ["meteor"]


def test_segments_bound_each_effect_in_time() -> None:
    faults = [
        {"time": 100.0, "height": 10, "action": "isolate", "params": {"node": "v4"}},
        {"time": 105.0, "height": 30, "action": "kill", "params": {"node": "v3"}},
        {"time": 110.0, "height": 50, "action": "clear", "params": {}},
    ]
    segs = segments(faults, NODES, first_time=90.0)
    assert [s.opened_by.split(" ")[0] for s in segs] == ["start", "isolate", "kill", "clear"]
    isolate, kill, clear = segs[1], segs[2], segs[3]
    assert isolate.start_hi == 100.0 and isolate.start_lo < 100.0  # recorded after acting
    assert isolate.start_height == 10
    assert kill.start_lo == 105.0 and kill.start_hi > 105.0  # recorded before acting
    assert kill.start_height is None
    assert clear.start_lo <= 105.0  # clear restarts and heals before it writes its record
    assert clear.end_lo == float("inf")
