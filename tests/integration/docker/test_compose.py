"""`docker compose up` on what `clp-testnet init --compose` writes: a testnet that finalizes.

Works with `docker compose` (v2) or `docker-compose` (v1, 1.28+). Every published port is
picked by Docker, so the test never collides with another testnet; `down -v` must leave
no container, network or volume of the compose project behind.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.checks import CHECKERS
from harness.checks.history import History
from harness.cli import main
from harness.cluster.base import ProtocolClock
from harness.cluster.compose import env_var
from harness.cluster.compose_run import PROJECT_LABEL
from harness.cluster.testnet import TestnetManifest
from harness.images import Images

REPO = Path(__file__).resolve().parents[3]
VALIDATORS = 5
START_BUDGET_S = 60.0  # containers created and the APIs listening, on a loaded machine
BLOCKS = 4
COMPOSE_TIMEOUT_S = 300


def compose_command() -> list[str]:
    """`docker compose` when the v2 plugin is there, else `docker-compose`."""
    v2 = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    if v2.returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.fail("neither `docker compose` (v2) nor `docker-compose` (v1) is installed")


class Compose:
    def __init__(
        self, directory: Path, project: str, images: Images, env: dict[str, str] | None = None
    ) -> None:
        self.base = [*compose_command(), "-p", project]
        self.directory = directory
        self.project = project
        self.env = {
            **os.environ,
            "CLP_NODE_IMAGE": images.node,
            "CLP_TOXIPROXY_IMAGE": images.toxiproxy,
            **(env or {}),
        }

    def run(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(
            [*self.base, *args],
            cwd=self.directory,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=COMPOSE_TIMEOUT_S,
            check=False,
        )
        if check and done.returncode != 0:
            pytest.fail(f"{' '.join(self.base)} {' '.join(args)} failed:\n{done.stderr}")
        return done.stdout

    def url(self, service: str, port: int) -> str:
        published = self.run("port", service, str(port)).strip().splitlines()[-1]
        host, _, number = published.rpartition(":")
        return f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{number}"


def leftovers(api: Any, project: str) -> list[str]:
    flt = {"label": f"com.docker.compose.project={project}"}
    return [
        *(
            f"container {c.name}"
            for c in api.containers.list(all=True, ignore_removed=True, filters=flt)
        ),
        *(f"network {n.name}" for n in api.networks.list(filters=flt)),
        *(f"volume {v.name}" for v in api.volumes.list(filters=flt)),
    ]


def heights(client: httpx.Client, urls: dict[str, str]) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for name, url in urls.items():
        try:
            out[name] = int(client.get(f"{url}/alpha/clp/status").json()["height"])
        except (httpx.HTTPError, ValueError, KeyError):
            out[name] = None
    return out


def test_compose_testnet_finalizes_and_leaves_nothing(
    docker_api: Any, docker_images: Images, tmp_path: Path
) -> None:
    net = tmp_path / "net"
    args = ["init", "--compose", "--dir", str(net), "-n", str(VALIDATORS), "--api-port-base", "0"]
    assert main([*args, "--seed", "compose-test"]) == 0
    manifest = TestnetManifest.load(net)
    clock = ProtocolClock.from_manifest(manifest)
    compose = Compose(net, f"clpt-compose-{uuid.uuid4().hex[:8]}", docker_images)
    try:
        compose.run("up", "-d")
        urls = {n.name: compose.url(n.name, 8080) for n in manifest.nodes}
        with httpx.Client(timeout=2) as client:
            deadline = time.monotonic() + START_BUDGET_S + clock.blocks(BLOCKS)
            seen = heights(client, urls)
            while not all(h is not None and h >= BLOCKS for h in seen.values()):
                assert time.monotonic() < deadline, f"no {BLOCKS} finalized blocks: {seen}"
                time.sleep(clock.block_s / 2)
                seen = heights(client, urls)
            # the same chain everywhere: block 2 is one block, whoever serves it
            blocks = [client.get(f"{u}/alpha/chain/block/2").json()["block"] for u in urls.values()]
            assert all(b == blocks[0] for b in blocks)
            status = client.get(f"{urls['v0']}/alpha/clp/status").json()
            assert len(status["validator_statuses"]) == VALIDATORS
            proxies = client.get(f"{compose.url('toxiproxy', 8474)}/proxies").json()
            assert len(proxies) == VALIDATORS * (VALIDATORS - 1)
            assert all(p["enabled"] for p in proxies.values())
    except BaseException:
        print(compose.run("logs", "--tail", "30", check=False))
        raise
    finally:
        compose.run("down", "-v", "--remove-orphans", "--timeout", "10", check=False)
    assert leftovers(docker_api, compose.project) == []


def test_shipped_compose_file_is_valid(docker_images: Images) -> None:
    """compose/docker-compose.yml parses, and its prometheus profile adds Prometheus.

    (That the profile keeps Prometheus out of a plain `up` is shown by the test above: its
    image cannot be pulled here, so a plain `up` that tried to start it would fail.)
    """
    compose = Compose(REPO / "compose", "clpt-shipped", docker_images)
    compose.run("config", "-q")
    services = compose.run("--profile", "prometheus", "config", "--services").split()
    assert set(services) == {"toxiproxy", "v0", "v1", "v2", "v3", "v4", "prometheus"}


# What the CLI writes into a testnet folder; a copy of the shipped testnet starts without them.
CLI_OUTPUT = ("faults.jsonl", "history.json", "report.html", "timeline.svg", "logs")


def status(capsys: pytest.CaptureFixture[str], net: Path) -> dict[str, dict[str, Any]]:
    """``clp-testnet status --json`` of the testnet, by validator."""
    capsys.readouterr()
    assert main(["status", "--dir", str(net), "--json"]) == 0
    return {row["name"]: row for row in json.loads(capsys.readouterr().out)}


def wait_status(
    capsys: pytest.CaptureFixture[str],
    net: Path,
    done: Callable[[dict[str, dict[str, Any]]], bool],
    budget: float,
    what: str,
    poll: float,
) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + budget
    rows = status(capsys, net)
    while not done(rows):
        assert time.monotonic() < deadline, f"{what}: {rows}"
        time.sleep(poll)
        rows = status(capsys, net)
    return rows


def height(row: dict[str, Any]) -> int:
    return -1 if row.get("down") else int(row["height"])


def test_cli_faults_and_checks_the_shipped_compose_testnet(
    docker_api: Any, docker_images: Images, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`status`, `fault`, `check`, `report` and `down` reach a testnet docker compose runs
    at the ports it publishes (here all picked by Docker), not at the manifest's ports
    inside the containers."""
    root = tmp_path / "compose"
    shutil.copytree(REPO / "compose", root, ignore=shutil.ignore_patterns(*CLI_OUTPUT))
    net = root / "testnet"
    manifest = TestnetManifest.load(net)
    clock = ProtocolClock.from_manifest(manifest)
    epoch = manifest.clp_config().epoch_length
    window = manifest.clp_config().response_window
    picked = {env_var(n.name, "API_PORT"): "" for n in manifest.nodes}  # Docker picks
    env = {**picked, "CLP_TOXIPROXY_PORT": ""}
    compose = Compose(root, f"clpt-cli-{uuid.uuid4().hex[:8]}", docker_images, env)
    others = [n.name for n in manifest.nodes if n.name != "v4"]
    poll = clock.block_s / 2
    try:
        compose.run("up", "-d")
        wait_status(
            capsys,
            net,
            lambda rows: all(height(r) >= BLOCKS for r in rows.values()),
            START_BUDGET_S + clock.blocks(BLOCKS),
            f"no {BLOCKS} finalized blocks",
            poll,
        )
        assert main(["fault", "--dir", str(net), "isolate", "v4"]) == 0
        # v4, cut off but answering, stalls while the others go on without it
        rows = wait_status(
            capsys,
            net,
            lambda rows: (
                not rows["v4"].get("down")
                and min(height(rows[n]) for n in others) >= height(rows["v4"]) + 2 * window
            ),
            START_BUDGET_S + clock.blocks(4 * window),  # the other four keep the pace
            "v4 is not seen falling behind",
            poll,
        )
        assert main(["fault", "--dir", str(net), "heal"]) == 0
        healed_at = max(height(rows[n]) for n in others)
        # v4 catches up, and the epoch after the heal ends, with its results on every chain
        target = (healed_at // epoch + 2) * epoch
        wait_status(
            capsys,
            net,
            lambda rows: all(height(r) >= target for r in rows.values()),
            START_BUDGET_S + clock.blocks(target - healed_at),
            f"v4 does not catch up (every node at {target})",
            poll,
        )
        capsys.readouterr()
        assert main(["check", "--dir", str(net), "--json"]) == 0, capsys.readouterr().out
        verdicts = {c["name"]: c["verdict"] for c in json.loads(capsys.readouterr().out)}
        assert set(verdicts) == {name for name, _ in CHECKERS}, verdicts
        history = History.load(net / "history.json")
        assert [f["kind"] for f in history.faults] == ["isolate", "heal"]
        assert sorted(p.name for p in (net / "logs").iterdir()) == [
            f"{n.name}.log" for n in manifest.nodes
        ]
        assert main(["report", str(net)]) == 0
        assert (net / "report.html").is_file()
        assert main(["down", "--dir", str(net)]) == 0
        assert [
            c.name
            for c in docker_api.containers.list(
                all=True, filters={"label": f"{PROJECT_LABEL}={compose.project}"}
            )
        ] == []
    except BaseException:
        print(compose.run("logs", "--tail", "30", check=False))
        raise
    finally:
        compose.run("down", "-v", "--remove-orphans", "--timeout", "10", check=False)
    assert leftovers(docker_api, compose.project) == []
