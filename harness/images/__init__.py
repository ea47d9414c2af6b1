"""Docker images of the testnet: the node and the Toxiproxy server, built without a registry.

``ensure_images`` is the one entry point other code uses: it returns image references that
exist locally, building them only when the content tag is missing. The base is the
``BASE_IMAGE`` default (a slim Python image) when it is local or can be pulled, else a
Debian base made here with debootstrap; the project goes in from wheels built on the host.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.cache import cache_dir
from harness.images import content, debian, docker_cli, wheels
from harness.images.docker_cli import ImagesError
from harness.official_toxiproxy import find_official_server

Progress = Callable[[str], None]

DEFAULT_BASE_IMAGE = "python:3.11-slim"
OFFICIAL_TOXIPROXY = "ghcr.io/shopify/toxiproxy:2.12.0"
NODE_REPO = "clp-testnet/node"
TOXIPROXY_REPO = "clp-testnet/toxiproxy"
DOCKERFILES = {"node": "node.Dockerfile", "toxiproxy": "toxiproxy.Dockerfile"}
OFFICIAL_DOCKERFILE = "toxiproxy-official.Dockerfile"
OFFICIAL_FROM_BINARY_REPO = "clp-testnet/toxiproxy-official"
RUST_NODE_REPO = "clp-testnet/node-rs"
RUST_NODE_DOCKERFILE = "node-rs.Dockerfile"
PULL_TIMEOUT = 30.0


@dataclass(frozen=True)
class Images:
    """Local image references a Docker testnet runs."""

    node: str
    toxiproxy: str
    toxiproxy_official: bool


@dataclass(frozen=True)
class Base:
    ref: str
    image_id: str
    made_here: bool


def _quiet(_: str) -> None:
    pass


@contextmanager
def _locked(cache: Path) -> Iterator[None]:
    """One build at a time per machine: concurrent callers wait, then find the tags made."""
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / "images.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _have_or_pull(ref: str, pull_timeout: float, progress: Progress) -> str | None:
    found = docker_cli.image_id(ref)
    if found is None and pull_timeout > 0:
        progress(f"pulling {ref}")
        if docker_cli.pull(ref, pull_timeout):
            found = docker_cli.image_id(ref)
    return found


def resolve_base(
    base_image: str | None,
    progress: Progress,
    detail: Progress,
    pull_timeout: float = PULL_TIMEOUT,
) -> Base:
    """The base image to build on; an explicit ``base_image`` must exist or be pullable."""
    if base_image:
        found = _have_or_pull(base_image, pull_timeout, progress)
        if found is None:
            raise ImagesError(f"base image {base_image!r} is not local and could not be pulled")
        return Base(base_image, found, False)
    default = os.environ.get("CLP_BASE_IMAGE", DEFAULT_BASE_IMAGE)
    found = _have_or_pull(default, pull_timeout, progress)
    if found is not None:
        return Base(default, found, False)
    recipe = debian.BaseRecipe()
    found = docker_cli.image_id(recipe.tag)
    if found is None:
        progress(f"{default} cannot be pulled: building {recipe.tag} with debootstrap")
        debian.build_base(recipe, cache_dir(), detail)
        found = docker_cli.image_id(recipe.tag)
        if found is None:
            raise ImagesError(f"{recipe.tag} is missing right after docker import")
    return Base(recipe.tag, found, True)


def content_tag(base: Base) -> str:
    """The 12-hex tag of the sources, packaging, Dockerfiles and base image together."""
    root = content.project_root()
    extra: dict[str, str | bytes] = {"base": base.image_id}
    for name, filename in DOCKERFILES.items():
        extra[f"dockerfile:{name}"] = dockerfile(filename).read_bytes()
    return content.short(content.content_hash(root, content.source_files(root), extra))


def dockerfile(filename: str) -> Path:
    path = content.project_root() / "compose" / filename
    if not path.is_file():
        raise ImagesError(f"{path} is missing from the source tree")
    return path


def _build_context(base: Base, tag: str, progress: Progress, detail: Progress) -> Path:
    """Wheels for the base's Python in a fresh context folder of the cache."""
    root = content.project_root()
    work = cache_dir() / "build" / tag
    progress(f"checking the Python of {base.ref}")
    target = wheels.probe_image(base.ref)
    host = wheels.Target.host()
    wheels.require_same_python(target, host)
    context = work / "context" / "wheels"
    progress("wheels of the dependencies (cached until pyproject.toml's change)")
    requirements = wheels.runtime_requirements(root / "pyproject.toml")
    deps = wheels.dependency_wheels(requirements, target, cache_dir(), detail)
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(deps, context / "deps")
    progress("wheel of the project")
    source = wheels.stage_sources(root, content.source_files(root), work / "src")
    wheels.project_wheel(source, context / "project", detail)
    names = [
        *wheels.check_wheels(context / "deps", target, host),
        *wheels.check_wheels(context / "project", target, host),
    ]
    progress(f"{len(names)} wheels fit Python {target.python[0]}.{target.python[1]}")
    return work


def _build_image(
    kind: str, repo: str, tag: str, base: Base, context: Path, detail: Progress, no_cache: bool
) -> str:
    ref = f"{repo}:{tag}"
    docker_cli.build(
        dockerfile(DOCKERFILES[kind]),
        context,
        [ref, f"{repo}:latest"],
        {"BASE_IMAGE": base.ref, "CONTENT_TAG": tag},
        detail,
        no_cache=no_cache,
    )
    return ref


def official_toxiproxy(pull_timeout: float, progress: Progress) -> str | None:
    """The official Toxiproxy image when it is local or can be pulled."""
    ref = os.environ.get("CLP_TOXIPROXY_IMAGE", OFFICIAL_TOXIPROXY)
    return ref if _have_or_pull(ref, pull_timeout, progress) is not None else None


def official_from_binary(base: Base, progress: Progress, detail: Progress) -> str | None:
    """An image of the official server built from the binary the local backend would run
    (TOXIPROXY_SERVER or toxiproxy-server on PATH), tagged by the binary's content."""
    binary = find_official_server()
    if binary is None:
        return None
    return _binary_image(
        OFFICIAL_FROM_BINARY_REPO,
        Path(binary),
        OFFICIAL_DOCKERFILE,
        base,
        progress,
        detail,
        name_in_context="toxiproxy-server",
    )


def _binary_image(
    repo: str,
    binary: Path,
    dockerfile_name: str,
    base: Base,
    progress: Progress,
    detail: Progress,
    *,
    name_in_context: str,
) -> str:
    """An image of ``binary`` on ``base``, tagged by the binary's, the Dockerfile's and the
    base's content: a rebuilt binary gives a new tag, an unchanged one builds nothing."""
    dockerfile_path = dockerfile(dockerfile_name)
    digest = hashlib.sha256(binary.read_bytes())
    digest.update(dockerfile_path.read_bytes())
    digest.update(base.image_id.encode())
    ref = f"{repo}:{digest.hexdigest()[:12]}"
    if docker_cli.image_id(ref) is not None:
        return ref
    progress(f"building {ref} from {binary}")
    context = cache_dir() / "build" / repo.rsplit("/", 1)[-1]
    shutil.rmtree(context, ignore_errors=True)
    context.mkdir(parents=True)
    try:
        shutil.copy2(binary, context / name_in_context)
        docker_cli.build(
            dockerfile_path,
            context,
            [ref],
            {"BASE_IMAGE": base.ref, "CONTENT_TAG": ref.rsplit(":", 1)[1]},
            detail,
        )
    finally:
        shutil.rmtree(context, ignore_errors=True)
    return ref


def ensure_rust_node_image(
    progress: Progress | None = None,
    *,
    detail: Progress | None = None,
    base_image: str | None = None,
    pull_timeout: float = PULL_TIMEOUT,
) -> str:
    """The image of the Rust node's release binary (``make rust`` builds the binary)."""
    from harness.node_kinds import NodeKindError, rust_binary

    step = progress or _quiet
    lines = detail or _quiet
    try:
        binary = rust_binary()
    except NodeKindError as exc:
        raise ImagesError(str(exc)) from exc
    docker_cli.require_engine()
    with _locked(cache_dir()):
        base = resolve_base(base_image, step, lines, pull_timeout)
        ref = _binary_image(
            RUST_NODE_REPO,
            binary,
            RUST_NODE_DOCKERFILE,
            base,
            step,
            lines,
            name_in_context="clp-node-rs",
        )
        docker_cli.retag_latest(ref)
        return ref


def ensure_images(
    progress: Progress | None = None,
    *,
    detail: Progress | None = None,
    base_image: str | None = None,
    no_cache: bool = False,
    pull_timeout: float = PULL_TIMEOUT,
    prefer_official_toxiproxy: bool = True,
) -> Images:
    """Return the node and Toxiproxy images, building whatever is missing.

    ``progress`` gets one line per step, ``detail`` every line of debootstrap, pip and
    docker output. ``no_cache`` rebuilds the images without Docker's layer cache (the
    Debian base is kept: remove it with ``clp-testnet images clean --base``).
    """
    step = progress or _quiet
    lines = detail or _quiet
    docker_cli.require_engine()
    with _locked(cache_dir()):
        base = resolve_base(base_image, step, lines, pull_timeout)
        tag = content_tag(base)
        node_ref = f"{NODE_REPO}:{tag}"
        official = None
        if prefer_official_toxiproxy:
            official = official_from_binary(base, step, lines) or official_toxiproxy(
                pull_timeout, step
            )
        tox_ref = official or f"{TOXIPROXY_REPO}:{tag}"
        wanted = [node_ref] if official else [node_ref, tox_ref]
        missing = [ref for ref in wanted if docker_cli.image_id(ref) is None]
        if not missing and not no_cache:
            for ref in wanted:
                docker_cli.retag_latest(ref)
            step(f"images up to date ({tag})")
            return Images(node_ref, tox_ref, official is not None)
        work = _build_context(base, tag, step, lines)
        try:
            step(f"building {node_ref} on {base.ref}")
            _build_image("node", NODE_REPO, tag, base, work / "context", lines, no_cache)
            if official is None:
                step(f"building {tox_ref}")
                # no_cache stays off: the layers it shares with the node are fresh already
                _build_image("toxiproxy", TOXIPROXY_REPO, tag, base, work / "context", lines, False)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        step(f"built {', '.join(wanted)}")
        return Images(node_ref, tox_ref, official is not None)


def project_images(include_base: bool = False) -> list[dict[str, str]]:
    """The project's local images (one row per tag), the Debian base only when asked."""
    rows = docker_cli.labelled_images()
    return [r for r in rows if include_base or not r.get("Repository", "").endswith("-base")]


def clean_images(include_base: bool = False) -> list[str]:
    """Remove the project's images (and the Debian base and its folder when asked)."""
    rows = project_images(include_base)
    refs = [
        f"{r['Repository']}:{r['Tag']}" if r.get("Tag") not in (None, "<none>") else r["ID"]
        for r in rows
    ]
    docker_cli.remove_images(sorted(set(refs)))
    if include_base:
        shutil.rmtree(cache_dir() / "rootfs", ignore_errors=True)
    return refs


__all__ = [
    "DEFAULT_BASE_IMAGE",
    "OFFICIAL_TOXIPROXY",
    "Images",
    "ImagesError",
    "Progress",
    "clean_images",
    "ensure_images",
    "ensure_rust_node_image",
    "project_images",
    "resolve_base",
]
