"""The proxy layer of a big local testnet: populated in chunks, and a server allowed the
open files its links need (128 validators: 16,256 proxies, three files each)."""

from __future__ import annotations

import resource
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cluster.proxies import POPULATE_CHUNK, chunks, open_files_needed, raise_open_files
from harness.cluster.testnet import TestnetError


def test_chunks_keep_every_item_in_order_within_the_size() -> None:
    items: list[dict[str, object]] = [{"name": str(i)} for i in range(2 * POPULATE_CHUNK + 7)]
    parts = chunks(items, POPULATE_CHUNK)
    assert [len(p) for p in parts] == [POPULATE_CHUNK, POPULATE_CHUNK, 7]
    assert [x for p in parts for x in p] == items
    assert chunks([], POPULATE_CHUNK) == []


def test_open_files_cover_listener_and_both_connections_of_every_link() -> None:
    assert open_files_needed(16_256) >= 3 * 16_256
    assert open_files_needed(0) > 0


@pytest.fixture
def child() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    yield proc
    proc.kill()
    proc.wait(5)


def test_raises_the_soft_limit_of_the_server_process(child: subprocess.Popen[bytes]) -> None:
    _soft, hard = resource.prlimit(child.pid, resource.RLIMIT_NOFILE)
    resource.prlimit(child.pid, resource.RLIMIT_NOFILE, (64, hard))
    need = 128 if hard == resource.RLIM_INFINITY else min(hard, 128)
    raise_open_files(child.pid, need)
    assert resource.prlimit(child.pid, resource.RLIMIT_NOFILE)[0] >= need


def test_a_limit_that_cannot_be_raised_is_one_line(child: subprocess.Popen[bytes]) -> None:
    nr_open = int(Path("/proc/sys/fs/nr_open").read_text())  # no process may hold more
    with pytest.raises(TestnetError, match="open files") as info:
        raise_open_files(child.pid, nr_open + 1)
    assert "\n" not in str(info.value)
