"""[[expect]] entries compared with a served ClpEpochResult (names ↔ addresses)."""

from __future__ import annotations

from harness.scenario.expect import compare
from harness.scenario.model import Expectation

NAME_OF = {"aa" * 20: "v0", "bb" * 20: "v1", "cc" * 20: "v2", "dd" * 20: "v3"}
ADDR = {n: a for a, n in NAME_OF.items()}

RESULT = {
    "epoch": 1,
    "systemic": False,
    "validators": [
        {"address": ADDR["v0"], "slashed": 0, "status": "active"},
        {"address": ADDR["v1"], "slashed": 0, "status": "active"},
        {"address": ADDR["v2"], "slashed": 900, "status": "slashed"},
        {"address": ADDR["v3"], "slashed": 1000, "status": "ejected"},
    ],
    "ejected": [ADDR["v3"]],
    "next_committee": [ADDR["v0"], ADDR["v1"], ADDR["v2"]],
}
STAKES = {"v0": 100000, "v1": 100000, "v2": 8100, "v3": 9000}


def test_every_key_matching() -> None:
    exp = Expectation(
        epoch=1,
        slashed=frozenset({"v2", "v3"}),
        ejected=frozenset({"v3"}),
        deferred=frozenset(),
        systemic=False,
        committee=frozenset({"v0", "v1", "v2"}),
        stakes={"v2": 8100, "v3": 9000},
        statuses={"v2": "slashed", "v3": "ejected"},
    )
    out = compare(exp, 0, RESULT, NAME_OF, STAKES)
    assert all(o.passed for o in out), out
    assert [o.what for o in out] == [
        "expect[0] epoch 1 slashed",
        "expect[0] epoch 1 ejected",
        "expect[0] epoch 1 deferred",
        "expect[0] epoch 1 committee",
        "expect[0] epoch 1 systemic",
        "expect[0] epoch 1 stake of v2",
        "expect[0] epoch 1 stake of v3",
        "expect[0] epoch 1 status of v2",
        "expect[0] epoch 1 status of v3",
    ]


def test_mismatches_say_want_and_got() -> None:
    exp = Expectation(
        epoch=1,
        slashed=frozenset({"v3"}),
        systemic=True,
        committee=frozenset({"v0", "v1", "v2", "v3"}),
        stakes={"v2": 100000},
        statuses={"v1": "slashed"},
    )
    out = {o.what: o for o in compare(exp, 2, RESULT, NAME_OF, STAKES)}
    assert not any(o.passed for o in out.values()), out
    assert out["expect[2] epoch 1 slashed"].detail == "want {v3}, got {v2, v3}"
    assert out["expect[2] epoch 1 systemic"].detail == "want true, got false"
    assert out["expect[2] epoch 1 committee"].detail == "want {v0, v1, v2, v3}, got {v0, v1, v2}"
    assert out["expect[2] epoch 1 stake of v2"].detail == "want 100000, got 8100"
    assert out["expect[2] epoch 1 status of v1"].detail == "want slashed, got active"


def test_only_asserted_keys_are_compared() -> None:
    assert compare(Expectation(epoch=1), 0, RESULT, NAME_OF, STAKES) == []
    absent = compare(
        Expectation(epoch=1, statuses={"v3": "active"}), 0, {"validators": []}, NAME_OF, {}
    )
    assert not absent[0].passed and "absent" in absent[0].detail
