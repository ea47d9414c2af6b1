"""Scenario files whose steps cannot fire in the run are refused; waits are never silent."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from harness.scenario.parse import ScenarioError, parse_text
from harness.scenario.progress import WAIT_LINE_S, RichReporter

BASE = """
name = "late"

[cluster]
validators = 4

[run]
until_epoch = 1

[[steps]]
at = { height = 3 }
do = "isolate"
node = "v3"

[[steps]]
at = AT
do = "heal"
"""


@pytest.mark.parametrize("at", ["{ epoch = 99 }", "{ height = 42 }", "{ epoch = 2, offset = 1 }"])
def test_a_step_after_the_run_is_an_error_naming_it(at: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_text(BASE.replace("AT", at), "late.toml")
    text = str(info.value)
    assert "steps[1].at" in text and "until_epoch = 1" in text and "height 41" in text, text
    assert "late.toml:16" in text, text


@pytest.mark.parametrize("at", ["{ epoch = 2 }", "{ height = 41 }", "{ epoch = 1, offset = 19 }"])
def test_a_step_at_the_start_of_the_next_epoch_still_fires(at: str) -> None:
    """The shipped scenarios heal as the epoch after until_epoch begins."""
    assert len(parse_text(BASE.replace("AT", at), "late.toml").steps) == 2


def test_a_wait_without_a_terminal_prints_what_it_waits_for() -> None:
    out = io.StringIO()
    now = [100.0]
    reporter = RichReporter(
        Console(file=out, force_terminal=False, width=200), clock=lambda: now[0]
    )
    heights: dict[str, int | None] = {"v0": 12, "v1": None}
    reporter.waiting("steps[1]: waiting for height 41 (epoch 2)", heights)
    reporter.waiting("steps[1]: waiting for height 41 (epoch 2)", heights)  # 0 s later: quiet
    now[0] += WAIT_LINE_S
    reporter.waiting("steps[1]: waiting for height 41 (epoch 2)", {"v0": 30, "v1": None})
    reporter.waiting("run.until_epoch: epoch 1 evaluated (height 40)", heights)
    lines = out.getvalue().splitlines()
    assert len(lines) == 3, lines
    assert "waiting: steps[1]: waiting for height 41" in lines[0] and "v0:12  v1:-" in lines[0]
    assert "v0:30" in lines[1] and "run.until_epoch" in lines[2]
