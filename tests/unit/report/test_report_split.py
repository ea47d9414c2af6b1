"""A split between node implementations stands above everything else on the page."""

from __future__ import annotations

from pathlib import Path

from harness.report.build import write_report
from harness.scenario.results import CheckOutcome, ScenarioResult

HEIGHT = (
    "first divergent height 12: python (v0 v1 v2 v3) finalized it, rust (v4) stalled at 11; "
    "sides at height 12: python holds 400000 of 500000 (v0, v1, v2, v3); rust holds 100000"
)
EPOCH = "first divergent epoch 0: its result differs between implementations in 1 field(s)"


def _page(tmp_path: Path, checks: list[CheckOutcome]) -> str:
    run = tmp_path / "run"
    run.mkdir()
    r = ScenarioResult("mixed", "scenarios/mixed.toml", 1, "local", out_dir=str(run))
    r.checks = checks
    r.finish()
    r.save(run / "result.json")
    return write_report(run).read_text()


def test_a_split_is_a_banner_before_the_reasons(tmp_path: Path) -> None:
    page = _page(
        tmp_path,
        [
            CheckOutcome("split", "fail", [HEIGHT, EPOCH]),
            CheckOutcome("liveness", "pass", ["explained by split at height 12: ..."]),
        ],
    )
    start = page.index('<section id="split">')
    banner = page[start : page.index("</section>", start)]
    assert "SPLIT: the node implementations diverged" in banner
    assert f"<li>{HEIGHT}</li>" in banner and f"<li>{EPOCH}</li>" in banner
    assert start < page.index('id="why"') < page.index("<h2>timeline</h2>")


def test_no_banner_without_a_split(tmp_path: Path) -> None:
    page = _page(tmp_path, [CheckOutcome("split", "unknown", ["not applicable: ..."])])
    assert 'id="split"' not in page
