"""A SIGTERM to ``engines.py -- clp-testnet demo`` once the demo's nodes run on a test swarm
of its own: the demo removes its services, the engines, the registry, their network, volumes
and cgroup folders go, and the host engine's swarm mode is as it was."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from container_cases import CLI, cli_env, owned_by
from engines import leftovers

from harness.cluster import swarm_lease
from harness.images import Images

ENGINES = Path(__file__).resolve().parent / "engines.py"


def test_sigterm_during_a_multi_engine_demo_leaves_nothing(
    tmp_path: Path, docker_api: Any, docker_images: Images
) -> None:
    host_swarm = swarm_lease.swarm_info(docker_api).get("LocalNodeState")
    command = [*CLI, "demo", "--backend", "swarm", "--registry", "{registry}", "-n", "4"]
    proc = subprocess.Popen(
        [sys.executable, str(ENGINES), "--engines", "2", "--", *command, "--dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=cli_env(docker_images),
        text=True,
    )
    seen: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if "started 4 nodes" in line:
                break
        assert any(line.startswith("placement: 4 validators on 2 engines") for line in seen), (
            "".join(seen)
        )
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = "".join(seen) + rest
    assert proc.returncode == 128 + signal.SIGTERM, out
    run = re.search(r"network clp-(engines-\S+),", out)
    assert run is not None, out
    assert leftovers(run.group(1)) == []
    assert owned_by(docker_api, proc.pid) == []
    assert swarm_lease.swarm_info(docker_api).get("LocalNodeState") == host_swarm
