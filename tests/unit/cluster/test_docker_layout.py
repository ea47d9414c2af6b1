"""The container layout of a testnet: endpoints through the proxy container, the populate
file, the manifest's layout, and that the local layout is untouched by the shared code."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from clp_node.config import NodeConfig
from harness.cluster import docker_layout as dl
from harness.cluster.backends import init_for_backend, make_cluster
from harness.cluster.testnet import TestnetError, TestnetManifest, init_testnet


def config_of(manifest: TestnetManifest, name: str) -> NodeConfig:
    return NodeConfig.load(manifest.config_path(name))


def test_nodes_listen_on_fixed_container_ports_on_every_interface(tmp_path: Path) -> None:
    m = dl.init_docker_testnet(tmp_path / "net", validators=4, seed="s")
    for node in m.nodes:
        cfg = config_of(m, node.name)
        assert (node.host, node.p2p_port, node.api_port) == (node.name, 26656, 8080)
        assert str(cfg.p2p_listen) == "0.0.0.0:26656"
        assert str(cfg.api_listen) == "0.0.0.0:8080"
        assert cfg.data_dir == Path("/data")


def test_node_i_dials_the_proxy_container_at_the_port_of_link_i_to_j(tmp_path: Path) -> None:
    m = dl.init_docker_testnet(tmp_path / "net", validators=4, seed="s")
    assert len(m.links) == 4 * 3
    for node in m.nodes:
        peers = {p.name: p for p in config_of(m, node.name).peers}
        assert sorted(peers) == sorted(n.name for n in m.nodes if n.name != node.name)
        for dst, peer in peers.items():
            assert peer.endpoint.host == "toxiproxy"
            assert peer.endpoint.port == m.link(node.name, dst).listen_port
            assert peer.address == m.node(dst).address
    ports = [link.listen_port for link in m.links]
    assert len(set(ports)) == len(ports), "two links share a proxy port"


def test_populate_file_lists_every_link_to_its_destination(tmp_path: Path) -> None:
    m = dl.init_docker_testnet(tmp_path / "net", validators=3, seed="s")
    specs = json.loads((m.root / dl.POPULATE_FILE).read_text())
    assert specs == dl.container_proxy_specs(m)
    by_name = {s["name"]: s for s in specs}
    assert sorted(by_name) == sorted(link.name for link in m.links)
    for link in m.links:
        s = by_name[link.name]
        assert s["listen"] == f"0.0.0.0:{link.listen_port}"
        assert s["upstream"] == f"{link.dst}:26656"
        assert s["enabled"] is True  # docker compose has no harness to connect them later
        assert s["enabled"] is True


def test_manifest_records_the_docker_layout_and_round_trips(tmp_path: Path) -> None:
    m = dl.init_docker_testnet(tmp_path / "net", validators=3, seed="s")
    assert json.loads((m.root / "manifest.json").read_text())["layout"] == "docker"
    loaded = TestnetManifest.load(m.root)
    assert loaded.layout == "docker"
    assert loaded.nodes == m.nodes and loaded.links == m.links
    assert loaded.toxiproxy_port == dl.TOXIPROXY_API_PORT


def test_local_manifest_keeps_its_shape_and_loads_as_local(tmp_path: Path) -> None:
    m = init_testnet(tmp_path / "net", validators=3, seed="s")
    assert "layout" not in json.loads((m.root / "manifest.json").read_text())
    assert TestnetManifest.load(m.root).layout == "local"
    cfg = config_of(m, "v0")
    assert cfg.p2p_listen.host == "127.0.0.1" and cfg.data_dir == m.node_dir("v0") / "data"
    assert {p.endpoint.host for p in cfg.peers} == {"127.0.0.1"}


def test_both_layouts_share_keys_and_genesis(tmp_path: Path) -> None:
    local = init_testnet(tmp_path / "local", validators=4, seed="same")
    docker = dl.init_docker_testnet(tmp_path / "docker", validators=4, seed="same")
    assert (local.root / "genesis.json").read_bytes() == (docker.root / "genesis.json").read_bytes()
    for name in ("v0", "v3"):
        key = (local.node_dir(name) / "key.json").read_bytes()
        assert key == (docker.node_dir(name) / "key.json").read_bytes()


def test_unproxied_docker_layout_dials_peers_directly(tmp_path: Path) -> None:
    m = dl.init_docker_testnet(tmp_path / "net", validators=3, proxied=False, seed="s")
    assert m.links == [] and m.toxiproxy_port == 0
    assert not (m.root / dl.POPULATE_FILE).exists()
    peers = config_of(m, "v1").peers
    assert {str(p.endpoint) for p in peers} == {"v0:26656", "v2:26656"}


def test_init_for_backend_docker_writes_the_docker_layout(tmp_path: Path) -> None:
    m = init_for_backend("docker", tmp_path / "net", validators=2, seed="s", host="1.2.3.4")
    assert m.layout == "docker"
    raw = tomllib.loads(m.config_path("v0").read_text())
    assert raw["listen"]["api"] == "0.0.0.0:8080"


def test_bad_requests_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(TestnetError, match="at least one validator"):
        dl.init_docker_testnet(tmp_path / "a", validators=0)
    with pytest.raises(TestnetError, match="2 stakes given for 3"):
        dl.init_docker_testnet(tmp_path / "b", validators=3, stakes=[1, 2])
    dl.init_docker_testnet(tmp_path / "c", validators=1)
    with pytest.raises(TestnetError, match="already holds a testnet"):
        dl.init_docker_testnet(tmp_path / "c", validators=1)
    with pytest.raises(TestnetError, match="unknown backend 'k8s'"):
        init_for_backend("k8s", tmp_path / "d")


def test_layouts_and_backends_must_match(tmp_path: Path) -> None:
    local = init_testnet(tmp_path / "local", validators=1, seed="s")
    docker = dl.init_docker_testnet(tmp_path / "docker", validators=1, seed="s")
    with pytest.raises(TestnetError, match="not containers"):
        dl.require_docker_layout(local)
    with pytest.raises(TestnetError, match="run it with --backend docker"):
        make_cluster("local", docker)


def test_node_files_and_command_point_into_the_container_root(tmp_path: Path) -> None:
    m = dl.init_docker_testnet(tmp_path / "net", validators=2, seed="s")
    files = dl.node_files(m, "v1")
    assert set(files) == {"genesis.json", "v1/node.toml", "v1/key.json"}
    assert all(p.is_file() for p in files.values())
    assert dl.node_command("v1") == ["--config", "/testnet/v1/node.toml"]
    # the config's relative paths resolve inside the container root
    cfg = NodeConfig.from_dict(
        tomllib.loads(files["v1/node.toml"].read_text()), Path("/testnet/v1"), "node.toml"
    )
    assert cfg.key_file == Path("/testnet/v1/key.json")
    assert cfg.genesis_file.resolve() == Path("/testnet/genesis.json")
