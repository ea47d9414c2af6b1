"""``clp-testnet conform --image``: our own node image, as `clp-testnet images build` made it,
honours the node contract when it runs in containers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from harness.images import Images

CLI = Path(sys.executable).with_name("clp-testnet")
ROOT = Path(__file__).resolve().parents[3]


def test_conform_passes_on_our_image(docker_images: Images, tmp_path: Path) -> None:
    env = dict(os.environ, COLUMNS="200", CLP_TESTNET_TOXIPROXY_IMAGE=docker_images.toxiproxy)
    env.pop("CLP_TESTNET_NODE_IMAGE", None)
    args = ["--image", docker_images.node, "--scenarios", "none", "--out", str(tmp_path / "run")]
    proc = subprocess.run(
        [str(CLI), "conform", *args],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
        env=env,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    table = dict(re.findall(r"^│ (\S+)\s+│ (pass|FAIL|n/a)\s+│", out, re.MULTILINE))
    assert table["hostile-p2p"] == "n/a", out  # container P2P ports are not published
    assert {k for k, v in table.items() if v != "pass"} == {"hostile-p2p"}, out
    assert {"startup", "epoch-result", "restart", "metrics"} <= set(table), out
