"""Clean histories pass every checker; the package never imports the node."""

from __future__ import annotations

import json
import subprocess
import sys

from harness.checks import CHECKERS, History, run_checks

from .history_builder import Built


def _verdicts(history: History) -> dict[str, str]:
    return {r.name: r.verdict for r in run_checks(history)}


def test_every_property_has_a_checker() -> None:
    assert [name for name, _ in CHECKERS] == [
        "agreement",
        "determinism",
        "accountability",
        "completeness",
        "conservation",
        "committee_safety",
        "liveness",
    ]


def test_quiet_history_passes_every_check(quiet: Built) -> None:
    results = run_checks(quiet.history)
    assert {r.name: r.verdict for r in results} == {name: "pass" for name, _ in CHECKERS}, [
        r.to_json() for r in results if r.verdict != "pass"
    ]
    assert all(r.evidence for r in results)


def test_isolated_validator_history_passes_every_check(isolated: Built) -> None:
    """The served results say v4 was slashed twice and ejected; every checker agrees."""
    v4 = isolated.net.addr["v4"]
    served = isolated.history.results["v0"]
    assert [v["status"] for v in served[1]["validators"] if v["address"] == v4] == ["slashed"]
    assert served[2]["ejected"] == [v4]
    results = run_checks(isolated.history)
    assert {r.name: r.verdict for r in results} == {name: "pass" for name, _ in CHECKERS}, [
        r.to_json() for r in results if r.verdict != "pass"
    ]
    completeness = next(r for r in results if r.name == "completeness")
    assert any("v4" in e and "ejected" in e for e in completeness.evidence)


def test_history_survives_a_json_round_trip(isolated: Built) -> None:
    text = json.dumps(isolated.history.to_json())
    again = History.from_json(json.loads(text))
    assert again == isolated.history
    assert _verdicts(again) == _verdicts(isolated.history)


def test_checks_package_does_not_import_the_node() -> None:
    code = (
        "import sys, harness.checks, harness.commands.check; "
        "bad = sorted(m for m in sys.modules if m == 'clp_node' or m.startswith('clp_node.')); "
        "print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"harness.checks pulls in {out}"
