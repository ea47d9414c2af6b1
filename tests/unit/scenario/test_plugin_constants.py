"""The pytest plugin's light-weight constants mirror the harness's own."""

from __future__ import annotations

from harness import pytest_plugin
from harness.cluster.backends import BACKENDS
from harness.scenario.runner import DEFAULT_SEED


def test_plugin_constants_match_the_harness() -> None:
    assert pytest_plugin.BACKENDS == BACKENDS
    assert pytest_plugin.DEFAULT_SEED == DEFAULT_SEED
