"""The hostile suite: what an unauthenticated or misbehaving outsider can do, and cannot.

It borrows the P2P helpers of the unit tests and the cluster helpers of the integration
suite, so both folders go on the import path here.
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

from net_helpers import Cluster  # noqa: E402


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    c = Cluster()
    try:
        yield c
    finally:
        await c.close()
