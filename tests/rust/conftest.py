"""Shared helpers for the tests of the Rust implementation (rust/, built by `make rust`)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.node_kinds import cargo_target_dirs


def rust_binary(name: str, env_var: str) -> Path:
    """The built binary ``name``: $env_var, else the release then debug build in each cargo
    target directory the harness looks in for the Rust node (``cargo_target_dirs``).
    Fails (never skips) when none exists: an unbuilt binary is not a passing test."""
    explicit = os.environ.get(env_var)
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            pytest.fail(f"{env_var}={explicit} does not exist; `make rust` builds {name}")
        return path
    for target in cargo_target_dirs():
        for profile in ("release", "debug"):
            path = target / profile / name
            if path.is_file():
                return path
    pytest.fail(f"no {name} binary (set {env_var}, or `make rust` builds it)")


@pytest.fixture(scope="session")
def clp_eval() -> Path:
    """The `clp-eval` binary of the Rust CLP core."""
    return rust_binary("clp-eval", "CLP_EVAL")
