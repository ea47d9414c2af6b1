"""Choosing a backend by name: the one place that knows which ``Cluster`` classes exist.

Scenarios, the demo and the pytest plugin call ``init_for_backend`` and ``make_cluster``
and never name a backend class, so a scenario cannot tell which backend runs it.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.cluster.base import Cluster
from harness.cluster.testnet import TestnetError, TestnetManifest, init_testnet
from harness.node_mix import MixError, mix_from_env

BACKENDS = ("local", "docker", "swarm")
CONTAINER_BACKENDS = ("docker", "swarm")  # both run the docker layout


def check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise TestnetError(f"unknown backend {backend!r} (choose from: {', '.join(BACKENDS)})")
    return backend


def init_for_backend(
    backend: str, root: Path, nodes: Sequence[str] | None = None, **kwargs: Any
) -> TestnetManifest:
    """Write a testnet laid out for ``backend`` (ports and peer endpoints differ).

    ``nodes``: the node kind of each validator (a mixed testnet), recorded in the manifest
    for the backend to start; None: this process's ``--mix`` if any, else every node the
    backend's one node (``--node``)."""
    check_backend(backend)
    validators = int(kwargs.get("validators", 5))
    try:
        kinds = list(nodes) if nodes is not None else mix_from_env(validators)
        if kinds is not None and len(kinds) != validators:
            raise MixError(f"{len(kinds)} node kinds given for {validators} validators")
    except MixError as exc:
        raise TestnetError(str(exc)) from exc
    if backend in CONTAINER_BACKENDS:
        from harness.cluster.docker_layout import init_docker_testnet

        kwargs.pop("host", None)  # containers have their own addresses
        manifest = init_docker_testnet(root, **kwargs)
    else:
        manifest = init_testnet(root, **kwargs)
    if kinds is not None:
        manifest.implementations = {n.name: k for n, k in zip(manifest.nodes, kinds, strict=True)}
        manifest.save()
    return manifest


def make_cluster(backend: str, manifest: TestnetManifest, log_dir: Path | None = None) -> Cluster:
    check_backend(backend)
    if backend == "docker":
        from harness.cluster.docker import DockerBackend

        return DockerBackend(manifest, log_dir=log_dir)
    if backend == "swarm":
        from harness.cluster.swarm import SwarmBackend

        return SwarmBackend(manifest, log_dir=log_dir)
    if manifest.layout != "local":
        raise TestnetError(
            f"{manifest.root} is laid out for {manifest.layout!r}; run it with --backend "
            f"{manifest.layout}"
        )
    from harness.cluster.local import LocalBackend

    return LocalBackend(manifest, log_dir=log_dir)


def add_backend_options(parser: argparse.ArgumentParser) -> None:
    """``--backend`` and the swarm's ``--registry`` and ``--constraint`` (docs/swarm.md)."""
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="local",
        help="where nodes run: local processes, Docker containers or Docker Swarm services "
        "(default local)",
    )
    parser.add_argument(
        "--registry",
        metavar="HOST:PORT",
        help="swarm: push the images to this registry so every swarm node can pull them",
    )
    parser.add_argument(
        "--constraint",
        action="append",
        default=[],
        metavar="EXPR",
        help="swarm: a placement constraint of every service, e.g. node.labels.clp==yes "
        "(repeatable)",
    )


def apply_backend_options(args: argparse.Namespace) -> None:
    """Hand the swarm options to ``SwarmOptions.from_env`` (also of child processes)."""
    if getattr(args, "registry", None):
        os.environ["CLP_SWARM_REGISTRY"] = args.registry
    if getattr(args, "constraint", None):
        os.environ["CLP_SWARM_CONSTRAINTS"] = ",".join(args.constraint)
