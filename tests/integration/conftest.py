"""Integration suite: every test here runs real ``clp-node`` processes (marker ``integration``).

Helpers live in ``integration_helpers.py``. Each module starts its own module-scoped cluster
in a module-scoped event loop, so what one module does to its testnet (kills, a lazy
validator, hostile input) cannot change what another module asserts.

Run with pytest-xdist (``-n JOBS --dist loadgroup``, as the Makefile does), the tests of a
module that shares a module-scoped fixture stay on one worker, in file order (they share
its testnet, and some build on what the earlier ones did to it); every other test, each
scenario among them, goes to whichever worker is free.
"""

from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent


def shares_a_module_fixture(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    defs = info.name2fixturedefs.values() if info is not None else []
    return any(d[-1].scope == "module" for d in defs if d)


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups (it names them in node ids)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.integration)
            if shares_a_module_fixture(item):
                item.add_marker(pytest.mark.xdist_group(item.module.__name__))
