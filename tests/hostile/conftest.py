"""The hostile suite: what an unauthenticated or misbehaving outsider can do, and cannot.

It borrows the P2P helpers of the unit tests and the cluster helpers of the integration
suite, so both folders go on the import path here.

The tests that apply to any node take the ``node_kind`` fixture: each runs once per
implementation, started by its command (harness.node_kinds). The Rust node's runs carry
the ``rust_node`` mark: `make hostile` leaves them out (it runs before the Rust build is
done), `make rust-integration` selects them; an unbuilt binary fails them, never skips.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
for helper_dir in (HERE.parent / "unit" / "net", HERE.parent / "integration"):
    if str(helper_dir) not in sys.path:
        sys.path.insert(0, str(helper_dir))

from hostile_tools import node_argv  # noqa: E402
from net_helpers import Cluster  # noqa: E402

from harness.node_kinds import PYTHON, RUST  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    """Schemathesis's pytest plugin turns test_hostile_openapi.py's `@schema.parametrize()`
    into cases; pyproject.toml keeps it out of every other suite (it costs a second of CPU
    per process), so it is registered here, before this folder's modules are collected,
    unless it is there already (addopts overridden)."""
    import schemathesis.pytest.plugin as plugin

    if not config.pluginmanager.is_registered(plugin):
        config.pluginmanager.register(plugin, plugin.__name__)


NODE_KINDS = [
    pytest.param(PYTHON, id=PYTHON),
    pytest.param(RUST, id=RUST, marks=pytest.mark.rust_node),
]


@pytest.fixture(scope="module", params=NODE_KINDS)
def node_kind(request: pytest.FixtureRequest) -> str:
    """The implementation under attack: each test taking it runs against both."""
    kind = str(request.param)
    node_argv(kind)  # the Rust node not built: fail here, in one line
    return kind


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    c = Cluster()
    try:
        yield c
    finally:
        await c.close()
