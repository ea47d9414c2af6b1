"""The harness's cache folder: image build contexts, the debootstrap base, the Rust build."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``CLP_TESTNET_CACHE``, else ``$XDG_CACHE_HOME/clp-testnet`` (never in the repository)."""
    explicit = os.environ.get("CLP_TESTNET_CACHE")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "clp-testnet"
