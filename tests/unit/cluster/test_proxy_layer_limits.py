"""The proxy layer of a big local testnet: populated in chunks, and a server allowed the
open files its links need (128 validators: 16,256 proxies, three files each)."""

from __future__ import annotations

import resource
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cluster.proxies import POPULATE_CHUNK, chunks, proxy_api, raise_open_files
from harness.cluster.proxy_shards import open_files_needed, server_of, servers_needed
from harness.cluster.testnet import TestnetError, init_testnet
from harness.cluster.toxiproxy_api import ToxiproxyShards


def test_chunks_keep_every_item_in_order_within_the_size() -> None:
    items: list[dict[str, object]] = [{"name": str(i)} for i in range(2 * POPULATE_CHUNK + 7)]
    parts = chunks(items, POPULATE_CHUNK)
    assert [len(p) for p in parts] == [POPULATE_CHUNK, POPULATE_CHUNK, 7]
    assert [x for p in parts for x in p] == items
    assert chunks([], POPULATE_CHUNK) == []


def test_open_files_cover_listener_and_both_connections_of_every_link() -> None:
    assert open_files_needed(16_256) >= 3 * 16_256
    assert open_files_needed(0) > 0


def test_one_server_while_its_links_fit_under_the_hard_limit() -> None:
    assert servers_needed(0, 20_000) == 0
    assert servers_needed(12, 1024) == 1
    assert servers_needed(16_256, None) == 1  # no limit
    assert servers_needed(16_256, open_files_needed(16_256)) == 1


def test_links_that_do_not_fit_are_split_so_that_each_share_fits() -> None:
    for links, hard in [(16_256, 20_000), (16_256, 4096), (4032, 1024), (5, 256 + 3)]:
        servers = servers_needed(links, hard)
        shares = [0] * servers
        for i in range(links):
            shares[server_of(i, links, servers)] += 1
        assert min(shares) > 0, (links, hard, shares)
        assert max(shares) - min(shares) <= 1  # balanced
        assert open_files_needed(max(shares)) <= hard, (links, hard, shares)
        if servers > 1:  # and no more servers than it takes
            assert open_files_needed(-(-links // (servers - 1))) > hard
    assert servers_needed(16_256, 20_000) == 3


def test_the_manifest_records_each_server_and_its_contiguous_share(tmp_path: Path) -> None:
    manifest = init_testnet(tmp_path / "net", validators=4, seed="shards", proxy_servers=3)
    servers = manifest.proxy_servers()
    assert [port for port, _ in servers] == manifest.toxiproxy_ports
    assert len(set(manifest.toxiproxy_ports)) == 3
    assert [link for _, links in servers for link in links] == manifest.links  # each once
    assert [len(links) for _, links in servers] == [4, 4, 4]
    used = [n.api_port for n in manifest.nodes] + [n.p2p_port for n in manifest.nodes]
    used += [link.listen_port for link in manifest.links] + manifest.toxiproxy_ports
    assert len(used) == len(set(used))  # no port twice
    again = type(manifest).load(manifest.root)
    assert again.proxy_servers() == servers
    single = init_testnet(tmp_path / "one", validators=4, seed="shards")
    assert len(single.toxiproxy_ports) == 1  # 12 links: one server, the manifest as before
    assert "toxiproxy_more_ports" not in (single.root / "manifest.json").read_text()
    api = proxy_api(again)  # as `clp-testnet fault` reaches them: each link at its server
    assert isinstance(api, ToxiproxyShards)
    for port, links in servers:
        assert {api._of(x.name).base_url for x in links} == {f"http://127.0.0.1:{port}"}
    api.close()
    direct = init_testnet(tmp_path / "direct", validators=4, seed="shards", proxied=False)
    assert direct.toxiproxy_ports == [] and direct.proxy_servers() == []


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
