"""The compose project `clp-testnet init --compose` writes, and the one shipped in compose/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cli import main
from harness.cluster.compose import (
    COMPOSE_FILE,
    ENV_FILE,
    PROMETHEUS_FILE,
    PublishedPorts,
    compose_spec,
    env_text,
    prometheus_spec,
    to_yaml,
)
from harness.cluster.docker_layout import init_docker_testnet
from harness.cluster.testnet import TestnetError, TestnetManifest, init_testnet

REPO = Path(__file__).resolve().parents[3]
NODES = ["v0", "v1", "v2", "v3", "v4"]


@pytest.fixture
def manifest(tmp_path: Path) -> TestnetManifest:
    return init_docker_testnet(tmp_path / "net", validators=5, seed="unit")


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def test_services_are_toxiproxy_every_validator_and_prometheus(manifest: TestnetManifest) -> None:
    spec = compose_spec(manifest, PublishedPorts())
    assert list(spec["services"]) == ["toxiproxy", *NODES, "prometheus"]
    assert list(spec["volumes"]) == [f"{n}-data" for n in NODES]
    assert spec["services"]["prometheus"]["profiles"] == ["prometheus"]
    for name in NODES:
        assert "profiles" not in spec["services"][name]


def test_each_node_runs_the_contract_command_with_only_its_own_key(
    manifest: TestnetManifest,
) -> None:
    services = compose_spec(manifest, PublishedPorts())["services"]
    for index, name in enumerate(NODES):
        node = services[name]
        assert node["entrypoint"] == ["clp-node", "--config", f"/testnet/{name}/node.toml"]
        assert node["volumes"] == [
            "./genesis.json:/testnet/genesis.json:ro",
            f"./{name}:/testnet/{name}:ro",
            f"{name}-data:/data",
        ]
        assert node["ports"] == [
            f"${{CLP_BIND:-127.0.0.1}}:${{CLP_{name.upper()}_API_PORT-{18080 + index}}}:8080"
        ]
        assert node["depends_on"] == ["toxiproxy"]


def test_toxiproxy_takes_the_official_flags_and_the_populate_file(
    manifest: TestnetManifest,
) -> None:
    tox = compose_spec(manifest, PublishedPorts())["services"]["toxiproxy"]
    assert tox["command"] == [
        "-host=0.0.0.0",
        "-port=8474",
        "-config=/testnet/toxiproxy.json",
        "-proxy-metrics",
    ]
    assert tox["volumes"] == ["./toxiproxy.json:/testnet/toxiproxy.json:ro"]
    proxies = load(manifest.root / "toxiproxy.json")
    assert len(proxies) == 5 * 4
    assert all(p["listen"].startswith("0.0.0.0:") for p in proxies)


def test_port_zero_lets_docker_pick(manifest: TestnetManifest) -> None:
    ports = PublishedPorts(api_base=None, toxiproxy=None, prometheus=None)
    services = compose_spec(manifest, ports)["services"]
    assert services["v3"]["ports"] == ["${CLP_BIND:-127.0.0.1}:${CLP_V3_API_PORT-}:8080"]
    assert services["toxiproxy"]["ports"] == ["${CLP_BIND:-127.0.0.1}:${CLP_TOXIPROXY_PORT-}:8474"]
    env = env_text(manifest, ports, (1000, 1000))
    assert "CLP_V3_API_PORT=\n" in env and "CLP_TOXIPROXY_PORT=\n" in env


def test_env_names_the_owner_or_leaves_root(manifest: TestnetManifest) -> None:
    assert "CLP_UID=1234\nCLP_GID=99\n" in env_text(manifest, PublishedPorts(), (1234, 99))
    assert "# CLP_UID=0\n" in env_text(manifest, PublishedPorts(), None)


def test_an_unproxied_testnet_has_no_toxiproxy_service(tmp_path: Path) -> None:
    m = init_docker_testnet(tmp_path / "direct", validators=2, proxied=False, seed="d")
    services = compose_spec(m, PublishedPorts())["services"]
    assert "toxiproxy" not in services
    assert "depends_on" not in services["v0"]


def test_prometheus_scrapes_every_node(manifest: TestnetManifest) -> None:
    (job,) = prometheus_spec(manifest)["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == [f"{n}:8080" for n in NODES]


def test_a_local_layout_is_refused(tmp_path: Path) -> None:
    local = init_testnet(tmp_path / "local", validators=2, seed="l")
    with pytest.raises(TestnetError, match="not containers"):
        compose_spec(local, PublishedPorts())


@pytest.mark.parametrize("port", [0, -1, 70000])
def test_bad_ports_are_refused(port: int) -> None:
    with pytest.raises(TestnetError, match=r"want a port in 1\.\.65535"):
        PublishedPorts(toxiproxy=port)


@pytest.mark.parametrize(
    "value",
    [
        {"a": "yes", "b": "1.0", "c": "a: b", "d": "", "e": "${X:-1}:2", "f": "-x=1", "g": "0"},
        {"list": [{"k": [1, 2], "m": True}, "plain", []], "empty": {}},
        {"nested": {"deeper": {"x": ["v0:8080", "null", "~"]}}},
    ],
)
def test_yaml_writer_round_trips(value: dict[str, Any]) -> None:
    assert yaml.safe_load(to_yaml(value)) == value


def test_init_compose_writes_a_complete_project(tmp_path: Path) -> None:
    target = tmp_path / "net"
    assert main(["init", "--compose", "--dir", str(target), "--seed", "s", "-n", "3"]) == 0
    spec = load(target / COMPOSE_FILE)
    assert list(spec["services"]) == ["toxiproxy", "v0", "v1", "v2", "prometheus"]
    assert (target / ENV_FILE).read_text().count("_API_PORT=") == 3
    assert load(target / PROMETHEUS_FILE)["scrape_configs"][0]["job_name"] == "clp-node"
    assert TestnetManifest.load(target).layout == "docker"
    assert (target / "v2" / "node.toml").is_file()


def test_init_compose_dir_points_at_the_testnet_by_relative_path(tmp_path: Path) -> None:
    args = ["init", "--compose", "--dir", str(tmp_path / "c" / "testnet")]
    assert main([*args, "--compose-dir", str(tmp_path / "c"), "-n", "2"]) == 0
    spec = load(tmp_path / "c" / COMPOSE_FILE)
    assert "./testnet/v1:/testnet/v1:ro" in spec["services"]["v1"]["volumes"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--compose-dir", "x"], "--compose-dir goes with --compose"),
        (["--compose", "--api-port-base", "65534"], "--api-port-base 65534"),
        (["--compose", "--api-port-base", "-5"], "--api-port-base -5"),
    ],
)
def test_bad_compose_options_are_clear_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert main(["init", "--dir", str(tmp_path / "bad"), *extra]) == 2
    assert message in capsys.readouterr().out.replace("\n", "")
    assert not (tmp_path / "bad").exists()


def test_shipped_compose_files_match_their_testnet() -> None:
    """compose/ is what `clp-testnet init --compose --dir compose/testnet --compose-dir
    compose` writes: regenerating from its manifest gives the same services."""
    shipped = TestnetManifest.load(REPO / "compose" / "testnet")
    assert [n.name for n in shipped.nodes] == NODES
    expected = compose_spec(shipped, PublishedPorts(), "./testnet")
    assert load(REPO / "compose" / COMPOSE_FILE) == expected
    assert load(REPO / "compose" / PROMETHEUS_FILE) == prometheus_spec(shipped)
