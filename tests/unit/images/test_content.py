"""The content tag: stable for an unchanged tree, different after any edit."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.images import content
from harness.images.docker_cli import ImagesError


def make_tree(root: Path) -> Path:
    (root / "clp_node" / "net").mkdir(parents=True)
    (root / "harness").mkdir()
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (root / "README.md").write_text("readme\n")
    (root / "clp_node" / "__init__.py").write_text("")
    (root / "clp_node" / "net" / "peer.py").write_text("X = 1\n")
    (root / "harness" / "cli.py").write_text("def main(): ...\n")
    return root


def tag(root: Path, **extra: str) -> str:
    return content.content_hash(root, content.source_files(root), {"base": "sha256:1", **extra})


def test_source_files_are_the_packages_and_packaging_sorted(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    (root / "harness" / "__pycache__").mkdir()
    (root / "harness" / "__pycache__" / "cli.cpython-311.pyc").write_bytes(b"\0")
    (root / "harness" / "cli.py~").write_text("backup")
    (root / "tests").mkdir()
    (root / "tests" / "test_x.py").write_text("")
    assert content.source_files(root) == [
        "README.md",
        "clp_node/__init__.py",
        "clp_node/net/peer.py",
        "harness/cli.py",
        "pyproject.toml",
    ]


def test_hash_is_stable_and_ignores_bytecode_and_tests(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    first = tag(root)
    (root / "harness" / "__pycache__").mkdir()
    (root / "harness" / "__pycache__" / "cli.cpython-311.pyc").write_bytes(b"\0")
    (root / "tests").mkdir()
    (root / "tests" / "test_x.py").write_text("assert True\n")
    assert tag(root) == first
    assert len(content.short(first)) == content.TAG_LENGTH


@pytest.mark.parametrize(
    "edit",
    [
        lambda r: (r / "clp_node" / "net" / "peer.py").write_text("X = 2\n"),
        lambda r: (r / "harness" / "new.py").write_text(""),
        lambda r: (r / "harness" / "cli.py").rename(r / "harness" / "cli2.py"),
        lambda r: (r / "pyproject.toml").write_text("[project]\nname = 'y'\n"),
    ],
    ids=["edit", "add", "rename", "packaging"],
)
def test_any_source_change_changes_the_hash(tmp_path: Path, edit: object) -> None:
    root = make_tree(tmp_path)
    before = tag(root)
    edit(root)  # type: ignore[operator]
    assert tag(root) != before


def test_base_image_and_dockerfiles_are_part_of_the_hash(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    files = content.source_files(root)
    one = content.content_hash(root, files, {"base": "sha256:1", "dockerfile:node": b"FROM a"})
    assert one != content.content_hash(
        root, files, {"base": "sha256:2", "dockerfile:node": b"FROM a"}
    )
    assert one != content.content_hash(
        root, files, {"base": "sha256:1", "dockerfile:node": b"FROM b"}
    )


def test_file_boundaries_matter(tmp_path: Path) -> None:
    """Moving bytes from one file to the next must not give the same hash."""
    root = make_tree(tmp_path)
    (root / "harness" / "a.py").write_text("ab")
    (root / "harness" / "b.py").write_text("c")
    before = tag(root)
    (root / "harness" / "a.py").write_text("a")
    (root / "harness" / "b.py").write_text("bc")
    assert tag(root) != before


def test_a_missing_package_directory_is_a_clear_error(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    (root / "harness" / "cli.py").unlink()
    (root / "harness").rmdir()
    with pytest.raises(ImagesError, match="harness/ is missing"):
        content.source_files(root)


def test_project_root_is_this_checkout() -> None:
    root = content.project_root()
    assert (root / "pyproject.toml").is_file()
    assert "harness/images/content.py" in content.source_files(root)
