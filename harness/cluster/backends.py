"""Choosing a backend by name: the one place that knows which ``Cluster`` classes exist.

Scenarios, the demo and the pytest plugin call ``init_for_backend`` and ``make_cluster``
and never name a backend class, so a scenario cannot tell which backend runs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.cluster.base import Cluster
from harness.cluster.testnet import TestnetError, TestnetManifest, init_testnet

BACKENDS = ("local", "docker")


def check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise TestnetError(f"unknown backend {backend!r} (choose from: {', '.join(BACKENDS)})")
    return backend


def init_for_backend(backend: str, root: Path, **kwargs: Any) -> TestnetManifest:
    """Write a testnet laid out for ``backend`` (ports and peer endpoints differ)."""
    check_backend(backend)
    if backend == "docker":
        from harness.cluster.docker_layout import init_docker_testnet

        kwargs.pop("host", None)  # containers have their own addresses
        return init_docker_testnet(root, **kwargs)
    return init_testnet(root, **kwargs)


def make_cluster(backend: str, manifest: TestnetManifest, log_dir: Path | None = None) -> Cluster:
    check_backend(backend)
    if backend == "docker":
        from harness.cluster.docker import DockerBackend

        return DockerBackend(manifest, log_dir=log_dir)
    if manifest.layout != "local":
        raise TestnetError(
            f"{manifest.root} is laid out for {manifest.layout!r}; run it with --backend "
            f"{manifest.layout}"
        )
    from harness.cluster.local import LocalBackend

    return LocalBackend(manifest, log_dir=log_dir)
