"""The local backend starts a node by its command (the contract), never by importing it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from harness.cluster.local import NODE_COMMAND_ENV, default_node_command, node_argv
from harness.cluster.testnet import TestnetError


def test_the_config_placeholder_is_filled_in_every_word() -> None:
    argv = node_argv("/opt/n/bin/node run --config={config} -v", Path("/t/v0/node.toml"))
    assert argv == ["/opt/n/bin/node", "run", "--config=/t/v0/node.toml", "-v"]


def test_quoted_words_stay_whole() -> None:
    argv = node_argv("'/opt/my node/bin' --config {config}", Path("/t/node.toml"))
    assert argv == ["/opt/my node/bin", "--config", "/t/node.toml"]


@pytest.mark.parametrize("bad", ["clp-node --config node.toml", "", "'unterminated {config}"])
def test_a_command_without_a_usable_placeholder_is_refused(bad: str) -> None:
    with pytest.raises(TestnetError, match="node command"):
        node_argv(bad, Path("x.toml"))


def _program(folder: Path, name: str) -> Path:
    path = folder / name
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


@pytest.mark.parametrize("activated", [True, False])
def test_the_node_of_this_virtualenv_starts_whether_activated_or_not(
    activated: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even when PATH (activated or not) holds another clp-node first."""
    beside = Path(sys.executable).with_name("clp-node")
    assert beside.is_file(), "the project is installed in this environment"
    other = _program(tmp_path, "clp-node").parent
    venv_bin = [str(beside.parent)] if activated else []
    monkeypatch.setenv("PATH", os.pathsep.join([str(other), *venv_bin, "/usr/bin", "/bin"]))
    argv = node_argv("clp-node --config {config}", Path("n.toml"))
    assert argv == [str(beside.absolute()), "--config", "n.toml"]


def test_a_program_found_on_path_is_named_by_its_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node started with another PATH or working folder still runs the same file."""
    program = _program(tmp_path, "other-node-impl")
    monkeypatch.chdir(tmp_path.parent)
    monkeypatch.setenv("PATH", tmp_path.name)  # a relative PATH entry
    assert node_argv("other-node-impl {config}", Path("n.toml")) == [str(program), "n.toml"]


def test_a_program_found_nowhere_keeps_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    assert node_argv("no-such-node-impl {config}", Path("n.toml")) == [
        "no-such-node-impl",
        "n.toml",
    ]


def test_the_environment_names_another_implementation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(NODE_COMMAND_ENV, raising=False)
    assert default_node_command() == "clp-node --config {config}"
    monkeypatch.setenv(NODE_COMMAND_ENV, "other-node -c {config}")
    assert default_node_command() == "other-node -c {config}"


def test_nodes_run_nicer_than_the_harness_by_default_and_bad_values_say_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from harness.cluster.local import NODE_NICE, NODE_NICE_ENV, node_nice

    monkeypatch.delenv(NODE_NICE_ENV, raising=False)
    assert node_nice() == NODE_NICE > 0
    monkeypatch.setenv(NODE_NICE_ENV, "0")
    assert node_nice() == 0
    for bad in ("-1", "20", "high"):
        monkeypatch.setenv(NODE_NICE_ENV, bad)
        with pytest.raises(TestnetError, match=f"{NODE_NICE_ENV}=.*want an integer 0..19"):
            node_nice()
