"""The debootstrap base: mirror taken from the host's apt sources, tag from its recipe."""

from __future__ import annotations

import pytest

from harness.images import debian
from harness.images.debian import BaseRecipe, mirror_from_sources

DEB822 = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
"""


def test_deb822_sources() -> None:
    assert mirror_from_sources({"debian.sources": DEB822}) == "http://deb.debian.org/debian"
    security = mirror_from_sources({"debian.sources": DEB822}, "bookworm-security")
    assert security == "http://deb.debian.org/debian-security"


def test_one_line_sources_with_options_and_comments() -> None:
    text = (
        "# deb http://commented.example/debian bookworm main\n"
        "deb-src http://src.example/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] https://mirror.example/debian/ bookworm main\n"
    )
    assert mirror_from_sources({"sources.list": text}) == "https://mirror.example/debian"


def test_disabled_stanzas_src_only_and_other_suites_are_skipped() -> None:
    text = (
        "Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\nEnabled: no\n\n"
        "Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n\n"
        "Types: deb\nURIs: https://deb.nodesource.com/node_20.x\nSuites: nodistro\n"
    )
    assert mirror_from_sources({"x.sources": text}) is None


def test_first_file_by_name_wins() -> None:
    files = {
        "b.list": "deb http://b.example/debian bookworm main\n",
        "a.list": "deb http://a.example/debian bookworm main\n",
    }
    assert mirror_from_sources(files) == "http://a.example/debian"


def test_host_mirror_falls_back_to_deb_debian_org(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setattr(debian, "APT_SOURCES", ())
    assert debian.host_mirror() == debian.DEFAULT_MIRROR


def test_recipe_tag_is_stable_and_follows_the_include_list() -> None:
    tag = BaseRecipe().tag
    assert tag == BaseRecipe().tag
    assert tag.startswith("clp-testnet/debian-base:bookworm-")
    assert BaseRecipe(include=("python3", "python3-venv")).tag != tag
    reordered = BaseRecipe(include=tuple(reversed(debian.INCLUDE))).tag
    assert reordered == tag  # the set of packages matters, not their order
    assert BaseRecipe(suite="trixie").tag.startswith("clp-testnet/debian-base:trixie-")
