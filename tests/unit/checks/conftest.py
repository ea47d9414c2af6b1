"""Histories shared by the checker tests (built once per session: signing is the cost)."""

from __future__ import annotations

import pytest

from .history_builder import Built, Net, build, offline, record, time_s

CUT_FROM, CUT_TO = 21, 64  # v4 cut off for all of epochs 1 and 2 (test profile: E = 20)


@pytest.fixture(scope="session")
def net() -> Net:
    return Net()


@pytest.fixture(scope="session")
def quiet(net: Net) -> Built:
    """45 blocks, everybody answers, no fault."""
    return build(net, 45)


@pytest.fixture(scope="session")
def isolated(net: Net) -> Built:
    """v4 isolated from height 21 to 64: slashed for epoch 1, slashed and ejected at epoch 2."""
    online = offline("v4", CUT_FROM, CUT_TO)
    plain = build(net, 80, online=online)
    faults = [
        record("isolate", time_s(plain, CUT_FROM - 1) + 0.15, CUT_FROM - 1, node="v4"),
        record("heal", time_s(plain, CUT_TO) + 0.15, CUT_TO),
    ]
    return build(net, 80, online=online, faults=faults)
