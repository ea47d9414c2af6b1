"""The content tag: one hash over everything that goes into the images.

An unchanged tree gives the same tag, so a build whose tag exists locally is skipped; any
edit to the sources, the packaging, a Dockerfile or the base image gives a new tag.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path

from harness.images.docker_cli import ImagesError

PACKAGES = ("clp_node", "harness")
TOP_FILES = ("pyproject.toml", "README.md")
SKIP_DIRS = {"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"}
SKIP_SUFFIXES = (".pyc", ".pyo", ".swp", "~")
TAG_LENGTH = 12


def project_root() -> Path:
    """The source tree the harness runs from: where pyproject.toml sits above ``harness``."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "pyproject.toml").is_file() or not (root / "clp_node").is_dir():
        raise ImagesError(
            f"no project source tree at {root}: images are built from a clone of the "
            "repository (install it with `pip install -e .`)"
        )
    return root


def source_files(root: Path) -> list[str]:
    """Relative paths of the files the project's wheel is built from, sorted."""
    found = [name for name in TOP_FILES if (root / name).is_file()]
    for package in PACKAGES:
        base = root / package
        if not base.is_dir():
            raise ImagesError(f"{root}: package directory {package}/ is missing")
        for path in base.rglob("*"):
            rel = path.relative_to(root)
            if any(part in SKIP_DIRS for part in rel.parts) or not path.is_file():
                continue
            if path.name.endswith(SKIP_SUFFIXES):
                continue
            found.append(rel.as_posix())
    return sorted(found)


def content_hash(root: Path, files: Iterable[str], extra: Mapping[str, str | bytes]) -> str:
    """sha256 over each file's path and bytes, then each extra input by name."""
    digest = hashlib.sha256()

    def feed(name: str, data: bytes) -> None:
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)

    for rel in files:
        feed(f"file:{rel}", (root / rel).read_bytes())
    for key in sorted(extra):
        value = extra[key]
        feed(f"extra:{key}", value.encode() if isinstance(value, str) else value)
    return digest.hexdigest()


def short(hash_hex: str) -> str:
    return hash_hex[:TAG_LENGTH]
