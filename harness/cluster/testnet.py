"""``clp-testnet init``: keys, a genesis and one node config per validator, plus a manifest.

The manifest is how the harness knows a testnet without reading node internals: names,
addresses, API and P2P ports, and for every ordered pair (i, j) the fault-proxy link
``vi_to_vj`` that node i dials to send to node j.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.cluster.ports import free_ports
from harness.cluster.proxy_shards import hard_open_files, server_of, servers_needed
from harness.contract.genesis import (
    ConsensusParams,
    GenesisValidator,
    chain_id_problem,
    genesis_document,
    write_genesis,
)
from harness.contract.keys import ValidatorKey
from harness.contract.node_config import HostPort, Peer, node_config_document, write_node_config
from harness.contract.params import ClpParams

MANIFEST = "manifest.json"
DEFAULT_STAKE = 100_000


class TestnetError(ValueError):
    """A testnet definition that cannot be generated or loaded."""

    __test__ = False


@dataclass(frozen=True)
class NodeSpec:
    name: str
    address: str
    host: str
    p2p_port: int
    api_port: int
    stake: int

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"


def link_name(src: str, dst: str) -> str:
    """The proxy of the directed link src -> dst (node src dials dst through it)."""
    return f"{src}_to_{dst}"


def link_ends(name: str) -> tuple[str, str]:
    """``vi_to_vj`` -> (vi, vj): the inverse of ``link_name``."""
    src, sep, dst = name.partition("_to_")
    if not sep or not src or not dst:
        raise ValueError(f"not a link name: {name!r}")
    return src, dst


@dataclass(frozen=True)
class LinkSpec:
    """The proxy carrying src -> dst traffic: listens on listen_port, forwards to dst's p2p."""

    src: str
    dst: str
    listen_port: int

    @property
    def name(self) -> str:
        return link_name(self.src, self.dst)


def proxy_specs(
    manifest: TestnetManifest,
    listen_host: str,
    links: list[LinkSpec] | None = None,
    enabled: bool = True,
) -> list[dict[str, Any]]:
    """The ``POST /populate`` body of ``links`` (default: every link of ``manifest``): each
    proxy listens on ``listen_host`` and forwards to its destination's p2p address.
    ``enabled`` False: created with their listeners closed (``Cluster.start``'s held
    links)."""
    by_name = {n.name: n for n in manifest.nodes}
    return [
        {
            "name": link.name,
            "listen": f"{listen_host}:{link.listen_port}",
            "upstream": f"{by_name[link.dst].host}:{by_name[link.dst].p2p_port}",
            "enabled": enabled,
        }
        for link in (manifest.links if links is None else links)
    ]


def pair_links(names: list[str], ports: Iterator[int]) -> list[LinkSpec]:
    """One link per ordered pair of distinct nodes, each on the next of ``ports``."""
    return [LinkSpec(a, b, next(ports)) for a in names for b in names if a != b]


@dataclass
class TestnetManifest:
    __test__ = False

    root: Path
    chain_id: str
    nodes: list[NodeSpec]
    links: list[LinkSpec] = field(default_factory=list)
    toxiproxy_port: int = 0
    clp: dict[str, int] = field(default_factory=dict)
    consensus: dict[str, int] = field(default_factory=dict)
    layout: str = "local"
    #: The token the nodes' test hooks require (docs/hooks.md); "" when they are off.
    hooks_token: str = ""
    #: The node kind (harness.node_kinds) each validator runs, for a testnet whose nodes
    #: were chosen one by one (a mixed testnet); empty: every node runs the backend's one
    #: node (``--node`` or the environment).
    implementations: dict[str, str] = field(default_factory=dict)
    #: The API ports of the proxy servers after the first (``toxiproxy_port``), for a
    #: testnet whose links one server could not hold (harness.cluster.proxy_shards).
    toxiproxy_more_ports: list[int] = field(default_factory=list)

    def node(self, name: str) -> NodeSpec:
        for n in self.nodes:
            if n.name == name:
                return n
        known = ", ".join(n.name for n in self.nodes)
        raise TestnetError(f"no node named {name!r} (known: {known})")

    def node_dir(self, name: str) -> Path:
        return self.root / name

    def config_path(self, name: str) -> Path:
        return self.node_dir(name) / "node.toml"

    @property
    def proxied(self) -> bool:
        return bool(self.links)

    @property
    def toxiproxy_ports(self) -> list[int]:
        """Every proxy server's API port; none when the nodes dial each other directly."""
        return [self.toxiproxy_port, *self.toxiproxy_more_ports] if self.proxied else []

    def proxy_servers(self) -> list[tuple[int, list[LinkSpec]]]:
        """Each proxy server's API port with the links it carries."""
        ports = self.toxiproxy_ports
        shares: list[list[LinkSpec]] = [[] for _ in ports]
        for i, link in enumerate(self.links):
            shares[server_of(i, len(self.links), len(ports))].append(link)
        return list(zip(ports, shares, strict=True))

    def link(self, src: str, dst: str) -> LinkSpec:
        for link in self.links:
            if link.src == src and link.dst == dst:
                return link
        raise TestnetError(f"no link {link_name(src, dst)}")

    def clp_config(self) -> ClpParams:
        return ClpParams.from_dict(self.clp)

    def save(self) -> None:
        data = {
            "chain_id": self.chain_id,
            "nodes": [asdict(n) for n in self.nodes],
            "links": [asdict(link) for link in self.links],
            "toxiproxy_port": self.toxiproxy_port,
            "clp": self.clp,
            "consensus": self.consensus,
        }
        if self.layout != "local":  # local manifests keep their original shape
            data["layout"] = self.layout
        if self.hooks_token:
            data["hooks_token"] = self.hooks_token
        if self.implementations:
            data["implementations"] = self.implementations
        if self.toxiproxy_more_ports:
            data["toxiproxy_more_ports"] = self.toxiproxy_more_ports
        (self.root / MANIFEST).write_text(json.dumps(data, indent=2) + "\n")

    @classmethod
    def load(cls, root: Path) -> TestnetManifest:
        path = root / MANIFEST
        try:
            data: dict[str, Any] = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise TestnetError(f"{root}: no testnet here (run `clp-testnet init` first)") from exc
        except json.JSONDecodeError as exc:
            raise TestnetError(f"{path}: not valid JSON ({exc.msg})") from exc
        try:
            return cls(
                root=root,
                chain_id=data["chain_id"],
                nodes=[NodeSpec(**n) for n in data["nodes"]],
                links=[LinkSpec(**link) for link in data.get("links", [])],
                toxiproxy_port=data.get("toxiproxy_port", 0),
                clp=data.get("clp", {}),
                consensus=data.get("consensus", {}),
                layout=data.get("layout", "local"),
                hooks_token=str(data.get("hooks_token", "")),
                implementations={
                    str(k): str(v) for k, v in data.get("implementations", {}).items()
                },
                toxiproxy_more_ports=[int(p) for p in data.get("toxiproxy_more_ports", [])],
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise TestnetError(f"{path}: malformed manifest ({exc})") from exc


@dataclass(frozen=True)
class Validators:
    """Names, keys and stakes of a new testnet: what every layout shares."""

    names: list[str]
    keys: dict[str, ValidatorKey]
    stakes: dict[str, int]
    hooks_token: str


def new_validators(
    root: Path,
    validators: int,
    stakes: list[int] | None,
    seed: str | None,
    chain_id: str = "clp-testnet",
) -> Validators:
    """Check the request, claim ``root`` and make the keys (derived from ``seed`` when given)."""
    problem = chain_id_problem(chain_id)
    if problem:
        raise TestnetError(f"chain id {chain_id!r}: {problem}")
    if validators < 1:
        raise TestnetError("a testnet needs at least one validator")
    if stakes is not None and len(stakes) != validators:
        raise TestnetError(f"{len(stakes)} stakes given for {validators} validators")
    if stakes is not None and any(s <= 0 for s in stakes):
        raise TestnetError(f"stakes must be positive integers, got {stakes}")
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / ".clp-testnet-write-check"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise TestnetError(
            f"{root}: cannot create the testnet here ({exc.strerror or exc})"
        ) from exc
    if (root / MANIFEST).exists():
        raise TestnetError(f"{root} already holds a testnet (remove it or choose another dir)")
    names = [f"v{i}" for i in range(validators)]
    keys = {
        name: ValidatorKey.of_testnet(seed, name) if seed else ValidatorKey.generate()
        for name in names
    }
    stake_of = dict(zip(names, stakes or [DEFAULT_STAKE] * validators, strict=True))
    # Per testnet, so a token seen in one testnet opens no other; reproducible with a seed.
    token = (
        hashlib.sha256(f"{seed}/test-hooks".encode()).hexdigest()[:32]
        if seed
        else secrets.token_hex(16)
    )
    return Validators(names, keys, stake_of, token)


class NodeLayout:
    """Where a node listens, what it dials for each peer and where it keeps its data.

    The local layout: every node on one host with its own ports, data beside its config.
    Other layouts (containers) subclass it; the keys, genesis and manifest stay shared.
    """

    name = "local"
    data_dir = Path("data")

    def listen(self, node: NodeSpec, port: int) -> HostPort:
        return HostPort(node.host, port)

    def proxy_host(self, src: NodeSpec) -> str:
        """Where node ``src`` reaches the listeners of its fault-proxy links."""
        return src.host

    def endpoint(self, manifest: TestnetManifest, src: NodeSpec, dst: NodeSpec) -> HostPort:
        if manifest.proxied:
            return HostPort(self.proxy_host(src), manifest.link(src.name, dst.name).listen_port)
        return HostPort(dst.host, dst.p2p_port)


LOCAL_LAYOUT = NodeLayout()


def init_testnet(
    root: Path,
    validators: int = 5,
    clp: ClpParams | None = None,
    consensus: ConsensusParams | None = None,
    chain_id: str = "clp-testnet",
    stakes: list[int] | None = None,
    proxied: bool = True,
    host: str = "127.0.0.1",
    test_hooks: bool = True,
    seed: str | None = None,
    proxy_servers: int | None = None,
) -> TestnetManifest:
    """Write a complete testnet under ``root``; keys are derived from ``seed`` when given.
    ``proxy_servers`` splits the links over that many proxy servers (None: as few as this
    machine's open-file limit allows, harness.cluster.proxy_shards)."""
    n_links = validators * (validators - 1) if proxied else 0
    wanted = proxy_servers or servers_needed(n_links, hard_open_files())
    servers = max(1, min(n_links, wanted)) if proxied else 0
    # Ports first: a testnet too big for the port range is refused before anything is written.
    ports = free_ports(2 * validators + n_links + servers, host)
    vals = new_validators(root, validators, stakes, seed, chain_id)
    names = vals.names
    nodes = [
        NodeSpec(
            name, vals.keys[name].address, host, ports[2 * i], ports[2 * i + 1], vals.stakes[name]
        )
        for i, name in enumerate(names)
    ]
    links: list[LinkSpec] = []
    if proxied:
        it = iter(ports[2 * validators :])
        links = pair_links(names, it)
        toxiproxy_port = next(it)
        more_ports = [next(it) for _ in range(servers - 1)]
    else:
        toxiproxy_port, more_ports = 0, []
    return write_testnet(
        root,
        chain_id,
        vals,
        nodes,
        links,
        toxiproxy_port,
        clp or ClpParams.test_profile(),
        consensus or ConsensusParams.test_profile(),
        test_hooks,
        LOCAL_LAYOUT,
        more_ports,
    )


def write_testnet(
    root: Path,
    chain_id: str,
    vals: Validators,
    nodes: list[NodeSpec],
    links: list[LinkSpec],
    toxiproxy_port: int,
    clp: ClpParams,
    consensus: ConsensusParams,
    test_hooks: bool,
    layout: NodeLayout,
    toxiproxy_more_ports: list[int] | None = None,
) -> TestnetManifest:
    """Write the genesis, every node's key and config, and the manifest, for any layout.

    Every file is the node contract's (docs/protocol.md §12), checked against its schema.
    """
    genesis = genesis_document(
        chain_id,
        clp,
        consensus,
        (
            GenesisValidator(n, vals.keys[n].address, vals.keys[n].public_key, vals.stakes[n])
            for n in vals.names
        ),
    )
    write_genesis(root / "genesis.json", genesis)
    manifest = TestnetManifest(
        root,
        chain_id,
        nodes,
        links,
        toxiproxy_port,
        clp.to_dict(),
        consensus.to_dict(),
        layout.name,
        vals.hooks_token if test_hooks else "",
        toxiproxy_more_ports=toxiproxy_more_ports or [],
    )
    for node in nodes:
        write_node_files(manifest, node, vals.keys[node.name], test_hooks, layout)
    manifest.save()
    return manifest


def write_node_files(
    manifest: TestnetManifest,
    node: NodeSpec,
    key: ValidatorKey,
    test_hooks: bool,
    layout: NodeLayout = LOCAL_LAYOUT,
) -> Path:
    """Node ``node``'s key file and config; returns the config's path."""
    node_dir = manifest.node_dir(node.name)
    node_dir.mkdir(parents=True, exist_ok=True)
    key.save(node_dir / "key.json")
    doc = node_config_document(
        name=node.name,
        key_file=Path("key.json"),
        genesis_file=Path("../genesis.json"),
        data_dir=layout.data_dir,
        p2p_listen=layout.listen(node, node.p2p_port),
        api_listen=layout.listen(node, node.api_port),
        peers=[
            Peer(p.name, p.address, layout.endpoint(manifest, node, p))
            for p in manifest.nodes
            if p.name != node.name
        ],
        test_hooks=test_hooks,
        hooks_token=manifest.hooks_token if test_hooks else "",
    )
    path = manifest.config_path(node.name)
    write_node_config(path, doc)
    return path
