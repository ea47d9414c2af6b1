"""``--config FILE`` (toxiproxy-server's ``-config``): proxies created before the API answers.

These start ``python -m harness.toxiproxy`` as the container image does, so they are about
the compatible server's command line rather than the HTTP API.
"""

from __future__ import annotations

import json
import os
import re
import select
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from harness.toxiproxy.__main__ import load_config, parser

pytestmark = pytest.mark.compat_only

REPO = Path(__file__).resolve().parents[3]
STARTUP_TIMEOUT = 15.0


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


@contextmanager
def server(*args: str) -> Iterator[str]:
    """The server with ``args``; yields its API URL once it announced it."""
    command = [sys.executable, "-m", "harness.toxiproxy", "-host=127.0.0.1", "-port=0", *args]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=_env())
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], STARTUP_TIMEOUT)
        line = proc.stdout.readline() if ready else ""
        match = re.search(r"http://\S+", line)
        assert match, f"server did not announce its API (said {line!r})"
        yield match.group(0)
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def run_to_exit(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "harness.toxiproxy", "-port=0", *args]
    return subprocess.run(
        command, capture_output=True, text=True, env=_env(), timeout=STARTUP_TIMEOUT
    )


@contextmanager
def echo_server() -> Iterator[int]:
    """A one-connection-at-a-time TCP echo upstream on a free port."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                while data := conn.recv(4096):
                    conn.sendall(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        listener.close()
        thread.join(5)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_config_proxies_exist_and_forward_before_the_api_answers(tmp_path: Path) -> None:
    with echo_server() as upstream_port:
        listen_port = free_port()
        config = tmp_path / "toxiproxy.json"
        config.write_text(
            json.dumps(
                [
                    {
                        "name": "v0_to_v1",
                        "listen": f"127.0.0.1:{listen_port}",
                        "upstream": f"127.0.0.1:{upstream_port}",
                    },
                    {
                        "name": "v1_to_v0",
                        "listen": "127.0.0.1:0",
                        "upstream": "v0:26656",
                        "enabled": False,
                    },
                ]
            )
        )
        with server("-config", str(config)) as url:
            proxies = httpx.get(f"{url}/proxies", timeout=5).json()
            assert sorted(proxies) == ["v0_to_v1", "v1_to_v0"]
            assert proxies["v0_to_v1"]["enabled"] is True
            assert proxies["v1_to_v0"]["enabled"] is False
            assert proxies["v1_to_v0"]["upstream"] == "v0:26656"
            with socket.create_connection(("127.0.0.1", listen_port), timeout=5) as conn:
                conn.sendall(b"ping")
                assert conn.recv(4) == b"ping"


def test_long_option_spelling_works_too(tmp_path: Path) -> None:
    config = tmp_path / "p.json"
    config.write_text('[{"name": "solo", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:9"}]')
    with server("--config", str(config)) as url:
        assert list(httpx.get(f"{url}/proxies", timeout=5).json()) == ["solo"]


def test_official_flag_spellings_parse() -> None:
    args = parser().parse_args(["-host=0.0.0.0", "-port=8475", "-config=/testnet/toxiproxy.json"])
    assert (args.host, args.port, str(args.config)) == ("0.0.0.0", 8475, "/testnet/toxiproxy.json")


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    done = run_to_exit("-config", str(tmp_path / "absent.json"))
    assert done.returncode == 2
    assert "cannot read" in done.stderr and "absent.json" in done.stderr


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"name": "x"}', "cannot unmarshal object"),
        ('[{"name": "x", "listen": "127.0.0.1:0"}]', "missing required field: upstream"),
        ("not json", "invalid JSON"),
    ],
)
def test_invalid_config_is_rejected_with_the_api_message(
    tmp_path: Path, body: str, message: str
) -> None:
    config = tmp_path / "bad.json"
    config.write_text(body)
    with pytest.raises(ValueError, match=re.escape(message)):
        load_config(config)
    done = run_to_exit("-config", str(config))
    assert done.returncode == 2
    assert message in done.stderr


def test_a_config_proxy_that_cannot_listen_stops_the_server(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        config = tmp_path / "busy.json"
        config.write_text(
            json.dumps([{"name": "busy", "listen": f"127.0.0.1:{port}", "upstream": "x:1"}])
        )
        done = run_to_exit("-config", str(config))
    assert done.returncode == 1
    assert f"127.0.0.1:{port}" in done.stderr and "address already in use" in done.stderr
