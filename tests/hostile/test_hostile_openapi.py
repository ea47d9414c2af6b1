"""Schemathesis against a live node's /openapi.json, every default check on.

The document must be what the server does: every status, header and body it answers is
the one documented, data the document calls valid is accepted or refused with a documented
status, data it calls invalid is refused with a 4xx, undocumented methods get 405 with
Allow. Runs against a one-validator testnet (it finalizes on its own), hooks on: the
tests send the testnet's token, so the hooks' own validation is exercised too.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from clp_node.api.openapi import OPENAPI
from harness.cluster.ports import free_ports
from harness.cluster.testnet import init_testnet

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(API base URL, hooks token) of a running single-validator node."""
    root = tmp_path_factory.mktemp("openapi") / "net"
    manifest = init_testnet(root, validators=1, proxied=False, seed="hostile-openapi")
    config = manifest.config_path("v0")
    config.write_text(config.read_text().replace(f":{manifest.nodes[0].api_port}", f":{API_PORT}"))
    log = (root / "v0.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "clp_node.cli", "--config", str(manifest.config_path("v0"))],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{BASE_URL}/health", timeout=1).json()["height"] >= 1:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, (root / "v0.log").read_text()
            assert time.monotonic() < deadline, "the node did not finalize a block in 30 s"
            time.sleep(0.1)
        yield BASE_URL, manifest.hooks_token
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


# Loaded at collection, so from the served dict, with the port the node will listen on;
# the first thing each case checks is that the live node serves exactly this document.
# (Loading it from the live URL in a fixture needs schemathesis.pytest.from_fixture, which
# does not run under pytest 9.)
API_PORT = free_ports(1)[0]
BASE_URL = f"http://127.0.0.1:{API_PORT}"
# A response can be well-formed and still refused with its §5 reason and 400 (its challenge
# unknown, its signature wrong): no schema can know which challenges are open, so 400 is
# an accepted answer to schema-valid data there. So is it for a height range (§11): no
# schema says that ``from`` is at most ``to`` and the range at most 256 heights. Every
# other check keeps its defaults.
CONFIG = schemathesis.Config.from_dict(
    {
        "base-url": BASE_URL,
        "operations": [
            {
                "include-name": "POST /alpha/clp/response",
                "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "400"]}},
            },
            *(
                {
                    "include-name": f"GET {path}",
                    "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "400"]}},
                }
                for path in ("/alpha/consensus/votes", "/alpha/clp/answers")
            ),
        ],
    }
)
schema = schemathesis.openapi.from_dict(OPENAPI, config=CONFIG)


@pytest.fixture(scope="module")
def live(node: tuple[str, str]) -> tuple[str, str]:
    served = httpx.get(f"{node[0]}/openapi.json", timeout=5).json()
    assert served == json.loads(json.dumps(OPENAPI)), "the live node serves another document"
    return node


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_the_node_does_what_its_openapi_says(
    case: schemathesis.Case, node: tuple[str, str]
) -> None:
    headers = {}
    if case.path == "/admin/faults" and case.headers and "X-CLP-Hooks-Token" in case.headers:
        headers["X-CLP-Hooks-Token"] = node[1]  # the generated value, made the real token
    case.call_and_validate(headers=headers)
