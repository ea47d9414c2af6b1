"""Bad configs, keys, genesis and data dirs: one line naming the file and field, exit 2.

Each case used to end in a 16-50 line traceback with exit 1, or was silently accepted
(an unknown key, a node whose key is not in genesis, an address that cannot be bound).
``check-config`` must refuse exactly what start-up refuses.
"""

from __future__ import annotations

import io
import json
import logging
import socket
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
import tomli_w

from clp_node.cli import main as node_main
from clp_node.logs import setup_json_logging
from harness.cluster.testnet import TestnetManifest, init_testnet


@pytest.fixture
def net(tmp_path: Path) -> TestnetManifest:
    return init_testnet(tmp_path / "net", validators=2, proxied=False, seed="hostile-cli")


def _edit(manifest: TestnetManifest, change: Callable[[dict], None]) -> Path:  # type: ignore[type-arg]
    import tomllib

    path = manifest.config_path("v0")
    raw = tomllib.loads(path.read_text())
    change(raw)
    path.write_text(tomli_w.dumps(raw))
    return path


def _one_line_error(argv: list[str], capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    assert node_main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("clp-node: error: "), err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


def _both(path: Path, capsys: pytest.CaptureFixture[str], *needles: str) -> None:
    """check-config and start-up give the same one-line refusal."""
    first = _one_line_error(["check-config", "--config", str(path)], capsys, *needles)
    second = _one_line_error(["--config", str(path)], capsys, *needles)
    assert first == second


def test_non_utf8_config(net: TestnetManifest, capsys: pytest.CaptureFixture[str]) -> None:
    path = net.config_path("v0")
    path.write_bytes(b"\xff\xfe" + path.read_bytes())
    _both(path, capsys, str(path), "UTF-8")


def test_unknown_key_in_a_known_section(
    net: TestnetManifest, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _edit(net, lambda raw: raw["node"].update(key_flie="key.json"))
    _both(path, capsys, str(path), "node.key_flie", "unknown key")


def test_another_validators_key_file(
    net: TestnetManifest, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _edit(net, lambda raw: raw["node"].update(key_file="../v1/key.json"))
    _both(path, capsys, "v1/key.json", "peers[0]")


def test_key_not_in_genesis(net: TestnetManifest, capsys: pytest.CaptureFixture[str]) -> None:
    assert node_main(["keygen", "--out", str(net.root / "stranger.json"), "--seed-text", "x"]) == 0
    capsys.readouterr()
    path = _edit(net, lambda raw: raw["node"].update(key_file="../stranger.json"))
    _both(path, capsys, "stranger.json", "not a validator of genesis")


@pytest.mark.parametrize(
    ("listen", "needle"),
    [("no-such-host.invalid:0", "cannot resolve"), ("203.0.113.7:0", "cannot listen")],
)
def test_unresolvable_or_non_local_listen_host(
    net: TestnetManifest, capsys: pytest.CaptureFixture[str], listen: str, needle: str
) -> None:
    path = _edit(net, lambda raw: raw["listen"].update(p2p=listen))
    _both(path, capsys, str(path), "listen.p2p", needle)


def test_port_in_use(net: TestnetManifest, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        path = _edit(net, lambda raw: raw["listen"].update(api=f"127.0.0.1:{port}"))
        _both(path, capsys, str(path), "listen.api", "in use")


def test_data_dir_is_a_file(net: TestnetManifest, capsys: pytest.CaptureFixture[str]) -> None:
    (net.node_dir("v0") / "afile").write_text("x")
    path = _edit(net, lambda raw: raw["node"].update(data_dir="afile"))
    _both(path, capsys, "afile", "node.data_dir")


def test_data_dir_cannot_be_created(
    net: TestnetManifest, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _edit(net, lambda raw: raw["node"].update(data_dir="/proc/clp-x/data"))
    _both(path, capsys, "/proc/clp-x", "node.data_dir")


@pytest.mark.parametrize("garbage", [b"not a database at all" * 100, None])
def test_corrupt_chain_sqlite(
    net: TestnetManifest, capsys: pytest.CaptureFixture[str], garbage: bytes | None
) -> None:
    path = net.config_path("v0")
    assert node_main(["check-config", "--config", str(path)]) == 0  # creates the store
    capsys.readouterr()
    store = net.node_dir("v0") / "data" / "chain.sqlite"
    if garbage is not None:
        store.write_bytes(garbage)
    else:  # a valid database whose block rows are not blocks
        import sqlite3

        with sqlite3.connect(store) as db:
            db.execute("INSERT INTO blocks VALUES (1, 'aa', '{\"x\": 1}', '{}')")
    _both(path, capsys, "chain.sqlite")


def test_config_ok_is_still_ok(net: TestnetManifest, capsys: pytest.CaptureFixture[str]) -> None:
    assert node_main(["check-config", "--config", str(net.config_path("v0"))]) == 0
    assert capsys.readouterr().out.startswith("ok: v0")


def test_no_traceback_from_the_real_process(net: TestnetManifest) -> None:
    path = _edit(net, lambda raw: raw["listen"].update(p2p="no-such-host.invalid:0"))
    proc = subprocess.run(
        [sys.executable, "-m", "clp_node.cli", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr + proc.stdout
    assert len(proc.stderr.strip().splitlines()) == 1


def test_library_logs_are_json_lines_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """aiohttp's error log used to print a bare multi-line traceback on stdout."""
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # restored after the test
    out = io.StringIO()
    setup_json_logging("v9", stream=out)
    try:
        raise RuntimeError("boom\nsecond line")
    except RuntimeError:
        logging.getLogger("aiohttp.server").exception("Error handling request")
    logging.getLogger("asyncio").error("Task exception was never retrieved")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("unclosed transport", ResourceWarning, stacklevel=1)
    try:
        raise ValueError("escaped\nall handlers")
    except ValueError as exc:
        sys.excepthook(ValueError, exc, exc.__traceback__)
    lines = out.getvalue().splitlines()
    assert len(lines) == 4, lines
    records = [json.loads(line) for line in lines]
    assert records[0]["event"] == "Error handling request" and "boom" in records[0]["exception"]
    assert records[1]["node"] == "v9"
    assert "unclosed transport" in records[2]["event"]
    assert records[3]["event"] == "node.crashed" and "escaped" in records[3]["exception"]
