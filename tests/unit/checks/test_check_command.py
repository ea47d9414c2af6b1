"""``clp-testnet check``: exit 0 when nothing failed, 1 when something did, 2 on a bad file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.checks import CHECKERS
from harness.cli import main

from .history_builder import Built, doctored


def test_clean_history_exits_0(
    tmp_path: Path, isolated: Built, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "h.json"
    isolated.history.save(path)
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "accountability" in out and "pass" in out


def test_failing_history_exits_1_with_json(
    tmp_path: Path, isolated: Built, capsys: pytest.CaptureFixture[str]
) -> None:
    def leak(d: dict[str, Any]) -> None:
        d["results"]["v0"]["1"]["burned_total"] += 1

    path = tmp_path / "h.json"
    doctored(isolated.history, leak).save(path)
    assert main(["check", "--json", str(path)]) == 1
    out = capsys.readouterr().out
    assert '"verdict": "fail"' in out and "genesis total 500000" in out


def test_bad_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(tmp_path / "none.json")]) == 2
    bad = tmp_path / "bad.json"
    bad.write_text('{"chain_id": 1}')
    assert main(["check", str(bad)]) == 2
    out = " ".join(capsys.readouterr().out.split())  # rich wraps long lines
    assert "none.json: cannot read" in out and "chain_id: a str is required" in out


def test_report_of_a_testnet_folder_shows_the_verdicts_on_its_saved_history(
    tmp_path: Path, isolated: Built, capsys: pytest.CaptureFixture[str]
) -> None:
    """What `check --dir` leaves in a testnet folder (no result.json) is enough for `report`."""
    isolated.history.save(tmp_path / "history.json")
    assert main(["report", str(tmp_path)]) == 0
    page = (tmp_path / "report.html").read_text()
    assert 'id="status">passed<' in page
    assert page.count('data-kind="check"') == len(CHECKERS) and 'data-verdict="fail"' not in page
    assert f'<code id="reproduce">clp-testnet check --dir {tmp_path}</code>' in page
    assert (tmp_path / "timeline.svg").is_file()

    def leak(d: dict[str, Any]) -> None:
        d["results"]["v0"]["1"]["burned_total"] += 1

    doctored(isolated.history, leak).save(tmp_path / "history.json")
    assert main(["report", str(tmp_path)]) == 0
    page = (tmp_path / "report.html").read_text()
    assert 'id="status">failed<' in page and 'data-verdict="fail"' in page


def test_report_of_a_folder_without_result_or_history_says_what_it_wants(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(tmp_path)]) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert "no result.json (a run folder) nor history.json" in out
    assert f"clp-testnet check --dir {tmp_path}" in out
