"""SIGTERM and SIGINT on both nodes: a clean stop (exit 0, no crash), nothing lost.

A one-validator testnet (it finalizes on its own) is signalled once it has a few blocks.
The node must exit 0 in time; its store must pass ``check-config`` (which decodes and
checks every stored block); started again on the same files it must serve at once every
block it had served before, with the same hashes, and go on finalizing from there.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hostile_tools import node_argv

from harness.cluster.testnet import TestnetManifest, init_testnet

pytestmark = pytest.mark.integration

STOP_WITHIN_S = 15.0
START_WITHIN_S = 30.0
SIGNALS = [pytest.param(signal.SIGTERM, id="SIGTERM"), pytest.param(signal.SIGINT, id="SIGINT")]


class RunningNode:
    """One node process of ``kind`` on ``manifest``'s v0, its output in a log file."""

    def __init__(self, kind: str, manifest: TestnetManifest, log: Path) -> None:
        node = manifest.nodes[0]
        self.base = f"http://{node.host}:{node.api_port}"
        self.log = log
        self.config = manifest.config_path(node.name)
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [*node_argv(kind), "--config", str(self.config)],
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def health(self) -> dict[str, Any] | None:
        try:
            answer: dict[str, Any] = httpx.get(f"{self.base}/health", timeout=2).json()
            return answer
        except (httpx.HTTPError, ValueError):
            return None

    def wait_height(self, height: int, timeout: float) -> int:
        """The first height served at or above ``height``; fails if the node exits."""
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, f"exited {self.proc.returncode}:\n{self.output()}"
            served = self.health()
            if served is not None and served.get("height", -1) >= height:
                return int(served["height"])
            assert time.monotonic() < deadline, f"no height {height} in {timeout} s: {served}"
            time.sleep(0.05)

    def block_hashes(self, last: int) -> list[str]:
        hashes = []
        for h in range(1, last + 1):
            resp = httpx.get(f"{self.base}/alpha/chain/block/{h}", timeout=5)
            assert resp.status_code == 200, (h, resp.status_code, resp.text)
            hashes.append(resp.json()["block"]["hash"])
        return hashes

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def nodes(tmp_path: Path, node_kind: str) -> Iterator[tuple[TestnetManifest, list[RunningNode]]]:
    manifest = init_testnet(tmp_path / "net", validators=1, proxied=False, seed="hostile-sig")
    started: list[RunningNode] = []
    try:
        yield manifest, started
    finally:
        for node in started:
            node.stop()


@pytest.mark.parametrize("sig", SIGNALS)
def test_a_stop_signal_stops_cleanly_and_a_restart_resumes(
    nodes: tuple[TestnetManifest, list[RunningNode]], node_kind: str, sig: signal.Signals
) -> None:
    manifest, started = nodes
    log = manifest.root / "v0.log"
    first = RunningNode(node_kind, manifest, log)
    started.append(first)
    served = first.wait_height(3, START_WITHIN_S)
    before = first.block_hashes(served)
    first.proc.send_signal(sig)
    try:
        code = first.proc.wait(timeout=STOP_WITHIN_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{sig.name}: still running after {STOP_WITHIN_S} s:\n{first.output()}")
    said = first.output()
    assert code == 0, f"{sig.name}: exit {code}\n{said}"
    for crash in ("Traceback", "panicked", "node.crashed"):
        assert crash not in said, f"{sig.name}: {crash}\n{said}"

    # The store as the signal left it: every stored block decodes and checks.
    checked = subprocess.run(
        [*node_argv(node_kind), "check-config", "--config", str(first.config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0 and checked.stdout.startswith("ok: v0"), checked.stderr

    # Started again: every block served before is served at once, the same, and it goes on.
    second = RunningNode(node_kind, manifest, log)
    started.append(second)
    resumed = second.wait_height(0, START_WITHIN_S)  # its first answer
    assert resumed >= served, f"restarted at {resumed}, had {served}\n{second.output()}"
    assert second.block_hashes(served) == before, "a block changed across the restart"
    second.wait_height(resumed + 2, START_WITHIN_S)
    second.proc.send_signal(signal.SIGTERM)
    assert second.proc.wait(timeout=STOP_WITHIN_S) == 0, second.output()
