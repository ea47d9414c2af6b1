"""The registry walk on a running local testnet: every fault kind runs from the CLI,
injects on the local backend, moves the recorded fault state exactly as the kind declares,
the backend then holds what the state says, and its ``undone_by`` takes it all back.

Kinds the local backend cannot do (below TCP: they need a node's own interface) must fail
with one clear line and leave the log untouched.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.cluster.leftovers import is_alive, proc_stat, process_id
from harness.cluster.process import signal_group
from harness.cluster.proxies import proxy_api
from harness.cluster.testnet import TestnetManifest
from harness.commands import RUN_FILE
from harness.faults.cli import FAULT_LOG, DetachedLocal
from harness.faults.kinds import KINDS
from harness.faults.kinds.base import FaultKind
from harness.faults.state import FaultState, Toxic

CLI = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "clp-testnet"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), *args], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
    )


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("walk") / "net"
    assert cli("init", "--dir", str(root), "-n", "4", "--seed", "walk").returncode == 0
    r = cli("up", "--dir", str(root), "--detach")
    assert r.returncode == 0, r.stdout + r.stderr
    started = json.loads((root / RUN_FILE).read_text())
    try:
        yield root
    finally:
        cli("down", "--dir", str(root))
        pids = {*started["pids"].values(), *started["toxiproxies"].values()}
        pids |= (
            set(json.loads((root / RUN_FILE).read_text())["pids"].values())
            if (root / RUN_FILE).exists()
            else set()
        )
        for pid in pids:  # whatever a failed test left: never outlive the module
            p = process_id(pid) if pid else None
            if p is not None and is_alive(p):
                signal_group(p.pid, signal.SIGKILL)


def log(root: Path) -> list[dict[str, Any]]:
    path = root / FAULT_LOG
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def argv(kind: FaultKind, args: dict[str, Any]) -> list[str]:
    """The command line of ``args``: positionals in field order, the rest as options."""
    out: list[str] = []
    for f in kind.fields:
        if f.name not in args:
            continue
        v = args[f.name]
        text = (
            [",".join(g) for g in v]
            if f.type == "groups"
            else [",".join(v)]
            if f.type in ("link", "nodes")
            else [str(v)]
        )
        out += text if f.positional else [f.option, *text]
    return out


def backend_state(root: Path) -> FaultState:
    """What the testnet holds now, read from the proxy, the processes and the nodes' hooks."""
    manifest = TestnetManifest.load(root)
    cluster = DetachedLocal(manifest)
    api = proxy_api(manifest)
    try:
        proxies = api.proxies()
        down = {name for name, p in proxies.items() if not p["enabled"]}
        toxics = {
            name: tuple(Toxic.from_json(t) for t in p["toxics"])
            for name, p in proxies.items()
            if p["toxics"]
        }
    finally:
        api.close()
    killed = {n for n in cluster.names if not cluster.is_running(n)}
    paused = set()
    for n in cluster.names:
        pid = cluster.pid(n)
        stat = proc_stat(pid) if pid else None
        if stat is not None and stat.state == "T":
            paused.add(n)

    async def hooks() -> dict[str, dict[str, Any]]:
        out = {}
        try:
            for n in cluster.names:
                if n not in killed and n not in paused:
                    out[n] = await cluster.client(n).get_faults()
        finally:
            await cluster.close_clients()
        return out

    state = FaultState(frozenset(down), toxics, frozenset(killed), frozenset(paused))
    for n, h in asyncio.run(hooks()).items():
        state = state.with_hook(
            n, lazy=bool(h.get("lazy")), clock_offset_ms=int(h.get("clock_offset_ms", 0))
        )
    return state


def run_kind(root: Path, kind: FaultKind, words: list[str]) -> dict[str, Any]:
    before = log(root)
    code = main(["fault", "--dir", str(root), kind.cli_name, *words])
    assert code == 0, f"clp-testnet fault {kind.cli_name} {' '.join(words)} exited {code}"
    after = log(root)
    assert len(after) == len(before) + 1
    rec = after[-1]
    # before the first fault: none, and the node kinds the testnet started with
    start = FaultState(implementations=DetachedLocal(TestnetManifest.load(root)).implementations())
    prev = FaultState.from_json(before[-1]["state"]) if before else start
    req = kind.request(rec["args"], [n.name for n in TestnetManifest.load(root).nodes], rec["seq"])
    assert rec["kind"] == kind.name and rec["seq"] == len(before)
    declared = kind.effect(prev, req)
    assert FaultState.from_json(rec["state"]) == declared, "recorded state != declared effect"
    held = backend_state(root)
    # hooks of paused/killed nodes cannot be read; compare the rest
    want = FaultState(
        declared.links_down,
        {k: v for k, v in declared.toxics.items() if v},
        declared.killed,
        declared.paused,
        {k: v for k, v in declared.hooks.items() if k not in declared.paused | declared.killed},
    )
    assert held == want, f"the testnet holds {held.to_json()}, the log says {want.to_json()}"
    return rec


LOCAL = [k for k in KINDS.values() if "local" in k.backends]
ELSEWHERE = [k for k in KINDS.values() if "local" not in k.backends]


@pytest.mark.parametrize("kind", LOCAL, ids=[k.name for k in LOCAL])
def test_kind_injects_and_undoes_on_the_local_backend(root: Path, kind: FaultKind) -> None:
    rec = run_kind(root, kind, shlex.split(kind.example))
    if kind.undone_by is None:
        assert FaultState.from_json(rec["state"]).empty  # an undoing kind on a clean testnet
        return
    assert not FaultState.from_json(rec["state"]).empty
    undo = KINDS[kind.undone_by]
    back = run_kind(root, undo, argv(undo, kind.undo_args(rec["args"], undo)))
    assert FaultState.from_json(back["state"]).empty, back["state"]


@pytest.mark.parametrize("kind", ELSEWHERE, ids=[k.name for k in ELSEWHERE])
def test_kinds_the_local_backend_cannot_do_say_so(
    root: Path, kind: FaultKind, capsys: pytest.CaptureFixture[str]
) -> None:
    before = log(root)
    code = main(["fault", "--dir", str(root), kind.cli_name, *shlex.split(kind.example)])
    out = " ".join(capsys.readouterr().out.split())
    assert code == 2 and f"{kind.name} needs the Docker backend" in out, out
    assert log(root) == before
