"""Mixed testnets: the kind of each validator from a list, counts or ``--mix``, recorded in
the manifest, started by the local backend with each kind's own command."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from harness import node_kinds
from harness.cluster.backends import init_for_backend
from harness.cluster.local import LocalBackend, kind_command
from harness.cluster.testnet import TestnetError, TestnetManifest
from harness.node_mix import (
    NODE_MIX_ENV,
    MixError,
    deal,
    format_mix,
    is_mixed,
    mix_from_env,
    mix_nodes,
    parse_mix,
)
from harness.scenario.parse import ScenarioError, parse_text


def test_counts_are_dealt_round_robin_in_their_order() -> None:
    assert deal({"python": 3, "rust": 2}) == ["python", "rust", "python", "rust", "python"]
    assert deal({"rust": 1, "python": 3}) == ["rust", "python", "python", "python"]
    assert deal({"python": 0, "rust": 2}) == ["rust", "rust"]


def test_the_command_line_spelling_parses_and_prints_back() -> None:
    counts = parse_mix("python:3, rust:2")
    assert counts == {"python": 3, "rust": 2}
    assert format_mix(counts) == "python:3,rust:2"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("python3", "want KIND:COUNT"),
        ("python:x", "want KIND:COUNT"),
        ("python:-1", "want KIND:COUNT"),
        ("java:2", "unknown node kind 'java'"),
        ("python:1,python:2", "python named twice"),
        ("python:0,rust:0", "at least one validator"),
    ],
)
def test_a_bad_mix_is_one_line(text: str, message: str) -> None:
    with pytest.raises(MixError, match=message) as err:
        parse_mix(text)
    assert "\n" not in str(err.value)


def test_a_list_or_counts_must_match_the_validators_exactly_in_a_file() -> None:
    assert mix_nodes(["python", "rust"], 2) == ["python", "rust"]
    assert mix_nodes({"python": 1, "rust": 1}, 2) == ["python", "rust"]
    with pytest.raises(MixError, match="want 3 node kinds"):
        mix_nodes(["python", "rust"], 3)
    with pytest.raises(MixError, match="add up to 2, want 3"):
        mix_nodes({"python": 1, "rust": 1}, 3)
    with pytest.raises(MixError, match="unknown node kind 'go'"):
        mix_nodes(["python", "go"], 2)
    with pytest.raises(MixError, match="want a list of node kinds"):
        mix_nodes("python", 1)


def test_a_command_line_mix_is_a_pattern_over_any_size() -> None:
    counts = {"python": 3, "rust": 2}
    assert mix_nodes(counts, 4, exact=False) == ["python", "rust", "python", "rust"]
    assert mix_nodes(counts, 7, exact=False) == [
        *["python", "rust", "python", "rust", "python"],
        *["python", "rust"],
    ]
    assert is_mixed(mix_nodes(counts, 2, exact=False))
    assert not is_mixed(mix_nodes(counts, 1, exact=False))


def test_the_environment_carries_the_mix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(NODE_MIX_ENV, raising=False)
    assert mix_from_env(3) is None
    monkeypatch.setenv(NODE_MIX_ENV, "rust:1,python:1")
    assert mix_from_env(3) == ["rust", "python", "rust"]


SCENARIO = """\
name = "mixed"
[cluster]
validators = 3
nodes = {nodes}
[run]
until_epoch = 0
"""


@pytest.mark.parametrize(
    ("nodes", "kinds"),
    [
        ('["rust", "python", "rust"]', ("rust", "python", "rust")),
        ("{ python = 2, rust = 1 }", ("python", "rust", "python")),
    ],
)
def test_a_scenario_names_its_nodes(nodes: str, kinds: tuple[str, ...]) -> None:
    sc = parse_text(SCENARIO.format(nodes=nodes), "mixed.toml")
    assert sc.cluster.nodes == kinds


def test_a_scenario_without_nodes_leaves_the_choice_to_the_run() -> None:
    text = SCENARIO.replace("nodes = {nodes}\n", "")
    assert parse_text(text, "plain.toml").cluster.nodes is None


@pytest.mark.parametrize(
    ("nodes", "message"),
    [
        ('["python", "rust"]', "want 3 node kinds (one per validator), got 2"),
        ("{ python = 2 }", "the counts add up to 2, want 3"),
        ('["python", "rust", "cobol"]', "unknown node kind 'cobol'"),
        ("{ python = -1, rust = 4 }", "python = -1: want a count >= 0"),
        ("7", "want a list of node kinds"),
    ],
)
def test_bad_nodes_name_the_field_and_line(nodes: str, message: str) -> None:
    with pytest.raises(ScenarioError) as err:
        parse_text(SCENARIO.format(nodes=nodes), "mixed.toml")
    text = str(err.value)
    assert text.startswith("mixed.toml:4: field 'cluster.nodes': "), text
    assert message in text and "\n" not in text


def test_the_manifest_records_each_validators_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(NODE_MIX_ENV, raising=False)
    m = init_for_backend("local", tmp_path / "t", validators=3, nodes=["python", "rust", "python"])
    again = TestnetManifest.load(m.root)
    assert again.implementations == {"v0": "python", "v1": "rust", "v2": "python"}
    plain = init_for_backend("local", tmp_path / "p", validators=2)
    assert TestnetManifest.load(plain.root).implementations == {}


def test_the_run_mix_applies_when_the_testnet_names_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(NODE_MIX_ENV, "python:1,rust:1")
    m = init_for_backend("local", tmp_path / "t", validators=3)
    assert m.implementations == {"v0": "python", "v1": "rust", "v2": "python"}
    own = init_for_backend("local", tmp_path / "o", validators=2, nodes=["rust", "rust"])
    assert own.implementations == {"v0": "rust", "v1": "rust"}  # the file's own nodes win


def test_a_wrong_number_of_kinds_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(TestnetError, match="2 node kinds given for 3 validators"):
        init_for_backend("local", tmp_path / "t", validators=3, nodes=["python", "rust"])
    assert not (tmp_path / "t").exists()


def test_the_local_backend_starts_each_node_with_its_kinds_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "clp-node-rs"
    fake.write_text("")
    monkeypatch.setenv(node_kinds.RUST_BINARY_ENV, str(fake))
    monkeypatch.delenv(node_kinds.NODE_COMMAND_ENV, raising=False)
    m = init_for_backend("local", tmp_path / "t", validators=2, nodes=["python", "rust"])
    backend = LocalBackend(m)
    assert backend.command_of("v0") == "clp-node --config {config}"
    assert backend.command_of("v1") == f"{fake.resolve()} --config {{config}}"
    assert kind_command("rust") == backend.command_of("v1")
    assert backend.implementations() == {"v0": "python", "v1": "rust"}


def test_an_unmixed_testnet_reports_the_kind_of_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(node_kinds.NODE_COMMAND_ENV, raising=False)
    monkeypatch.delenv(node_kinds.NODE_IMAGE_ENV, raising=False)
    monkeypatch.delenv(node_kinds.NODE_KIND_ENV, raising=False)
    m = init_for_backend("local", tmp_path / "t", validators=2)
    assert LocalBackend(m).implementations() == {"v0": "python", "v1": "python"}
    monkeypatch.setenv(node_kinds.NODE_KIND_ENV, "rust")
    assert LocalBackend(m).implementations() == {"v0": "rust", "v1": "rust"}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(exit_on_error=False)
    node_kinds.add_node_option(p, mix=True)
    return p


def test_mix_and_node_exclude_each_other() -> None:
    args = _parser().parse_args(["--mix", "python:3,rust:2"])
    assert args.mix == "python:3,rust:2" and args.node == "python"
    with pytest.raises(argparse.ArgumentError, match="not allowed with argument --mix"):
        _parser().parse_args(["--mix", "python:1", "--node", "rust"])
