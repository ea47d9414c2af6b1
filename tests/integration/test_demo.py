"""The README's main command, end to end: the demo must reach a passing verdict and leave
no node process behind."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from harness.cluster.ports import port_is_bound
from harness.cluster.testnet import TestnetManifest
from harness.demo import run_demo

pytestmark = pytest.mark.integration


async def test_demo_reaches_a_passing_verdict(tmp_path: Path) -> None:
    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=False)
    passed = await run_demo(console, tmp_path, validators=5, keep=True)
    text = out.getvalue()
    assert passed, text
    assert "v4 slashed for epoch 0" in text and "ejected at the end of epoch 1" in text
    manifest = TestnetManifest.load(tmp_path / "testnet")
    bound = [
        n.name for n in manifest.nodes if port_is_bound(n.api_port) or port_is_bound(n.p2p_port)
    ]
    assert not bound, f"ports still bound after the demo: {bound}"
