"""The testcontainers module reaches published ports where the Docker backend does, not at
the default gateway testcontainers picks when /.dockerenv exists."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from testcontainers.core.config import testcontainers_config

from harness.cluster.containers import PUBLISH_HOST
from harness.testcontainers import reach_published_ports_on_loopback


@pytest.fixture
def override() -> Iterator[None]:
    before = testcontainers_config.tc_host_override
    yield
    testcontainers_config.tc_host_override = before


def test_an_unset_host_becomes_the_publish_host(override: None) -> None:
    testcontainers_config.tc_host_override = None
    assert reach_published_ports_on_loopback() == PUBLISH_HOST == "127.0.0.1"
    assert testcontainers_config.tc_host_override == PUBLISH_HOST


def test_a_host_the_user_named_is_kept(override: None) -> None:
    testcontainers_config.tc_host_override = "docker.example"
    assert reach_published_ports_on_loopback() == "docker.example"
