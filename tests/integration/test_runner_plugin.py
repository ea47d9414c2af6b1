"""The pytest plugin: options, the cluster factory fixture, and the report of a failing test."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.pytest_plugin import ClusterFactory

pytest_plugins = ["pytester"]


async def test_cluster_factory_starts_and_stops(
    clp_cluster_factory: ClusterFactory, clp_seed: int, clp_backend: str
) -> None:
    assert clp_backend in ("local", "docker") and isinstance(clp_seed, int)
    async with clp_cluster_factory(validators=4, clp={"epoch_length": 24}) as (c, nemesis):
        assert c.names == ["v0", "v1", "v2", "v3"]
        assert c.manifest.clp["epoch_length"] == 24
        await c.wait_for_height(3)
        await nemesis.apply("lazy", node="v3")
        assert [r.kind for r in nemesis.log.records] == ["lazy"]
    assert not any(c.is_running(n) for n in c.names), "the factory stops its cluster on exit"


INNER = """
import pytest

@pytest.mark.asyncio
async def test_fails_with_a_cluster(clp_cluster_factory):
    async with clp_cluster_factory(validators=4) as (c, nemesis):
        await c.wait_for_height(2)
        assert False, "deliberate"
"""


def test_failing_test_reports_reproduce_command_and_logs(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest_subprocess("--seed", "3", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*clp-testnet*",
            # the node id is relative to the rootdir, wherever the tmp dir is (CI: reports/)
            "reproduce: pytest *test_inner.py::test_fails_with_a_cluster --backend local --seed 3",
            "log v0: *testnet-0/logs/v0.log",
            "log v3: *testnet-0/logs/v3.log",
        ]
    )


SMOKE = Path(__file__).resolve().parent / "scenarios_smoke" / "wrong-expectation.toml"
INNER_RUN = f"""
import pytest
from harness.scenario.parse import parse_file

@pytest.mark.asyncio
async def test_fails_with_a_run(clp_run_scenario):
    result = await clp_run_scenario(parse_file({str(SMOKE)!r}))
    assert result.passed
"""


def test_failing_scenario_test_names_its_report_in_output_and_junit(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_inner=INNER_RUN)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--junitxml=out.xml")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*clp-testnet run*", "report: */run/report.html", "reproduce: clp-testnet run *"]
    )
    case = ET.parse(pytester.path / "out.xml").getroot().find(".//testcase")
    assert case is not None
    props = {p.get("name"): p.get("value") or "" for p in case.iter("property")}
    assert props["report"].endswith("/run/report.html") and Path(props["report"]).is_file()
    assert props["reproduce"].startswith("clp-testnet run ")
