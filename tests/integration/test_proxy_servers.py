"""A testnet whose links are split over several proxy servers (as one whose links need more
open files than one process may hold) behaves as one with a single server: each server
carries its share, a fault reaches every link it names wherever it lives, the link
counters cover every link, and nothing outlives the testnet."""

from __future__ import annotations

from pathlib import Path

from harness.checks.linkbytes import collect_link_bytes
from harness.cluster.leftovers import find_leftovers, tracked_processes
from harness.cluster.local import LocalBackend
from harness.cluster.testnet import init_testnet
from harness.faults.nemesis import Nemesis

SERVERS = 3


async def test_links_split_over_servers_carry_traffic_take_faults_and_are_counted(
    tmp_path: Path,
) -> None:
    manifest = init_testnet(tmp_path / "net", validators=4, seed="split", proxy_servers=SERVERS)
    cluster = LocalBackend(manifest)
    async with cluster:
        assert cluster.proxies is not None and len(cluster.proxies.pids) == SERVERS
        tracked = tracked_processes(cluster)
        for server, (_, links) in zip(
            cluster.proxies.servers, manifest.proxy_servers(), strict=True
        ):
            assert sorted(server.api.proxies()) == sorted(link.name for link in links)
        await cluster.wait_for_height(2)

        victim, others = "v3", ["v0", "v1", "v2"]
        api = cluster.fault_api()
        assert api is not None
        touched = [link for link in manifest.links if victim in (link.src, link.dst)]
        homes = {
            i
            for i, (_, links) in enumerate(manifest.proxy_servers())
            for x in links
            if x in touched
        }
        assert len(homes) > 1  # the fault must reach more than one server
        nemesis = Nemesis(cluster, api)
        await nemesis.apply("isolate", node=victim)
        proxies = api.proxies()
        assert {n for n, p in proxies.items() if not p["enabled"]} == {x.name for x in touched}
        stuck = (await cluster.heights([victim]))[victim]
        top = max(h for h in (await cluster.heights(others)).values() if h is not None)
        await cluster.wait_for_height(top + 3, others)  # three validators of four go on
        assert stuck is not None
        assert (await cluster.heights([victim]))[victim] <= stuck + 1  # what was in flight

        await nemesis.apply("heal")
        assert all(p["enabled"] for p in api.proxies().values())
        await cluster.wait_for_height(top + 4)  # v3 back, through every server

        found = await collect_link_bytes(cluster)
        assert found.problem is None
        assert sorted(found.bytes) == sorted(link.name for link in manifest.links)
        silent = [name for name, d in found.bytes.items() if d["upstream"] == 0]
        assert silent == [], f"links that carried nothing: {silent}"
    assert find_leftovers(manifest, tracked) == []
