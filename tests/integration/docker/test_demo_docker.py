"""The README's demo on the Docker backend: the same passing verdict as on local processes,
and nothing the run created is left afterwards."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness.cluster.engine import Labelled
from harness.images import Images


def test_demo_on_docker_reaches_a_passing_verdict(
    tmp_path: Path, docker_api: Any, docker_images: Images
) -> None:
    env = dict(
        os.environ,
        CLP_TESTNET_NODE_IMAGE=docker_images.node,
        CLP_TESTNET_TOXIPROXY_IMAGE=docker_images.toxiproxy,
        COLUMNS="160",
    )
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "demo", "--backend", "docker"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        out, _ = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    wall = time.monotonic() - t0
    assert proc.returncode == 0, out
    assert "docker backend" in out and "PASS" in out, out
    assert "v4 slashed for epoch 0" in out and "ejected at the end of epoch 1" in out, out
    print(f"demo --backend docker: {wall:.0f} s wall")
    left = Labelled.find(docker_api).owned_by(f"{socket.gethostname()}:{proc.pid}")
    assert left == [], f"the docker demo left {left}"
