"""report.html and timeline.svg from a run folder; `clp-testnet report`; JUnit XML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.report.build import ReportError, read_logs, write_report
from harness.report.html import evidence_refs
from harness.report.timeline import EpochMark, Timeline
from harness.scenario.junit import junit_xml
from harness.scenario.results import CheckOutcome, ExpectationOutcome, ScenarioResult


def fault(seq: int, t: float, kind: str, links: list[str]) -> dict[str, Any]:
    return {
        "format": 2,
        "seq": seq,
        "kind": kind,
        "args": {},
        "height": 3,
        "t_start": t,
        "t_end": t + 0.1,
        "state": {"links_down": links, "toxics": {}, "killed": [], "paused": [], "hooks": {}},
    }


def failed_result(out_dir: Path) -> ScenarioResult:
    r = ScenarioResult("cut", "scenarios/cut.toml", 3, "local", out_dir=str(out_dir))
    r.checks = [CheckOutcome("liveness", "fail", ["no block for 9 s after t=100.05"])]
    r.expectations = [ExpectationOutcome("expect[0] epoch 0 slashed", False, "want {v1}, got {}")]
    r.fault_log = [
        fault(0, 100.0, "cut", ["v1_to_v0"]),
        fault(1, 104.0, "heal", []),
    ]
    r.logs = {"v0": "logs/v0.log", "v1": "logs/v1.log"}
    r.notes = ["steps[0] (cut) was due at height 3 and took effect at height <15>"]
    r.finish()
    return r


def make_run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    (run / "logs").mkdir(parents=True)
    failed_result(run).save(run / "result.json")
    lines = [
        {"time": 101.0, "level": "warning", "node": "v0", "event": "p2p.lost", "peer": "v1"},
        {"time": 100.5, "level": "info", "node": "v0", "event": "chain.block_committed"},
    ]
    (run / "logs" / "v0.log").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    (run / "logs" / "v1.log").write_text("not json <script>\n")
    (run / "scenario.toml").write_text('name = "cut"\n')
    (run / "heights.json").write_text(
        json.dumps(
            [
                {"t": 100.0, "heights": {"v0": 3, "v1": 3}},
                {"t": 105.0, "heights": {"v0": 9, "v1": 4}},
            ]
        )
    )
    return run


def test_report_of_a_failed_run_without_history(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    page = write_report(run).read_text()
    svg = (run / "timeline.svg").read_text()
    assert svg.startswith("<?xml") and svg.count('class="lane"') == 2
    assert 'data-kind="link_out" data-node="v1" data-fault="0"' in svg
    assert 'data-start="100.000" data-end="104.100"' in svg
    assert "<svg" in page and 'id="why"' in page and "want {v1}, got {}" in page
    why = page[page.index('id="why"') :]
    assert (
        "<i>note</i>: steps[0] (cut) was due at height 3 and took effect at height &lt;15&gt;"
        in why
    )
    assert 'href="#fault-0"' in page, "the liveness evidence names the cut's time"
    assert "not json &lt;script&gt;" in page, "a log line that is not JSON is kept, escaped"
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "clp-testnet run scenarios/cut.toml --seed 3 --backend local" in page


def test_logs_are_interleaved_by_time(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    rows = read_logs(run / "logs")
    assert [r["time"] for r in rows] == sorted(r["time"] for r in rows)
    assert rows[-1]["text"] == "p2p.lost peer=v1" and rows[-1]["level"] == "warning"
    assert rows[0]["text"] == "not json <script>" and rows[0]["time"] == 100.5, "run start"
    named = read_logs(run / "logs", {"v1": "validator-one"})
    assert named[-1]["text"] == "p2p.lost peer=validator-one"


def test_evidence_refs_point_at_epochs_slashes_blocks_lanes() -> None:
    tl = Timeline(["v0", "v1"], 0.0, 10.0, block_times={5: 2.0})
    tl.epochs = [EpochMark(0, 20, False, {"v1": 100}, (), (), {"v1": 0})]
    refs = [r.href for r in evidence_refs("epoch 0: v1 -100 at height 5", tl, [])]
    assert refs == ["#epoch-0", "#slash-0-v1", "#block-5", "#lane-v1"]
    assert evidence_refs("epoch 7 at height 99", tl, []) == []


def test_report_command_and_its_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = make_run(tmp_path)
    assert main(["report", str(run)]) == 0
    assert "report.html" in capsys.readouterr().out
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "no result.json (a run folder) nor history.json" in capsys.readouterr().out
    (run / "result.json").write_text("{bad")
    with pytest.raises(ReportError, match="line 1: not valid JSON"):
        write_report(run)


def test_junit_failing_cases_carry_reproduce_and_report(tmp_path: Path) -> None:
    ok = ScenarioResult("fine", "scenarios/fine.toml", 1, "local", out_dir=str(tmp_path / "ok"))
    ok.checks = [CheckOutcome("agreement", "pass", ["5 chains agree"])]
    ok.finish()
    root = ET.fromstring(junit_xml([failed_result(tmp_path / "bad"), ok]))
    bad, fine = root.findall("testsuite")
    assert (bad.get("tests"), bad.get("failures"), fine.get("failures")) == ("2", "2", "0")
    for case in bad.findall("testcase"):
        text = case.find("failure").text or ""  # type: ignore[union-attr]
        assert "reproduce: clp-testnet run scenarios/cut.toml --seed 3 --backend local" in text
        assert f"report: {tmp_path / 'bad' / 'report.html'}" in text
    props = {p.get("name"): p.get("value") for p in bad.iter("property")}
    assert props["report"] == str(tmp_path / "bad" / "report.html")


def test_run_junit_wants_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--junit", str(tmp_path), "scenarios/happy-path.toml"]) == 2
    assert "--junit wants a file" in capsys.readouterr().out


def test_sampled_heights_win_while_sampled_and_the_chain_tells_the_rest() -> None:
    """The demo's trace ends at its last watched step (h52); the chain went on to h180, and
    the lane must show that too, not stop at 52."""
    from harness.report.timeline import merge_sampled

    chain = {"v0": [(t, t) for t in range(1, 181)]}  # one block a second up to 180
    trace = [{"t": 10.5, "heights": {"v0": 9}}, {"t": 52.5, "heights": {"v0": 50, "v1": None}}]
    merge_sampled(chain, trace)
    pts = chain["v0"]
    assert pts[-1] == (180, 180) and (52.5, 50) in pts and (10.5, 9) in pts
    assert all(not 10.5 <= t <= 52.5 or (t, h) in [(10.5, 9), (52.5, 50)] for t, h in pts)
    assert [t for t, _ in pts] == sorted(t for t, _ in pts) and "v1" not in chain
