"""The node implementations the harness can run: one registry, read by every backend.

A node kind says how to start its node on the local backend (a command template with
``{config}``) and in containers (an image whose ``clp-node`` takes ``--config``). The
harness knows nodes only through the contract (docs/protocol.md), so a kind is nothing
but these two ways to start one; ``--node NAME`` on the CLI picks a kind, and the
``CLP_TESTNET_NODE_COMMAND`` / ``CLP_TESTNET_NODE_IMAGE`` variables still name any other
implementation.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PYTHON = "python"
RUST = "rust"
DEFAULT_KIND = PYTHON

RUST_BINARY = "clp-node-rs"
RUST_BINARY_ENV = "CLP_NODE_RS"
RUST_BUILD_HINT = (
    "build it with `make rust` (cargo build --release --locked --manifest-path rust/Cargo.toml)"
)


class NodeKindError(ValueError):
    """A node kind that does not exist or cannot be started here; the message says why."""


@dataclass(frozen=True)
class NodeKind:
    """One implementation of the node contract."""

    name: str
    description: str

    def command(self) -> str | None:
        """The local command template, or None for the backend's default (``clp-node``)."""
        if self.name == RUST:
            return f"{rust_binary()} --config {{config}}"
        return None

    def flag(self) -> str:
        """`` --node NAME`` for commands a user copies; empty for the default kind."""
        return "" if self.name == DEFAULT_KIND else f" --node {self.name}"


KINDS: dict[str, NodeKind] = {
    PYTHON: NodeKind(PYTHON, "the reference node, clp_node/ (Python)"),
    RUST: NodeKind(RUST, "the second implementation, rust/ (clp-node-rs)"),
}


def node_kind(name: str) -> NodeKind:
    """The kind called ``name``; a one-line error listing the kinds otherwise."""
    kind = KINDS.get(name)
    if kind is None:
        raise NodeKindError(f"unknown node kind {name!r}: choose one of {', '.join(KINDS)}")
    return kind


def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


def cargo_target_dirs() -> list[Path]:
    """Where a release build of the workspace may be: CARGO_TARGET_DIR, the cache the
    Makefile builds in, then rust/target (a plain ``cargo build`` in the clone)."""
    found: list[Path] = []
    explicit = os.environ.get("CARGO_TARGET_DIR")
    if explicit:
        found.append(Path(explicit))
    cache = os.environ.get("CLP_TESTNET_CACHE")
    if cache:
        found.append(Path(cache) / "cargo-target")
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        found.append(
            (Path(xdg) if xdg else Path.home() / ".cache") / "clp-testnet" / "cargo-target"
        )
    found.append(repo_root() / "rust" / "target")
    return found


def rust_binary() -> Path:
    """The release binary of the Rust node (``CLP_NODE_RS`` names another one)."""
    explicit = os.environ.get(RUST_BINARY_ENV)
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise NodeKindError(f"{RUST_BINARY_ENV}={explicit}: no such file")
        return path.resolve()
    candidates = [d / "release" / RUST_BINARY for d in cargo_target_dirs()]
    built = [path for path in candidates if path.is_file()]
    if built:  # the newest build: a `cargo build` in rust/ after a `make rust` counts
        return max(built, key=lambda path: path.stat().st_mtime).resolve()
    raise NodeKindError(
        f"the Rust node is not built (looked for {candidates[0]} and "
        f"{len(candidates) - 1} other places): {RUST_BUILD_HINT}"
    )


# ---- choosing a kind on the command line (harness.cluster.node_choice resolves it) -------

NODE_COMMAND_ENV = "CLP_TESTNET_NODE_COMMAND"  # harness.cluster.local reads it
NODE_KIND_ENV = "CLP_TESTNET_NODE_KIND"  # the kind the two above were resolved from
CUSTOM = "custom"  # what a node started by a user's own command or image counts as
NODE_IMAGE_ENV = "CLP_TESTNET_NODE_IMAGE"  # harness.cluster.containers reads these two
TOXIPROXY_IMAGE_ENV = "CLP_TESTNET_TOXIPROXY_IMAGE"


def current_kind() -> str:
    """The kind the nodes of an unmixed testnet run in this process: the one ``--node``
    resolved (``CLP_TESTNET_NODE_KIND``), ``custom`` under a user's own command or image,
    else the default."""
    named = os.environ.get(NODE_KIND_ENV)
    if named:
        return named
    if os.environ.get(NODE_COMMAND_ENV) or os.environ.get(NODE_IMAGE_ENV):
        return CUSTOM
    return DEFAULT_KIND


def node_help(default: str | None = DEFAULT_KIND, starts_nodes: bool = True) -> str:
    """The ``--node`` help: the kinds of the registry, and (where nodes start) the
    variables that win over it."""
    kinds = "; ".join(f"{k.name}, {k.description}" for k in KINDS.values())
    text = f"the node implementation: {kinds}" + (f" (default {default})" if default else "")
    if starts_nodes:
        text += f". {NODE_COMMAND_ENV} (local) or {NODE_IMAGE_ENV} (containers), when set, win"
    return text


def add_node_option(
    parser: Any, default: str | None = DEFAULT_KIND, starts_nodes: bool = True, mix: bool = False
) -> None:
    """``--node NAME``, one of the registry's kinds (an argparse parser or group); with
    ``mix``, also ``--mix KIND:COUNT,...`` (harness.node_mix), exclusive with ``--node``."""
    if mix:
        parser = parser.add_mutually_exclusive_group()
        parser.add_argument(
            "--mix",
            metavar="KIND:COUNT,...",
            help="a mixed testnet, e.g. python:3,rust:2: the kinds dealt round-robin over "
            "v0, v1, ... (counts that do not add up to the validators are a pattern repeated "
            "over them); a scenario's own [cluster] nodes win. Exclusive with --node",
        )
    parser.add_argument(
        "--node",
        choices=list(KINDS),
        default=default,
        metavar="NAME",
        help=node_help(default, starts_nodes),
    )
