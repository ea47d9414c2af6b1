"""``--node NAME``: the registry of node kinds, resolved once into what the backends read."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness import node_kinds
from harness.cli import build_parser, main
from harness.cluster import node_choice
from harness.cluster.local import NODE_COMMAND_ENV, node_argv
from harness.cluster.node_choice import local_command, node_environment, node_variables
from harness.cluster.testnet import init_testnet
from harness.images import Images
from harness.node_kinds import (
    KINDS,
    NODE_IMAGE_ENV,
    NODE_KIND_ENV,
    TOXIPROXY_IMAGE_ENV,
    NodeKindError,
    node_kind,
    rust_binary,
)

NODE_COMMANDS = ["init", "up", "run", "demo", "explore", "conform"]


@pytest.fixture
def no_rust(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No Rust node anywhere the harness looks (a fake, empty CARGO_TARGET_DIR)."""
    target = tmp_path / "target"
    monkeypatch.setenv("CARGO_TARGET_DIR", str(target))
    monkeypatch.setenv("CLP_TESTNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(node_kinds.RUST_BINARY_ENV, raising=False)
    monkeypatch.delenv(NODE_COMMAND_ENV, raising=False)
    monkeypatch.delenv(NODE_IMAGE_ENV, raising=False)
    monkeypatch.delenv(TOXIPROXY_IMAGE_ENV, raising=False)
    monkeypatch.setattr(node_kinds, "repo_root", lambda: tmp_path / "clone")
    return target


@pytest.fixture
def fake_rust(no_rust: Path) -> Path:
    """A release binary of the Rust node in the fake CARGO_TARGET_DIR."""
    binary = no_rust / "release" / node_kinds.RUST_BINARY
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    return binary


def test_an_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(NodeKindError, match="unknown node kind 'java'") as err:
        node_kind("java")
    assert all(name in str(err.value) for name in KINDS)


def test_a_missing_rust_binary_is_one_line_that_says_how_to_build_it(no_rust: Path) -> None:
    with pytest.raises(NodeKindError) as err:
        rust_binary()
    text = str(err.value)
    assert "\n" not in text and "make rust" in text and str(no_rust) in text
    with pytest.raises(NodeKindError, match="make rust"):
        local_command("rust")


def test_the_newest_build_of_the_rust_node_wins(fake_rust: Path, tmp_path: Path) -> None:
    """A `cargo build` in the clone after a `make rust` (or the other way round): the
    binary built last is the one run, never a stale one from the other target folder."""
    clone = tmp_path / "clone" / "rust" / "target" / "release" / node_kinds.RUST_BINARY
    clone.parent.mkdir(parents=True)
    clone.write_text("#!/bin/sh\n")
    os.utime(fake_rust, (1_000_000, 1_000_000))
    assert rust_binary() == clone.resolve()
    os.utime(clone, (500_000, 500_000))
    assert rust_binary() == fake_rust.resolve()


def test_the_rust_command_template_runs_the_resolved_binary(fake_rust: Path) -> None:
    command = local_command("rust")
    assert command == f"{fake_rust.resolve()} --config {{config}}"
    assert node_argv(command, Path("/t/v0/node.toml")) == [
        str(fake_rust.resolve()),
        "--config",
        "/t/v0/node.toml",
    ]


def test_the_python_kind_is_the_local_backends_default(no_rust: Path) -> None:
    assert local_command("python") is None
    assert node_variables("python", "local") == {NODE_KIND_ENV: "python"}  # named only


def test_an_explicit_node_command_wins_and_nothing_is_looked_up(
    no_rust: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(NODE_COMMAND_ENV, "other-node -c {config}")
    assert local_command("rust") == "other-node -c {config}"  # no binary needed
    assert node_variables("rust", "local") == {}
    with pytest.raises(NodeKindError, match="unknown node kind"):
        local_command("java")  # a typo is still one


def test_the_environment_holds_the_kind_for_the_body_only(fake_rust: Path) -> None:
    with node_environment("rust", "local"):
        assert os.environ[NODE_COMMAND_ENV] == f"{fake_rust.resolve()} --config {{config}}"
    assert NODE_COMMAND_ENV not in os.environ


def test_container_backends_get_the_rust_image_and_the_usual_toxiproxy(
    fake_rust: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import harness.images as images

    monkeypatch.setattr(images, "ensure_rust_node_image", lambda progress=None: "rs:1")
    usual = Images("clp-testnet/node:1", "clp-testnet/toxiproxy-official:2", True)
    monkeypatch.setattr(images, "ensure_images", lambda progress=None: usual)
    assert node_choice.container_images("rust") == Images("rs:1", usual.toxiproxy, True)
    assert node_variables("rust", "docker") == {
        NODE_KIND_ENV: "rust",
        NODE_IMAGE_ENV: "rs:1",
        TOXIPROXY_IMAGE_ENV: usual.toxiproxy,
    }
    # the backend's own default images; the kind is named for the record
    assert node_variables("python", "swarm") == {NODE_KIND_ENV: "python"}


def test_images_named_by_the_environment_win(
    no_rust: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(NODE_IMAGE_ENV, "theirs/node:1")
    monkeypatch.setenv(TOXIPROXY_IMAGE_ENV, "theirs/toxiproxy:1")
    assert node_choice.container_images("rust") == Images(
        "theirs/node:1", "theirs/toxiproxy:1", False
    )
    assert node_variables("rust", "docker") == {}  # the Rust binary is not even needed


def test_an_image_that_cannot_be_built_is_a_node_kind_error(no_rust: Path) -> None:
    with pytest.raises(NodeKindError, match="make rust"):
        node_choice.container_images("rust")


def _help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit):
        build_parser().parse_args([*argv, "--help"])
    return " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("argv", [[c] for c in NODE_COMMANDS] + [["images", "build"]])
def test_every_help_lists_the_kinds_and_the_variables_that_win(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    text = _help(argv, capsys)
    for kind in KINDS.values():
        assert f"{kind.name}, {kind.description}" in text
    starts_nodes = argv != ["images", "build"]  # building an image starts no node
    assert (NODE_COMMAND_ENV in text and NODE_IMAGE_ENV in text) == starts_nodes


@pytest.mark.parametrize("command", ["up", "run", "demo", "explore", "init"])
def test_an_unknown_kind_is_refused_by_the_parser(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([command, "--node", "java"])
    assert exit_.value.code == 2
    assert "invalid choice: 'java'" in capsys.readouterr().err


def test_a_missing_binary_is_exit_2_before_anything_starts(
    no_rust: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    init_testnet(tmp_path / "net", validators=2, seed="nk")
    happy = Path(__file__).resolve().parents[3] / "scenarios" / "happy-path.toml"
    out = tmp_path / "runs"
    assert main(["up", "--dir", str(tmp_path / "net"), "--node", "rust"]) == 2
    assert main(["run", str(happy), "--node", "rust", "--out", str(out)]) == 2
    assert main(["demo", "--node", "rust", "--out", str(out)]) == 2
    assert main(["conform", "--node", "rust", "--out", str(out)]) == 2
    text = capsys.readouterr().out
    assert text.count("make rust") == 4 and "Traceback" not in text
    assert not (tmp_path / "net" / "logs").exists() and not out.exists()


def test_up_records_its_command_and_fault_restart_uses_it(tmp_path: Path) -> None:
    from harness.faults.cli import DetachedLocal

    manifest = init_testnet(tmp_path / "net", validators=2, seed="nk")
    (manifest.root / "run.json").write_text(
        json.dumps({"pids": {}, "toxiproxy": None, "node_command": "/opt/rs --config {config}"})
    )
    assert DetachedLocal(manifest).node_command == "/opt/rs --config {config}"


def test_init_names_the_kind_in_its_hints_and_the_compose_image(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", "--dir", str(tmp_path / "a"), "-n", "2", "--node", "rust"]) == 0
    assert f"up --dir {tmp_path / 'a'} --node rust" in " ".join(capsys.readouterr().out.split())
    argv = ["init", "--dir", str(tmp_path / "b"), "-n", "2", "--compose", "--node", "rust"]
    assert main([*argv, "--api-port-base", "0"]) == 0
    assert "images build --node rust" in " ".join(capsys.readouterr().out.split())
    env = (tmp_path / "b" / ".env").read_text().splitlines()
    assert "CLP_NODE_IMAGE=clp-testnet/node-rs:latest" in env
    assert main(["init", "--dir", str(tmp_path / "c"), "-n", "2", "--compose"]) == 0
    assert "CLP_NODE_IMAGE=clp-testnet/node:latest" in (tmp_path / "c" / ".env").read_text()


def test_conform_takes_a_kind_as_the_node_under_test(fake_rust: Path) -> None:
    from harness.commands.conform import target_of
    from harness.conform.target import Target

    def args(**given: object) -> SimpleNamespace:
        base = {"target": None, "image": None, "node_command": None, "node": None}
        return SimpleNamespace(**{"backend": None, **base, **given})

    rust = target_of(args(node="rust"))
    assert rust == Target("command", f"{fake_rust.resolve()} --config {{config}}")
    assert target_of(args(node="python")) == Target("command", "clp-node --config {config}")
    with pytest.raises(ValueError, match="once"):
        target_of(args(node="rust", image="img:1"))
    with pytest.raises(ValueError, match="--backend goes with --node"):
        target_of(args(image="img:1", backend="docker"))


def test_testcontainers_refuses_an_unknown_kind_at_once() -> None:
    from harness.testcontainers import ClpTestnet

    with pytest.raises(NodeKindError, match="unknown node kind"):
        ClpTestnet(validators=4, node="java")


def test_explore_hands_the_kind_to_every_run(
    fake_rust: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.explore import explorer
    from harness.scenario.results import ScenarioResult

    seen: list[tuple[str, str | None]] = []

    async def run_doc(
        doc: dict[str, object], run_dir: Path, seed: int, backend: str, node: str = "python"
    ) -> ScenarioResult:
        seen.append((node, os.environ.get(NODE_COMMAND_ENV)))
        result = ScenarioResult(str(doc["name"]), "x.toml", seed, backend, node=node)
        result.finish()
        return result

    monkeypatch.setattr(explorer, "run_doc", run_doc)
    argv = ["explore", "--runs", "2", "--node", "rust", "--out", str(tmp_path / "runs")]
    assert main(argv) == 0
    assert seen == [("rust", f"{fake_rust.resolve()} --config {{config}}")] * 2
    assert NODE_COMMAND_ENV not in os.environ  # only while the runs ran
