"""The README's main command, end to end: the demo must reach a passing verdict and leave
no node process behind."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from harness.cluster.ports import port_is_bound
from harness.cluster.testnet import TestnetManifest
from harness.demo import run_demo

pytestmark = pytest.mark.integration


async def test_demo_reaches_a_passing_verdict(tmp_path: Path) -> None:
    """Run with --monitor: a real Prometheus answers v4's slashed stake, and the run folder
    holds the report with the recorded series."""
    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=False)
    passed = await run_demo(console, tmp_path, validators=5, keep=True, monitor=True)
    text = out.getvalue()
    assert passed, text
    assert "v4 slashed for epoch 0" in text and "ejected at the end of epoch 1" in text
    assert "Prometheus scraping every node: http://127.0.0.1:" in text
    assert f"report: {tmp_path / 'report.html'}" in text
    assert (tmp_path / "timeline.svg").is_file()
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["status"] == "passed" and result["reproduce"].startswith("clp-testnet demo")
    series = json.loads((tmp_path / "monitor.json").read_text())["series"]
    stake = series["stake (median of the nodes' views)"]["v4"]
    assert stake[0][1] == 100000 and 90000 in [v for _, v in stake], "the slash, scraped"
    page = (tmp_path / "report.html").read_text()
    assert 'id="slash-0-v4"' in page and "metrics recorded by Prometheus" in page
    manifest = TestnetManifest.load(tmp_path / "testnet")
    bound = [
        n.name for n in manifest.nodes if port_is_bound(n.api_port) or port_is_bound(n.p2p_port)
    ]
    assert not bound, f"ports still bound after the demo: {bound}"
