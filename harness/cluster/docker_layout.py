"""A testnet laid out for containers: one container per validator on a private network.

Container ``vi`` (its network alias) listens on fixed ports on every interface; node i
reaches peer j through the Toxiproxy container at ``toxiproxy:<port of link vi_to_vj>``,
which forwards to ``vj:26656``. The same keys, genesis and manifest machinery as the local
layout writes the files; ``toxiproxy.json`` in the testnet root lists every proxy in the
format both ``toxiproxy-server -config`` and ``POST /populate`` read.

Inside a container the testnet root is ``/testnet`` (configs name the key and genesis by
relative paths, so ``/testnet/vi/node.toml`` finds them) and the node's data directory is
the volume at ``/data``.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

from harness.cluster.testnet import (
    NodeLayout,
    NodeSpec,
    TestnetError,
    TestnetManifest,
    new_validators,
    pair_links,
    proxy_specs,
    write_testnet,
)
from harness.contract.genesis import ConsensusParams
from harness.contract.node_config import HostPort
from harness.contract.params import ClpParams

LAYOUT = "docker"
P2P_PORT = 26656
API_PORT = 8080
TOXIPROXY_HOST = "toxiproxy"
TOXIPROXY_API_PORT = 8474
LINK_PORT_BASE = 20000
CONTAINER_ROOT = "/testnet"
DATA_DIR = "/data"
POPULATE_FILE = "toxiproxy.json"
ANY_HOST = "0.0.0.0"


class DockerNodeLayout(NodeLayout):
    """Listen on every interface of the container; dial peers through the proxy container."""

    name = LAYOUT
    data_dir = Path(DATA_DIR)

    def listen(self, node: NodeSpec, port: int) -> HostPort:
        return HostPort(ANY_HOST, port)

    def proxy_host(self, src: NodeSpec) -> str:
        return TOXIPROXY_HOST


DOCKER_LAYOUT = DockerNodeLayout()


def init_docker_testnet(
    root: Path,
    validators: int = 5,
    clp: ClpParams | None = None,
    consensus: ConsensusParams | None = None,
    chain_id: str = "clp-testnet",
    stakes: list[int] | None = None,
    proxied: bool = True,
    test_hooks: bool = True,
    seed: str | None = None,
) -> TestnetManifest:
    """Write a container testnet under ``root`` (same keys and genesis as the local layout)."""
    vals = new_validators(root, validators, stakes, seed, chain_id)
    names = vals.names
    nodes = [
        NodeSpec(name, vals.keys[name].address, name, P2P_PORT, API_PORT, vals.stakes[name])
        for name in names
    ]
    links = pair_links(names, itertools.count(LINK_PORT_BASE)) if proxied else []
    manifest = write_testnet(
        root,
        chain_id,
        vals,
        nodes,
        links,
        TOXIPROXY_API_PORT if proxied else 0,
        clp or ClpParams.test_profile(),
        consensus or ConsensusParams.test_profile(),
        test_hooks,
        DOCKER_LAYOUT,
    )
    if proxied:
        (root / POPULATE_FILE).write_text(
            json.dumps(container_proxy_specs(manifest), indent=2) + "\n"
        )
    return manifest


def require_docker_layout(manifest: TestnetManifest) -> None:
    if manifest.layout != LAYOUT:
        raise TestnetError(
            f"{manifest.root} is laid out for {manifest.layout!r} processes, not containers "
            "(create it with the docker backend, e.g. `clp-testnet init --backend docker`)"
        )


def container_proxy_specs(manifest: TestnetManifest, enabled: bool = True) -> list[dict[str, Any]]:
    """One Toxiproxy proxy per link: listens in the proxy container, forwards to vj's p2p."""
    return proxy_specs(manifest, ANY_HOST, enabled=enabled)


def container_config_path(name: str) -> str:
    """Where node ``name``'s config is inside its container."""
    return f"{CONTAINER_ROOT}/{name}/node.toml"


NODE_ENTRYPOINT = ["clp-node"]


def node_command(name: str) -> list[str]:
    """Arguments to ``NODE_ENTRYPOINT``: the node contract's start (CLP_SPEC §9) for ``name``."""
    return ["--config", container_config_path(name)]


def node_files(manifest: TestnetManifest, name: str) -> dict[str, Path]:
    """Files node ``name`` needs, keyed by their path under the container's testnet root."""
    return {
        "genesis.json": manifest.root / "genesis.json",
        f"{name}/node.toml": manifest.config_path(name),
        f"{name}/key.json": manifest.node_dir(name) / "key.json",
    }
