"""Node config validation: every defect is an error naming the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from clp_node.cli import main as node_main
from clp_node.config import ConfigError, NodeConfig

ADDR = "ab" * 20
GOOD = f"""
[node]
name = "v0"
key_file = "key.json"
genesis_file = "genesis.json"
data_dir = "data"

[listen]
p2p = "127.0.0.1:26656"
api = "127.0.0.1:8080"

[[peers]]
name = "v1"
address = "{ADDR}"
endpoint = "127.0.0.1:30001"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "node.toml"
    path.write_text(text)
    return path


def test_good_config_resolves_paths_relative_to_the_file(tmp_path: Path) -> None:
    cfg = NodeConfig.load(write(tmp_path, GOOD))
    assert cfg.key_file == tmp_path / "key.json"
    assert cfg.peers[0].endpoint.port == 30001
    assert cfg.test_hooks is False


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('name = "v0"', "name = 3", "node.name"),
        ('key_file = "key.json"', "", "node.key_file"),
        ('p2p = "127.0.0.1:26656"', 'p2p = "127.0.0.1"', "listen.p2p"),
        ('api = "127.0.0.1:8080"', 'api = "127.0.0.1:99999"', "listen.api"),
        ('api = "127.0.0.1:8080"', 'api = "127.0.0.1:\u00b2"', "listen.api"),
        (f'address = "{ADDR}"', 'address = "XYZ"', "peers[0].address"),
        ('endpoint = "127.0.0.1:30001"', 'endpoint = ":1"', "peers[0].endpoint"),
        ("[listen]", "[listen]\n[bogus]", "bogus"),
    ],
)
def test_each_defect_names_its_field(tmp_path: Path, old: str, new: str, field: str) -> None:
    assert old in GOOD
    with pytest.raises(ConfigError, match=field.replace("[", r"\[").replace("]", r"\]")):
        NodeConfig.load(write(tmp_path, GOOD.replace(old, new)))


def test_test_hooks_must_be_boolean(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"test_hooks\.enabled"):
        NodeConfig.load(write(tmp_path, GOOD + '\n[test_hooks]\nenabled = "yes"\n'))


def test_not_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        NodeConfig.load(write(tmp_path, "[node\n"))
    with pytest.raises(ConfigError, match="cannot read"):
        NodeConfig.load(tmp_path / "absent.toml")


def test_clp_node_reports_a_bad_config_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, GOOD.replace('name = "v0"', "name = 3"))
    assert node_main(["--config", str(path)]) == 2
    assert "node.name" in capsys.readouterr().err


def test_keygen_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "k.json"
    assert node_main(["keygen", "--out", str(out), "--seed-text", "a"]) == 0
    first = out.read_text()
    assert node_main(["keygen", "--out", str(out)]) == 2
    assert out.read_text() == first


def test_the_node_runs_on_uvloop_unless_asked_for_asyncios_loop() -> None:
    import uvloop

    from clp_node.cli import event_loop_factory
    from clp_node.preflight import NodeError

    factory = event_loop_factory({})
    assert factory is uvloop.new_event_loop
    loop = factory()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()
    assert event_loop_factory({"CLP_NODE_EVENT_LOOP": "asyncio"}) is None
    with pytest.raises(NodeError, match="CLP_NODE_EVENT_LOOP"):
        event_loop_factory({"CLP_NODE_EVENT_LOOP": "trio"})
