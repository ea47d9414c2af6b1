"""Choosing a node kind: resolved once, where a user starts nodes, into what the backends
read. The CLI and the pytest plugin resolve ``--node`` here (never a backend): a command
template for the local backend, the images for a container backend, handed over by the
variables the backends already read (``CLP_TESTNET_NODE_COMMAND``, ``CLP_TESTNET_NODE_IMAGE``
and ``CLP_TESTNET_TOXIPROXY_IMAGE``), which a user's own setting of them overrides.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from harness.images import NODE_REPO, RUST_NODE_REPO, Images, ImagesError
from harness.node_kinds import (
    NODE_COMMAND_ENV,
    NODE_IMAGE_ENV,
    NODE_KIND_ENV,
    PYTHON,
    RUST,
    TOXIPROXY_IMAGE_ENV,
    NodeKindError,
    node_kind,
)
from harness.node_mix import NODE_MIX_ENV, MixError, format_mix, parse_mix

Progress = Callable[[str], None]


def latest_image(name: str) -> str:
    """The ``latest`` tag of kind ``name``'s node image (what compose files run);
    ``clp-testnet images build --node NAME`` makes it."""
    return f"{RUST_NODE_REPO if node_kind(name).name == RUST else NODE_REPO}:latest"


def local_command(name: str) -> str | None:
    """The local backend's node command for kind ``name``; None: the backend's default.
    An explicit ``CLP_TESTNET_NODE_COMMAND`` wins (and nothing is looked up)."""
    kind = node_kind(name)
    explicit = os.environ.get(NODE_COMMAND_ENV)
    if explicit:
        return explicit
    return kind.command()


def container_images(name: str, progress: Progress | None = None) -> Images | None:
    """The images a container backend runs for kind ``name``; None: the backend's default
    (the Python node's images, built when missing). The images the environment names win."""
    from harness.cluster.containers import images_from_env
    from harness.images import ensure_images, ensure_rust_node_image

    kind = node_kind(name)
    explicit = images_from_env()
    if explicit is not None or kind.name == PYTHON:
        return explicit
    try:
        node = ensure_rust_node_image(progress)
        tox = ensure_images(progress)  # the Toxiproxy image the Python testnet gets too
    except ImagesError as exc:
        raise NodeKindError(str(exc)) from exc
    return Images(node, tox.toxiproxy, tox.toxiproxy_official)


def node_variables(name: str, backend: str, progress: Progress | None = None) -> dict[str, str]:
    """What kind ``name`` on ``backend`` sets in the environment the backends read: a node
    command for the local backend, the images for a container backend (nothing for the
    defaults, nor over variables the user set)."""
    if backend == "local":
        command = local_command(name)
        explicit = os.environ.get(NODE_COMMAND_ENV)
        if explicit:
            return {}
        return {NODE_KIND_ENV: name, **({NODE_COMMAND_ENV: command} if command else {})}
    images = container_images(name, progress)
    if os.environ.get(NODE_IMAGE_ENV):
        return {}
    if images is None:
        return {NODE_KIND_ENV: name}
    return {
        NODE_KIND_ENV: name,
        NODE_IMAGE_ENV: images.node,
        TOXIPROXY_IMAGE_ENV: images.toxiproxy,
    }


def mix_variables(mix: str, backend: str, progress: Progress | None = None) -> dict[str, str]:
    """What ``--mix`` sets: the mix itself (read where testnets are made), after checking
    every kind in it can start here (an unbuilt Rust node: one line, nothing started)."""
    try:
        counts = parse_mix(mix)
    except MixError as exc:
        raise NodeKindError(str(exc)) from exc
    from harness.cluster.containers import kind_images

    for kind in counts:
        if backend == "local":
            node_kind(kind).command()
        else:
            kind_images(kind, progress)
    return {NODE_MIX_ENV: format_mix(counts)}


@contextmanager
def node_environment(
    name: str, backend: str, progress: Progress | None = None, mix: str | None = None
) -> Iterator[None]:
    """Run the body with kind ``name`` (or the mix ``mix``, ``python:3,rust:2``) resolved
    for ``backend``; the environment as it was afterwards. Resolution errors (unknown kind,
    unbuilt binary, a bad mix) come before the body."""
    wanted = node_variables(name, backend, progress)
    if mix:
        wanted |= mix_variables(mix, backend, progress)
    with scoped_environ(wanted):
        yield


@contextmanager
def scoped_environ(wanted: dict[str, str], cleared: Iterable[str] = ()) -> Iterator[None]:
    """Set ``wanted`` and unset ``cleared`` for the body; every variable as it was after."""
    saved = {k: os.environ.get(k) for k in (*wanted, *cleared)}
    for k in cleared:
        os.environ.pop(k, None)
    os.environ.update(wanted)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
