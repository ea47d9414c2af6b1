"""Bad files on both nodes' command lines: one line on stderr, exit 2, nothing started.

The node contract (docs/protocol.md §12, docs/rust-node.md): a config, genesis, key file,
data directory, store or listen address that breaks a rule is refused by start-up and by
``check-config`` alike, in one line naming the file (and the field), exit status 2. Each
case runs the real command of each implementation (``node_kind``); the reference's own
messages are pinned further by test_hostile_node_cli.py.
"""

from __future__ import annotations

import json
import re
import socket
import sqlite3
import subprocess
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hostile_tools import node_argv

from harness.cluster.testnet import TestnetManifest, init_testnet

pytestmark = pytest.mark.integration

ERROR_LINE = re.compile(r"^clp-node(-rs)?: error: \S")
TIMEOUT_S = 60


@pytest.fixture
def net(tmp_path: Path) -> TestnetManifest:
    return init_testnet(tmp_path / "net", validators=2, proxied=False, seed="hostile-files")


def run(kind: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*node_argv(kind), *args], capture_output=True, text=True, timeout=TIMEOUT_S
    )


def refused(kind: str, config: Path, *needles: str) -> None:
    """check-config and start-up both refuse ``config`` in one line holding ``needles``."""
    lines = []
    for args in (["check-config", "--config", str(config)], ["--config", str(config)]):
        proc = run(kind, *args)
        said = f"{' '.join(args)}: exit {proc.returncode}\n{proc.stderr}{proc.stdout[-2000:]}"
        assert proc.returncode == 2, said
        err = proc.stderr.strip()
        assert len(err.splitlines()) == 1 and ERROR_LINE.match(err), said
        for needle in needles:
            assert needle in err, (needle, said)
        for crash in ("Traceback", "panicked"):
            assert crash not in proc.stderr + proc.stdout, said
        lines.append(err)
    assert lines[0] == lines[1], f"check-config and start-up disagree: {lines}"


def edit_toml(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    raw = tomllib.loads(path.read_text())
    change(raw)
    path.write_text(tomli_w.dumps(raw))


def edit_json(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    raw = json.loads(path.read_text())
    change(raw)
    path.write_text(json.dumps(raw, indent=2))


@contextmanager
def busy_port() -> Iterator[int]:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        yield busy.getsockname()[1]


# ---- the cases: (what is broken, needles of the one line) ----------------------------------


def config_not_utf8(net: TestnetManifest, kind: str) -> tuple[Path, list[str]]:
    path = net.config_path("v0")
    path.write_bytes(b"\xff\xfe" + path.read_bytes())
    return path, [str(path), "UTF-8"]


def config_not_toml(net: TestnetManifest, kind: str) -> tuple[Path, list[str]]:
    path = net.config_path("v0")
    path.write_text("[node\nname = ")
    return path, [str(path)]


def config_missing(net: TestnetManifest, kind: str) -> tuple[Path, list[str]]:
    path = net.config_path("v0").with_name("nowhere.toml")
    return path, [str(path)]


def unknown_key(net: TestnetManifest, kind: str) -> tuple[Path, list[str]]:
    path = net.config_path("v0")
    edit_toml(path, lambda raw: raw["node"].update(key_flie="key.json"))
    return path, [str(path), "key_flie", "unknown"]


def key_of_a_peer(net: TestnetManifest, kind: str) -> tuple[Path, list[str]]:
    path = net.config_path("v0")
    edit_toml(path, lambda raw: raw["node"].update(key_file="../v1/key.json"))
    return path, ["peers"]


def key_not_in_genesis(net: TestnetManifest, kind: str) -> tuple[Path, list[str]]:
    stranger = net.root / "stranger.json"
    made = run(kind, "keygen", "--out", str(stranger), "--seed-text", "not-a-validator")
    assert made.returncode == 0, made.stderr
    path = net.config_path("v0")
    edit_toml(path, lambda raw: raw["node"].update(key_file="../stranger.json"))
    return path, ["stranger.json", "genesis"]


def key_file_forged(net: TestnetManifest, kind: str) -> tuple[Path, list[str]]:
    key = net.node_dir("v0") / "key.json"
    other = json.loads((net.node_dir("v1") / "key.json").read_text())
    edit_json(key, lambda raw: raw.update(public_key=other["public_key"]))
    return net.config_path("v0"), [str(key), "public_key"]


def listen_unresolvable(net: TestnetManifest, kind: str) -> tuple[Path, list[str]]:
    path = net.config_path("v0")
    edit_toml(path, lambda raw: raw["listen"].update(p2p="no-such-host.invalid:0"))
    return path, ["listen.p2p"]


def data_dir_is_a_file(net: TestnetManifest, kind: str) -> tuple[Path, list[str]]:
    (net.node_dir("v0") / "afile").write_text("x")
    path = net.config_path("v0")
    edit_toml(path, lambda raw: raw["node"].update(data_dir="afile"))
    return path, ["afile"]


def store_not_a_database(net: TestnetManifest, kind: str) -> tuple[Path, list[str]]:
    store = net.node_dir("v0") / "data" / "chain.sqlite"
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_bytes(b"not a database at all" * 100)
    return net.config_path("v0"), ["chain.sqlite"]


def genesis_not_json(net: TestnetManifest, kind: str) -> tuple[Path, list[str]]:
    genesis = net.root / "genesis.json"
    genesis.write_text('{"chain_id": "x",')
    return net.config_path("v0"), ["genesis.json"]


def genesis_missing_clp_parameter(net: TestnetManifest, kind: str) -> tuple[Path, list[str]]:
    """§2: refused, never filled with the production default (both nodes)."""
    genesis = net.root / "genesis.json"
    edit_json(genesis, lambda raw: raw["clp"].pop("response_window"))
    return net.config_path("v0"), ["genesis.json", "clp", "response_window", "missing"]


def genesis_unknown_clp_parameter(net: TestnetManifest, kind: str) -> tuple[Path, list[str]]:
    genesis = net.root / "genesis.json"
    edit_json(genesis, lambda raw: raw["clp"].update(epoch_lenght=20))
    return net.config_path("v0"), ["genesis.json", "clp", "epoch_lenght", "unknown"]


def genesis_bad_clp_value(net: TestnetManifest, kind: str) -> tuple[Path, list[str]]:
    genesis = net.root / "genesis.json"
    edit_json(genesis, lambda raw: raw["clp"].update(response_window=1))
    return net.config_path("v0"), ["genesis.json", "response_window"]


def genesis_zero_stake(net: TestnetManifest, kind: str) -> tuple[Path, list[str]]:
    genesis = net.root / "genesis.json"
    edit_json(genesis, lambda raw: raw["validators"][1].update(stake=0))
    return net.config_path("v0"), ["genesis.json", "validators[1].stake"]


CASES: dict[str, Callable[[TestnetManifest, str], tuple[Path, list[str]]]] = {
    f.__name__: f
    for f in (
        config_not_utf8,
        config_not_toml,
        config_missing,
        unknown_key,
        key_of_a_peer,
        key_not_in_genesis,
        key_file_forged,
        listen_unresolvable,
        data_dir_is_a_file,
        store_not_a_database,
        genesis_not_json,
        genesis_missing_clp_parameter,
        genesis_unknown_clp_parameter,
        genesis_bad_clp_value,
        genesis_zero_stake,
    )
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_file_is_one_line_and_exit_2(net: TestnetManifest, node_kind: str, case: str) -> None:
    config, needles = CASES[case](net, node_kind)
    refused(node_kind, config, *needles)


@pytest.mark.parametrize("which", ["api", "p2p"])
def test_a_listen_port_in_use_names_its_field(
    net: TestnetManifest, node_kind: str, which: str
) -> None:
    with busy_port() as port:
        path = net.config_path("v0")
        edit_toml(path, lambda raw: raw["listen"].update({which: f"127.0.0.1:{port}"}))
        refused(node_kind, path, f"listen.{which}")


def test_the_testnets_own_config_is_ok(net: TestnetManifest, node_kind: str) -> None:
    """The control: the same files unbroken pass check-config (which creates the store)."""
    proc = run(node_kind, "check-config", "--config", str(net.config_path("v0")))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok: v0"), proc.stdout
    assert (net.node_dir("v0") / "data" / "chain.sqlite").is_file()
    with sqlite3.connect(net.node_dir("v0") / "data" / "chain.sqlite") as db:
        assert db.execute("SELECT count(*) FROM blocks").fetchone() == (0,)
