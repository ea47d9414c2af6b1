"""A testnet started with its links held (the scenario runner) has every proxy disabled and
makes no block until the caller connects them; a plain start has them up from the start."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cluster.local import LocalBackend
from harness.cluster.testnet import init_testnet


@pytest.mark.parametrize("servers", [1, 3])  # 3: every proxy server connects its own share
async def test_held_links_keep_the_chain_at_genesis_until_connected(
    tmp_path: Path, servers: int
) -> None:
    manifest = init_testnet(tmp_path / "net", validators=4, seed="held", proxy_servers=servers)
    cluster = LocalBackend(manifest)
    try:
        await cluster.start(hold_links=True)
        api = cluster.fault_api()
        assert api is not None
        proxies = api.proxies()
        assert sorted(proxies) == sorted(link.name for link in manifest.links)
        assert not any(p["enabled"] for p in proxies.values())
        # one validator of four holds a quarter of the stake: nothing can be decided alone
        assert set((await cluster.heights()).values()) == {0}

        await cluster.connect_links()
        assert all(p["enabled"] for p in api.proxies().values())
        await cluster.wait_for_height(2)
    finally:
        await cluster.shutdown()


async def test_a_plain_start_has_every_link_up(tmp_path: Path) -> None:
    manifest = init_testnet(tmp_path / "net", validators=4, seed="plain")
    async with LocalBackend(manifest) as cluster:
        api = cluster.fault_api()
        assert api is not None
        assert all(p["enabled"] for p in api.proxies().values())
        await cluster.wait_for_height(2)
