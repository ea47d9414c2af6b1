"""``clp-testnet conform``'s pure parts: naming the node under test, choosing scenarios."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.cli import main
from harness.cluster.local import NODE_COMMAND_ENV
from harness.cluster.testnet import TestnetError
from harness.commands.conform import scenario_files
from harness.conform.target import IMAGE_ENV, Target, node_environment, parse_target

SCENARIOS = Path(__file__).resolve().parents[3] / "scenarios"


def test_a_positional_with_a_space_or_placeholder_is_a_command() -> None:
    assert parse_target("mynode --config {config}", None, None) == Target(
        "command", "mynode --config {config}"
    )
    assert parse_target("myteam/node:1.2", None, None) == Target("image", "myteam/node:1.2")
    assert parse_target(None, "img:1", None).backend == "docker"
    assert parse_target(None, None, "n -c {config}").backend == "local"


@pytest.mark.parametrize(
    ("positional", "image", "command"),
    [(None, None, None), ("a", "b", None), (None, "img", "n {config}")],
)
def test_the_node_is_named_exactly_once(
    positional: str | None, image: str | None, command: str | None
) -> None:
    with pytest.raises(ValueError, match="name the node under test once"):
        parse_target(positional, image, command)


def test_a_command_without_the_placeholder_is_refused_up_front() -> None:
    with pytest.raises(TestnetError, match=r"\{config\}"):
        parse_target(None, None, "mynode --config node.toml")


def test_scenario_selection() -> None:
    assert scenario_files("none", SCENARIOS) == []
    assert len(scenario_files("all", SCENARIOS)) == len(list(SCENARIOS.glob("*.toml")))
    assert [p.name for p in scenario_files("happy-path, forged-responses", SCENARIOS)] == [
        "happy-path.toml",
        "forged-responses.toml",
    ]
    with pytest.raises(ValueError, match="no scenario file"):
        scenario_files("no-such-scenario", SCENARIOS)


def test_the_environment_is_set_for_the_run_and_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(NODE_COMMAND_ENV, "before {config}")
    with node_environment(Target("image", "img:1"), "tox:1"):
        assert os.environ[IMAGE_ENV] == "img:1"
        assert NODE_COMMAND_ENV not in os.environ
    assert os.environ[NODE_COMMAND_ENV] == "before {config}"
    assert IMAGE_ENV not in os.environ


def test_bad_input_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["conform"]) == 2
    assert main(["conform", "x {config}", "--scenarios", "nope"]) == 2
    out = capsys.readouterr().out
    assert "name the node under test once" in out and "no scenario file" in out
    assert "Traceback" not in out
