"""Integration suite: every test here runs real ``clp-node`` processes (marker ``integration``).

Helpers live in ``integration_helpers.py``. Each module starts its own module-scoped cluster
in a module-scoped event loop, so what one module does to its testnet (kills, a lazy
validator, hostile input) cannot change what another module asserts.
"""

from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.integration)
