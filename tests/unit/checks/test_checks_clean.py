"""Clean histories pass every checker; the package never imports the node."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from harness.checks import CHECKERS, History, run_checks

from .history_builder import Built

# One implementation only: the split between implementations is not applicable.
CLEAN = {name: "pass" for name, _ in CHECKERS} | {"split": "unknown"}


def _verdicts(history: History) -> dict[str, str]:
    return {r.name: r.verdict for r in run_checks(history)}


def test_every_property_has_a_checker() -> None:
    assert [name for name, _ in CHECKERS] == [
        "agreement",
        "split",
        "determinism",
        "accountability",
        "completeness",
        "inclusion",
        "conservation",
        "committee_safety",
        "equivocation",
        "lock_discipline",
        "link_discipline",
        "liveness",
    ]


def test_quiet_history_passes_every_check(quiet: Built) -> None:
    results = run_checks(quiet.history)
    assert {r.name: r.verdict for r in results} == CLEAN, [
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
    assert {r.name: r.verdict for r in results} == CLEAN, [
        r.to_json() for r in results if r.verdict != "pass"
    ]
    completeness = next(r for r in results if r.name == "completeness")
    assert any("v4" in e and "ejected" in e for e in completeness.evidence)


def test_history_survives_a_json_round_trip(isolated: Built) -> None:
    text = json.dumps(isolated.history.to_json())
    again = History.from_json(json.loads(text))
    assert again == isolated.history
    assert _verdicts(again) == _verdicts(isolated.history)


HARNESS = Path(__file__).resolve().parents[3] / "harness"
NODE_IMPORT = re.compile(r"^\s*(from|import) clp_node", re.MULTILINE)


def test_no_harness_module_imports_the_node() -> None:
    """Import every module of ``harness`` in a fresh interpreter: no clp_node module loads."""
    code = (
        "import importlib, pkgutil, sys, harness\n"
        "names = [m.name for m in pkgutil.walk_packages(harness.__path__, 'harness.')]\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m == 'clp_node' or m.startswith('clp_node.'))\n"
        "print(len(names), ','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert int(out[0]) > 50, f"only {out[0]} harness modules found"
    assert out[1:] == [], f"importing harness pulls in {out[1]}"


def test_no_harness_source_line_imports_the_node() -> None:
    """The acceptance rule, as grep states it: no line of harness/ starts an import of clp_node."""
    sources = sorted(HARNESS.rglob("*.py"))
    assert len(sources) > 50
    found = [
        f"{path.relative_to(HARNESS.parent)}:{text[: m.start()].count(chr(10)) + 1}"
        for path in sources
        for text in [path.read_text(encoding="utf-8")]
        for m in NODE_IMPORT.finditer(text)
    ]
    assert found == []
