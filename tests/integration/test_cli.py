"""The ``clp-testnet`` command line, run as a user runs it: a subprocess per command.

One detached 5-node testnet serves the module, in file order: ``up --detach``, ``status``,
link faults that show in the heights, ``fault kill``, refused requests, and finally
``down``. Every wait is a condition with a budget from the testnet's own ProtocolClock.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from harness.cli import build_parser, main
from harness.cluster.base import ProtocolClock, wait_until
from harness.cluster.leftovers import (
    ProcessId,
    find_leftovers,
    is_alive,
    listening_sockets,
    proc_stat,
    process_id,
)
from harness.cluster.ports import free_ports
from harness.cluster.process import signal_group
from harness.cluster.testnet import TestnetManifest
from harness.cluster.toxiproxy_api import ToxiproxyApi
from harness.commands import RUN_FILE

pytestmark = pytest.mark.integration

T = TypeVar("T")
CLI = Path(sys.executable).with_name("clp-testnet")
# `down` sends SIGTERM; a node or the proxy server that honours it is gone well within this.
STOP_BUDGET = 15.0


def cli(
    *args: str, timeout: float = 120.0, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env=dict(os.environ, COLUMNS="200"),
        cwd=cwd,
    )


def output(r: subprocess.CompletedProcess[str]) -> str:
    return " ".join((r.stdout + r.stderr).split())  # rich wraps lines: compare words


def wait_until_sync(check: Callable[[], T | None], timeout: float, what: str) -> T:
    """The harness's ``wait_until`` for these synchronous tests; each check runs the CLI."""
    return asyncio.run(wait_until(check, timeout, what, interval=0.3))


# ---- init ----------------------------------------------------------------------------------


def test_init_writes_a_testnet(tmp_path: Path) -> None:
    root = tmp_path / "net"
    r = cli("init", "--dir", str(root), "-n", "4", "--seed", "cli", "--clp", "epoch_length=40")
    assert r.returncode == 0, output(r)
    manifest = TestnetManifest.load(root)
    assert [n.name for n in manifest.nodes] == ["v0", "v1", "v2", "v3"]
    assert manifest.clp["epoch_length"] == 40
    assert len(manifest.links) == 4 * 3 and manifest.toxiproxy_port
    assert (root / "genesis.json").is_file()
    for n in manifest.nodes:
        assert (root / n.name / "node.toml").is_file() and (root / n.name / "key.json").is_file()
        assert n.address in output(r)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--clp", "epoch_length"], "--clp 'epoch_length': want NAME=INTEGER"),
        (["--clp", "epoch_length=abc"], "want NAME=INTEGER"),
        (["--clp", "no_such_param=3"], "unknown CLP parameter(s): no_such_param"),
        (["--clp", "epoch_length=1"], "epoch_length must be"),
        (["--stakes", "1,2"], "2 stakes given for 5 validators"),
        (["--stakes", "1,2,x,4,5"], "want comma-separated integers"),
        (["--stakes", "1,1,0,1,1"], "every stake must be positive"),
        (["--stakes=-1,1,1,1,1"], "every stake must be positive"),
        (["-n", "0"], "at least one validator"),
        (["--profile", "fast"], "invalid choice: 'fast'"),
    ],
)
def test_init_rejects_bad_input(tmp_path: Path, args: list[str], message: str) -> None:
    root = tmp_path / "net"
    r = cli("init", "--dir", str(root), *args)
    assert r.returncode == 2, output(r)
    assert message in output(r)
    assert "Traceback" not in output(r)
    assert not (root / "manifest.json").exists()


def test_init_refuses_an_existing_testnet_or_other_files(tmp_path: Path) -> None:
    root = tmp_path / "net"
    assert cli("init", "--dir", str(root), "-n", "1").returncode == 0
    before = (root / "manifest.json").read_text()
    r = cli("init", "--dir", str(root), "-n", "1")
    assert r.returncode == 2 and "already holds a testnet" in output(r), output(r)
    assert (root / "manifest.json").read_text() == before  # untouched

    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    r = cli("init", "--dir", str(other))
    assert r.returncode == 2 and "already holds files" in output(r), output(r)

    a_file = tmp_path / "afile"
    a_file.write_text("")
    r = cli("init", "--dir", str(a_file))
    assert r.returncode == 2 and "is not a directory" in output(r), output(r)

    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli("init", "--dir", str(empty), "-n", "1").returncode == 0


def test_commands_on_a_directory_without_a_testnet(tmp_path: Path) -> None:
    for args in (["up"], ["status"], ["fault", "heal"]):
        r = cli(*args, "--dir", str(tmp_path))
        assert r.returncode == 2, (args, output(r))
        assert "no testnet here" in output(r), (args, output(r))


# ---- a detached testnet ----------------------------------------------------------------------


@dataclass
class Net:
    root: Path
    manifest: TestnetManifest
    clock: ProtocolClock
    tracked: dict[str, ProcessId]  # name ("toxiproxy" for the proxy server) -> process

    def status(self) -> dict[str, dict[str, Any]]:
        r = cli("status", "--dir", str(self.root), "--json")
        assert r.returncode == 0, output(r)
        return {row["name"]: row for row in json.loads(r.stdout)}

    def heights(self) -> dict[str, int | None]:
        return {n: row.get("height") for n, row in self.status().items()}

    def faults(self) -> list[dict[str, Any]]:
        path = self.root / "faults.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    root = tmp_path_factory.mktemp("cli") / "net"
    assert cli("init", "--dir", str(root), "--seed", "cli-net").returncode == 0
    manifest = TestnetManifest.load(root)
    tracked: dict[str, ProcessId] = {}
    try:
        # Started by a relative path, stopped by the absolute one (test_down_...): `down`
        # must still know every process `up` recorded (it once left the nodes running).
        r = cli("up", "--dir", root.name, "--detach", cwd=root.parent)
        assert r.returncode == 0, output(r)
        assert "running in the background" in output(r)
        run = json.loads((root / RUN_FILE).read_text())
        proxies = {f"toxiproxy {port}": pid for port, pid in run["toxiproxies"].items()}
        for name, pid in [*run["pids"].items(), *proxies.items()]:
            p = process_id(pid)
            assert p is not None, f"{name} (pid {pid}) is not running after up --detach"
            tracked[name] = p
        servers = [f"toxiproxy {port}" for port in manifest.toxiproxy_ports]
        assert sorted(tracked) == sorted([*(n.name for n in manifest.nodes), *servers])
        yield Net(root, manifest, ProtocolClock.from_manifest(manifest), tracked)
    finally:
        cli("down", "--dir", str(root))
        for p in tracked.values():  # whatever a failed test left: never outlive the module
            if is_alive(p):
                signal_group(p.pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def idle_net(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A testnet written by ``init`` and never started: a request is validated against
    the testnet's files before anything is touched, so the refusals need no running
    nodes (and, off the running testnet's worker, they do not queue behind its tests)."""
    root = tmp_path_factory.mktemp("cli-idle") / "net"
    r = cli("init", "--dir", str(root), "--seed", "cli-net")
    assert r.returncode == 0, output(r)
    return root


def test_up_detach_then_status_shows_every_validator_producing(net: Net) -> None:
    def all_past_genesis() -> dict[str, int | None] | None:
        hs = net.heights()
        return hs if all(h is not None and h > 0 for h in hs.values()) else None

    heights = wait_until_sync(
        all_past_genesis, net.clock.blocks(2), "every validator at height > 0"
    )
    assert sorted(heights) == ["v0", "v1", "v2", "v3", "v4"]
    rows = net.status()
    for name, row in rows.items():
        assert row["address"] == net.manifest.node(name).address
        assert row["status"] == "active" and row["in_committee"] is True, row


def test_up_twice_is_refused(net: Net) -> None:
    r = cli("up", "--dir", str(net.root), "--detach")
    assert r.returncode == 2 and "seems to be running" in output(r), output(r)
    # Without run.json (e.g. deleted by hand) the listening ports still give it away.
    run_file = net.root / RUN_FILE
    saved = run_file.read_text()
    run_file.unlink()
    try:
        r = cli("up", "--dir", str(net.root), "--detach")
        assert r.returncode == 2 and "already in use" in output(r), output(r)
    finally:
        run_file.write_text(saved)
    assert all(is_alive(p) for p in net.tracked.values())


def test_fault_isolate_makes_the_node_lag_and_heal_brings_it_back(net: Net) -> None:
    others = ["v0", "v1", "v2", "v3"]
    r = cli("fault", "--dir", str(net.root), "isolate", "v4")
    assert r.returncode == 0, output(r)
    lag = 3

    def v4_lagging() -> dict[str, int | None] | None:
        hs = net.heights()
        v4, rest = hs["v4"], [hs[n] for n in others]
        if v4 is None or any(h is None for h in rest):
            return None
        return hs if min(h for h in rest if h is not None) >= v4 + lag else None

    hs = wait_until_sync(
        v4_lagging, net.clock.blocks(lag + 2), f"v4 {lag} blocks behind the others"
    )
    stuck_at = hs["v4"]
    assert stuck_at is not None

    r = cli("fault", "--dir", str(net.root), "heal")
    assert r.returncode == 0, output(r)
    target = max(h for n, h in hs.items() if n != "v4" and h is not None)

    def v4_caught_up() -> int | None:
        h = net.heights()["v4"]
        return h if h is not None and h >= target else None

    wait_until_sync(v4_caught_up, net.clock.blocks(target - stuck_at + 2), f"v4 back at {target}")


def test_fault_pause_freezes_the_node_and_resume_thaws_it(net: Net) -> None:
    r = cli("fault", "--dir", str(net.root), "pause", "v2")
    assert r.returncode == 0, output(r)
    stat = proc_stat(net.tracked["v2"].pid)
    assert stat is not None and stat.state == "T", stat  # stopped by SIGSTOP
    assert net.status()["v2"].get("down") is True  # a stopped process answers nothing
    r = cli("fault", "--dir", str(net.root), "resume", "v2")
    assert r.returncode == 0, output(r)
    wait_until_sync(
        lambda: net.heights()["v2"], net.clock.blocks(1), "v2 to answer again after resume"
    )


def test_fault_kill_ends_the_process(net: Net) -> None:
    r = cli("fault", "--dir", str(net.root), "kill", "v3")
    assert r.returncode == 0, output(r)
    wait_until_sync(lambda: not is_alive(net.tracked["v3"]), STOP_BUDGET, "v3's process to end")
    assert net.status()["v3"].get("down") is True
    assert all(is_alive(p) for n, p in net.tracked.items() if n != "v3")
    # Its pid is no longer v3: a second kill must not signal whatever got that pid.
    r = cli("fault", "--dir", str(net.root), "kill", "v3")
    assert r.returncode == 2 and "v3 is not running" in output(r), output(r)


def test_fault_restart_brings_the_node_back_and_the_run_checks_clean(net: Net) -> None:
    """Regression: a killed node could only be restarted by hand, which never reached the
    fault log, so ``check`` judged the node dead for the rest of the run."""
    r = cli("fault", "--dir", str(net.root), "restart", "v3")
    assert r.returncode == 0, output(r)
    pid = json.loads((net.root / RUN_FILE).read_text())["pids"]["v3"]
    p = process_id(pid)
    assert p is not None and p != net.tracked["v3"], "restart recorded a new v3 process"
    net.tracked["v3-restarted"] = p
    top = max(h for h in net.heights().values() if h is not None)
    epoch = net.manifest.clp_config().epoch_length

    def v3_caught_up_an_epoch_later() -> int | None:
        hs = net.heights()
        h = hs["v3"]
        return h if h is not None and h >= top + epoch + 2 else None

    wait_until_sync(v3_caught_up_an_epoch_later, net.clock.blocks(epoch + 8), "v3 back")
    r = cli("check", "--dir", str(net.root), "--json")
    assert r.returncode == 0, output(r)
    verdicts = {c["name"]: c["verdict"] for c in json.loads(r.stdout)}
    assert "fail" not in verdicts.values(), verdicts
    assert (net.root / "history.json").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["isolate", "v9"], "field 'node': want a node name (v0..v4), got \"v9\""),
        (["kill", "nobody"], "field 'node': want a node name (v0..v4), got \"nobody\""),
        (["cut", "v0"], "field 'to': required by \"cut\", missing"),
        (["partition", "v0,v1,v2,v3,v4"], "want at least two groups"),
        (["latency", "--ms", "5"], '"latency" takes exactly one of node or link'),
        (["latency", "v1", "--ms", "-5"], "field 'ms': want an integer >= 0, got -5"),
        (["packet-loss", "v1", "--probability", "0.3"], "packet_loss needs the Docker backend"),
        (["explode", "v0"], "invalid choice: 'explode'"),
    ],
)
def test_bad_fault_requests_are_refused_clearly(
    idle_net: Path, args: list[str], message: str
) -> None:
    r = cli("fault", "--dir", str(idle_net), *args)
    assert r.returncode == 2, output(r)
    assert message in output(r)
    assert "Traceback" not in output(r)
    log = idle_net / "faults.jsonl"
    assert not log.exists() or not log.read_text().strip(), "a refused fault was logged"


def test_every_fault_is_in_the_fault_log(net: Net) -> None:
    records = net.faults()
    assert [(f["kind"], f["args"]) for f in records] == [
        ("isolate", {"node": "v4"}),
        ("heal", {}),
        ("pause", {"node": "v2"}),
        ("resume", {"node": "v2"}),
        ("kill", {"node": "v3"}),
        ("restart", {"node": "v3"}),
    ]
    assert [f["seq"] for f in records] == [0, 1, 2, 3, 4, 5]  # one trail across invocations
    for f in records:
        assert f["format"] == 2
        assert abs(f["t_start"] - time.time()) < 3600 and f["t_start"] <= f["t_end"]
        assert isinstance(f["height"], int) and f["height"] >= 1
    assert len(records[0]["state"]["links_down"]) == 8  # v4's four links each way
    assert records[1]["state"]["links_down"] == []
    assert records[2]["state"]["paused"] == ["v2"] and records[3]["state"]["paused"] == []
    assert records[4]["state"]["killed"] == ["v3"] and records[5]["state"]["killed"] == []
    heights = [f["height"] for f in records]
    assert heights == sorted(heights), heights


def test_down_stops_everything_and_twice_is_harmless(net: Net) -> None:
    r = cli("down", "--dir", str(net.root))
    assert r.returncode == 0, output(r)
    assert not (net.root / RUN_FILE).exists()
    tracked = list(net.tracked.values())
    wait_until_sync(
        lambda: find_leftovers(net.manifest, tracked) == [] or None,
        STOP_BUDGET,
        "no process or listening port of the testnet",
    )
    r = cli("down", "--dir", str(net.root))
    assert r.returncode == 0 and "nothing recorded as running" in output(r), output(r)
    # Stopped: link faults say so instead of a traceback.
    r = cli("fault", "--dir", str(net.root), "isolate", "v1")
    assert r.returncode == 1 and "is the testnet running?" in output(r), output(r)


# ---- help --------------------------------------------------------------------------------


HELP_MENTIONS = {
    "init": ["--dir", "--validators", "--clp", "--stakes", "--profile", "--no-proxy"],
    "up": ["--dir", "--detach", "Ctrl-C"],
    "down": ["--dir"],
    "status": ["--dir", "--json"],
    "fault": ["--dir", "isolate", "partition", "heal", "clear", "reset", "restart", "faults.jsonl"],
    "toxiproxy": ["--host", "--port"],
    "demo": ["--validators", "--dir", "--backend"],
    "explore": ["--seed", "--runs", "--time-budget", "--backend", "--replay", "--json", "flaky"],
}


def subcommands() -> list[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return sorted(action.choices or {})


def test_every_subcommand_is_covered_here() -> None:
    assert set(HELP_MENTIONS) <= set(subcommands())


@pytest.mark.parametrize("command", subcommands())
def test_help_of_every_subcommand(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    """In-process (the parser is the same; a subprocess per command only costs start-up)."""
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert f"usage: clp-testnet {command}" in text
    for word in HELP_MENTIONS.get(command, ["--help"]):
        assert word in text, f"`{command} --help` does not mention {word}"


def test_top_level_help_lists_the_commands() -> None:
    r = cli("--help")
    assert r.returncode == 0
    for command in HELP_MENTIONS:
        assert command in output(r)
    r = cli()
    assert r.returncode == 2 and "usage: clp-testnet" in output(r)


# ---- toxiproxy --------------------------------------------------------------------------------


def test_toxiproxy_serves_the_api_until_ctrl_c() -> None:
    port = free_ports(1)[0]
    proc = subprocess.Popen(
        [str(CLI), "toxiproxy", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    api = ToxiproxyApi(f"http://127.0.0.1:{port}")
    try:

        def version() -> str | None:
            try:
                return api.version()
            except httpx.HTTPError:
                return None

        wait_until_sync(version, STOP_BUDGET, "the API to answer")
        api.populate([{"name": "p", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:9"}])
        assert list(api.proxies()) == ["p"]
        proc.send_signal(signal.SIGINT)
        proc.wait(STOP_BUDGET)
    finally:
        api.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert listening_sockets([port]) == {}


@pytest.mark.parametrize(
    ("port", "message"), [("70000", "70000 is not in 0..65535"), ("x", "'x' is not a port")]
)
def test_toxiproxy_rejects_a_bad_port(port: str, message: str) -> None:
    r = cli("toxiproxy", "--port", port)
    assert r.returncode == 2 and message in output(r), output(r)


def test_toxiproxy_on_a_taken_port_says_so() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        r = cli("toxiproxy", "--port", str(s.getsockname()[1]), timeout=STOP_BUDGET)
    assert r.returncode == 1 and "cannot listen" in output(r), output(r)
    assert "Traceback" not in output(r)
