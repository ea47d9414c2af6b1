"""Headless Chromium (Debian's chromium and chromedriver, never a download) and two REAL
runs to open: one that fails on a deliberately wrong expectation, one that passes."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

from harness.scenario.parse import parse_file
from harness.scenario.results import ScenarioResult
from harness.scenario.runner import RunOptions, run_scenario

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SMOKE = Path(__file__).resolve().parents[1] / "integration" / "scenarios_smoke"

# v4 cut off early in epoch 0 and slashed at its end; the file also expects v3 slashed,
# which nothing causes: the run must fail on exactly that expectation. The epoch is 40
# blocks (20 challenges): an isolate the loaded harness applies up to 18 blocks late (the
# chain runs while the slowest node still starts) still costs v4 more than half of them;
# no ejection (30 misses in a row) keeps the slash the only marker.
FAILING = """
name = "browser-wrong-slash"
description = "v4 isolated in epoch 0 and slashed; the expectation wrongly adds v3."

[cluster]
validators = 5

[cluster.clp]
epoch_length = 40
max_consecutive_failures = 30

[run]
until_epoch = 0

[[steps]]
at = { height = 3 }
do = "isolate"
node = "v4"

[[steps]]
at = { epoch = 1 }
do = "heal"

[[expect]]
epoch = 0
slashed = ["v3", "v4"]

[quiet]
blocks = 4
"""


def _need(path: str, package: str) -> str:
    if shutil.which(path) is None:
        pytest.fail(
            f"{path} is missing: `make browser-deps` installs Debian's {package}", pytrace=False
        )
    return path


@pytest.fixture(scope="session")
def browser() -> Iterator[webdriver.Chrome]:
    opts = Options()
    opts.binary_location = _need(CHROMIUM, "chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service(_need(CHROMEDRIVER, "chromium-driver")))
    try:
        yield driver
    finally:
        driver.quit()


def _run(scenario_file: Path, run_dir: Path) -> ScenarioResult:
    return asyncio.run(run_scenario(parse_file(scenario_file), RunOptions(run_dir=run_dir)))


@pytest.fixture(scope="session")
def failing_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("failing")
    (root / "browser-wrong-slash.toml").write_text(FAILING)
    result = _run(root / "browser-wrong-slash.toml", root / "run")
    assert result.status == "failed", result.failure_report()
    return root / "run"


@pytest.fixture(scope="session")
def passing_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("passing")
    result = _run(SMOKE / "happy.toml", root / "run")
    assert result.passed, result.failure_report()
    return root / "run"
