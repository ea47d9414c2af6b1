"""The fault log as reachability: who surely cannot get a response into a finalized block.

The timeline reads the state each record carries; these logs are made with the registry's
declared effects, as the Nemesis writes them.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.checks.history import History, HistoryError
from harness.checks.timeline import NetState, segments, state_of
from harness.faults.state import FaultState

from .history_builder import Net, build, fault_log

NODES = ("v0", "v1", "v2", "v3", "v4")
EQUAL = {n: 100 for n in NODES}


def _log(*steps: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return fault_log(
        list(NODES),
        [{"step": k, "at": 100.0 + i, "height": i, "args": a} for i, (k, a) in enumerate(steps)],
    )


def _after(*steps: tuple[str, dict[str, Any]]) -> NetState:
    return state_of(FaultState.from_json(_log(*steps)[-1]["state"]), NODES)


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
    s = _after(("cut", {"from": "v4", "to": "v0"}))
    assert s.excluded("v4", EQUAL) is None
    assert s.touched("v4", EQUAL) is None


def test_linked_groups_are_the_pairs_linked_both_ways() -> None:
    s = _after(("mute", {"node": "v1"}), ("cut", {"from": "v4", "to": "v2"}))
    groups = sorted(sorted(g) for g in s.linked_groups())
    assert groups == [["v0", "v2", "v3"], ["v0", "v3", "v4"], ["v1"]]
    assert sorted(sorted(c) for c in s.components()) == [["v0", "v2", "v3", "v4"], ["v1"]]
    whole = _after(("cut", {"from": "v4", "to": "v0"}), ("heal", {}))
    assert [sorted(g) for g in whole.linked_groups()] == [list(NODES)]
    stopped = _after(("kill", {"node": "v3"}), ("partition", {"groups": [["v0", "v1"]]}))
    assert sorted(sorted(g) for g in stopped.linked_groups()) == [["v0", "v1"], ["v2", "v4"]]


def test_process_faults_and_lazy_exclude_until_undone() -> None:
    steps = [("kill", {"node": "v1"}), ("pause", {"node": "v2"}), ("lazy", {"node": "v3"})]
    s = _after(*steps)
    assert s.excluded("v1", EQUAL) == "killed"
    assert s.excluded("v2", EQUAL) == "paused"
    assert s.excluded("v3", EQUAL) == "lazy (answers no challenge)"
    s = _after(
        *steps, ("restart", {"node": "v1"}), ("resume", {"node": "v2"}), ("active", {"node": "v3"})
    )
    assert all(s.excluded(n, EQUAL) is None for n in NODES)


def test_heal_is_links_only_and_keeps_the_toxics() -> None:
    """Regression: a links-only heal used to clear the toxics in the checker's view."""
    s = _after(
        ("isolate", {"node": "v4"}),
        ("latency", {"node": "v0", "ms": 100}),
        ("kill", {"node": "v1"}),
        ("heal", {}),
    )
    assert s.excluded("v4", EQUAL) is None
    assert s.touched("v0", EQUAL) == "a toxic on its links"  # still on the proxy
    assert s.excluded("v1", EQUAL) == "killed"


def test_clear_is_toxics_only_and_recognised() -> None:
    """Regression: ``clear`` was logged under a name the checker did not know."""
    s = _after(("isolate", {"node": "v4"}), ("latency", {"node": "v0", "ms": 100}), ("clear", {}))
    assert s.touched("v0", EQUAL) is None
    assert s.excluded("v4", EQUAL)  # links stay down
    assert all(s.touched(n, EQUAL) is None for n in ("v1", "v2", "v3"))


def test_reset_undoes_everything() -> None:
    s = _after(
        ("isolate", {"node": "v4"}),
        ("latency", {"node": "v0", "ms": 100}),
        ("kill", {"node": "v1"}),
        ("clock_offset", {"node": "v2", "ms": 500}),
        ("reset", {}),
    )
    assert all(s.touched(n, EQUAL) is None for n in NODES)


def test_toxics_touch_the_sender_or_both_ends_when_they_break_connections() -> None:
    s = _after(("latency", {"link": ["v0", "v1"], "ms": 100}))
    assert s.excluded("v0", EQUAL) is None
    assert s.touched("v0", EQUAL) == "a toxic on its links"
    assert s.touched("v1", EQUAL) is None  # latency delays what v0 sends
    s = _after(("limit_data", {"link": ["v0", "v1"], "bytes": 10}))
    assert s.touched("v0", EQUAL) and s.touched("v1", EQUAL)  # the connection ends


def test_segments_take_the_recorded_window() -> None:
    faults = _log(("isolate", {"node": "v4"}), ("kill", {"node": "v3"}), ("reset", {}))
    segs = segments(faults, NODES, first_time=90.0)
    assert [s.opened_by.split(" ")[0] for s in segs] == ["start", "isolate", "kill", "reset"]
    isolate, kill, reset = segs[1], segs[2], segs[3]
    assert (isolate.start_lo, isolate.start_hi) == (faults[0]["t_start"], faults[0]["t_end"])
    assert isolate.start_height == 0 and kill.start_height == 1
    assert isolate.end_lo == kill.start_lo
    assert reset.end_lo == float("inf")
    assert reset.state.touched("v3", EQUAL) is None


def test_an_older_log_is_one_clear_error() -> None:
    old = [{"time": 100.0, "height": 3, "action": "isolate", "params": {"node": "v4"}}]
    with pytest.raises(ValueError, match=r"faults\[0\]: not a format-2 fault record"):
        segments(old, NODES, 90.0)


def test_history_with_an_older_log_is_refused(tmp_path: Any) -> None:
    import json

    data = build(Net(), 3).history.to_json()
    data["faults"] = [{"time": 1.0, "height": 1, "action": "heal", "params": {}}]
    path = tmp_path / "history.json"
    path.write_text(json.dumps(data))
    with pytest.raises(HistoryError, match="older clp-testnet"):
        History.load(path)
