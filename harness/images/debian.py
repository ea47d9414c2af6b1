"""A Debian base image made here, for machines that cannot pull one from a registry.

``debootstrap`` installs a minimal Debian with Python into a folder of the cache (never the
repository) from the mirror the host's apt already uses; ``docker import`` turns the folder
into ``clp-testnet/debian-base:<suite>-<hash>``. The hash covers what was installed, so the
tag is the cache: once it exists nothing is downloaded again.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from harness.images import docker_cli
from harness.images.docker_cli import ImagesError, Lines

SUITE = "bookworm"  # Python 3.11, the host's: wheels built here fit the image
VARIANT = "minbase"
# iptables and iproute2: the packet-loss and netem fault kinds act inside node containers
INCLUDE = ("python3", "python3-venv", "ca-certificates", "iptables", "iproute2")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
BASE_REPO = "clp-testnet/debian-base"
APT_SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))


@dataclass(frozen=True)
class BaseRecipe:
    suite: str = SUITE
    variant: str = VARIANT
    include: tuple[str, ...] = INCLUDE

    @property
    def tag(self) -> str:
        text = f"{self.suite}\n{self.variant}\n" + "\n".join(sorted(self.include))
        return f"{BASE_REPO}:{self.suite}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def _one_line_entries(text: str) -> Iterable[tuple[str, list[str]]]:
    """``deb [options] URI suite components...`` lines of a sources.list."""
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        line = re.sub(r"\[[^\]]*\]", " ", line)
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "deb":
            yield parts[1], [parts[2]]


def _deb822_entries(text: str) -> Iterable[tuple[str, list[str]]]:
    """Stanzas of a ``.sources`` file with ``Types: deb``; one entry per URI."""
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for raw in stanza.splitlines():
            if raw.startswith("#") or ":" not in raw or raw[:1].isspace():
                continue
            key, _, value = raw.partition(":")
            fields[key.strip().lower()] = value.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        suites = fields.get("suites", "").split()
        for uri in fields.get("uris", "").split():
            yield uri, suites


def mirror_from_sources(files: dict[str, str], suite: str = SUITE) -> str | None:
    """The first Debian mirror serving ``suite`` in apt source texts (name -> content)."""
    for name in sorted(files):
        text = files[name]
        entries = _deb822_entries(text) if name.endswith(".sources") else _one_line_entries(text)
        for uri, suites in entries:
            if suite in suites and uri.startswith(("http://", "https://", "file:/")):
                return uri.rstrip("/")
    return None


def host_mirror(suite: str = SUITE) -> str:
    """The host's apt mirror for ``suite``, else deb.debian.org."""
    texts: dict[str, str] = {}
    for source in APT_SOURCES:
        paths = sorted(source.glob("*")) if source.is_dir() else [source]
        for path in paths:
            if path.is_file() and path.name.endswith((".list", ".sources")):
                texts[str(path)] = path.read_text(errors="replace")
    return mirror_from_sources(texts, suite) or DEFAULT_MIRROR


def _require_debootstrap() -> str:
    path = shutil.which("debootstrap") or shutil.which("debootstrap", path="/usr/sbin:/sbin")
    if path is None:
        raise ImagesError(
            "no base image could be pulled and debootstrap is not installed: install it "
            "(`apt-get install -y debootstrap`) or pass --base-image with a local Python 3.11 "
            "image"
        )
    if os.geteuid() != 0:
        raise ImagesError(
            "building the Debian base needs root (debootstrap): run `clp-testnet images build` "
            "once as root, or pass --base-image with a local Python 3.11 image"
        )
    return path


def build_base(recipe: BaseRecipe, cache: Path, on_line: Lines, mirror: str | None = None) -> str:
    """Debootstrap (unless the folder is complete already) and import; returns the tag."""
    rootfs = cache / "rootfs" / recipe.tag.split(":", 1)[1]
    done_mark = rootfs.with_name(rootfs.name + ".complete")
    if not done_mark.exists():
        debootstrap = _require_debootstrap()
        shutil.rmtree(rootfs, ignore_errors=True)
        rootfs.parent.mkdir(parents=True, exist_ok=True)
        url = mirror or host_mirror(recipe.suite)
        on_line(f"debootstrap {recipe.suite} from {url}")
        args = [
            debootstrap,
            f"--variant={recipe.variant}",
            f"--include={','.join(recipe.include)}",
            recipe.suite,
            str(rootfs),
            url,
        ]
        docker_cli.stream(args, on_line, what="debootstrap")
        for leftover in (rootfs / "var/cache/apt/archives").glob("*.deb"):
            leftover.unlink()
        shutil.rmtree(rootfs / "var/lib/apt/lists", ignore_errors=True)
        (rootfs / "var/lib/apt/lists/partial").mkdir(parents=True, exist_ok=True)
        done_mark.touch()
    labels = {docker_cli.PROJECT_LABEL: "debian-base"}
    docker_cli.import_rootfs(rootfs, recipe.tag, labels, on_line)
    return recipe.tag
