"""The node's /metrics (exposition format, `promtool check metrics` clean) and --monitor: a
real Prometheus scraping a live testnet answers per-validator stake after a slash."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from harness.monitor import Monitor, scrape_config
from harness.pytest_plugin import ClusterFactory

pytestmark = pytest.mark.integration


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is missing: `make monitoring` installs Debian's prometheus")
    return path


async def test_metrics_are_exposition_format_and_promtool_clean(
    clp_cluster_factory: ClusterFactory,
) -> None:
    async with clp_cluster_factory(validators=4) as (c, _):
        await c.wait_for_height(3)
        r = httpx.get(f"{c.api_url('v0')}/metrics")
    assert r.headers["content-type"].startswith("text/plain; version=")
    text = r.text
    check = subprocess.run(
        [need("promtool"), "check", "metrics"], input=r.content, capture_output=True
    )
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
    for series in (
        'alphaos_clp_validator_stake{validator="v3"} 100000.0',
        'alphaos_clp_validator_status{status="active",validator="v2"} 1.0',
        'alphaos_clp_validator_in_committee{validator="v1"} 1.0',
        'alphaos_clp_validator_slashes_total{validator="v0"} 0.0',
        "alphaos_consensus_finality_latency_seconds_bucket",
        "alphaos_consensus_rounds_total",
        "alphaos_consensus_block_interval_seconds",
        'alphaos_p2p_peer_bytes_sent_total{peer="v1"}',
        'alphaos_p2p_peer_bytes_received_total{peer="v1"}',
        "process_resident_memory_bytes",
        "python_info",
    ):
        assert series in text, f"{series} missing from /metrics"


async def test_prometheus_answers_the_slashed_stake(
    clp_cluster_factory: ClusterFactory, tmp_path: Path
) -> None:
    need("prometheus")
    async with clp_cluster_factory(validators=5) as (c, nemesis):
        targets = {n: c.api_url(n) for n in c.names}
        assert scrape_config(targets).count("targets:") == 5
        with Monitor(tmp_path / "prometheus", targets) as prom:
            # Prometheus takes its targets after ~5 s: cut v4 off from the next epoch's start
            E = c.clock.epoch_length
            heights = await c.heights()
            epoch = max(h for h in heights.values() if h is not None) // E + 1
            await c.wait_for_height(epoch * E + 1)
            await nemesis.apply("isolate", node="v4")
            results = await c.wait_for_epoch_result(epoch, ["v0", "v1", "v2", "v3"])
            v4 = c.address("v4")
            after = next(
                v["stake_after"] for v in results["v0"]["validators"] if v["address"] == v4
            )
            assert after < 100000, f"v4 was cut off for all of epoch {epoch}"

            stake_q = 'alphaos_clp_validator_stake{validator="v4", node="v0"}'
            slashes_q = 'alphaos_clp_validator_slashes_total{validator="v4", node="v1"}'

            async def scraped_slash() -> tuple[dict[str, float], dict[str, float]] | None:
                # each target has its own scrape times: v0's may show the slash before v1's
                got = prom.query(stake_q), prom.query(slashes_q)
                return got if got[0].get("v4") == after and got[1].get("v4") else None

            stake, slashes = await c.wait_for(
                scraped_slash, 15.0, "Prometheus to scrape v4's slash on v0 and v1", interval=0.5
            )
            assert stake == {"v4": float(after)}
            assert slashes == {"v4": 1.0}
            assert prom.query('alphaos_clp_validator_stake{validator="v0", node="v0"}') == {
                "v0": 100000.0
            }
    assert prom.proc is None, "the monitor stops its Prometheus"
