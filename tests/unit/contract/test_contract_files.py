"""The files the harness writes for a node: schema-valid, accepted by the reference node's
loaders, and refused (naming the field) when they would break a rule."""

from __future__ import annotations

import json
import stat
import tomllib
from pathlib import Path

import pytest

from clp_node.chain.genesis import Genesis
from clp_node.chain.keys import ValidatorKey as NodeKey
from clp_node.config import NodeConfig
from harness.cluster.docker_layout import init_docker_testnet
from harness.cluster.testnet import init_testnet
from harness.contract.genesis import ConsensusParams, genesis_document, write_genesis
from harness.contract.keys import KeyFileError, ValidatorKey
from harness.contract.params import ClpParams, ClpParamsError
from harness.contract.schemas import SCHEMAS, problems, schema, validate


def test_every_schema_is_a_valid_draft_2020_12_schema() -> None:
    from jsonschema import Draft202012Validator

    for name in SCHEMAS:
        Draft202012Validator.check_schema(schema(name))


@pytest.mark.parametrize("init", [init_testnet, init_docker_testnet])
def test_written_testnets_match_the_schemas_and_the_node_loads_them(
    tmp_path: Path, init: object
) -> None:
    m = init(tmp_path, validators=4, seed="files")  # type: ignore[operator]
    genesis = json.loads((tmp_path / "genesis.json").read_text())
    assert problems("genesis", genesis) == []
    loaded = Genesis.load(tmp_path / "genesis.json")
    assert [v.address for v in loaded.validators] == [v["address"] for v in genesis["validators"]]
    assert loaded.clp.to_dict() == ClpParams.test_profile().to_dict()
    for node in m.nodes:
        d = tmp_path / node.name
        key_doc = json.loads((d / "key.json").read_text())
        assert problems("key", key_doc) == []
        assert stat.S_IMODE((d / "key.json").stat().st_mode) == 0o600
        assert NodeKey.load(d / "key.json").address == node.address
        assert ValidatorKey.load(d / "key.json").address == node.address
        config = tomllib.loads((d / "node.toml").read_text())
        assert problems("node-config", config) == []
        cfg = NodeConfig.load(d / "node.toml")
        assert cfg.name == node.name and cfg.test_hooks is True
        assert {p.name for p in cfg.peers} == {n.name for n in m.nodes} - {node.name}


def test_seeded_keys_are_the_same_as_the_nodes_derivation() -> None:
    assert ValidatorKey.from_seed_text("x/v0").seed == NodeKey.from_seed_text("x/v0").seed


def test_schema_errors_name_the_field() -> None:
    doc = genesis_document("c", ClpParams.test_profile(), ConsensusParams.test_profile(), [])
    with pytest.raises(ValueError, match=r"validators: \[\] should be non-empty"):
        validate("genesis", doc)
    doc["clp"]["slash_fraction_bps"] = 10_001
    assert any(p.startswith("clp.slash_fraction_bps:") for p in problems("genesis", doc))
    assert any("private_key" in p for p in problems("key", {"address": "0" * 40}))
    bad = {"node": {"name": "v0"}, "listen": {"p2p": "nohost", "api": "h:1"}, "peers": []}
    found = problems("node-config", bad)
    assert any(p.startswith("listen.p2p:") for p in found), found
    assert any(p.startswith("node:") and "key_file" in p for p in found), found


def test_write_genesis_applies_the_cross_field_rule(tmp_path: Path) -> None:
    doc = genesis_document(
        "c",
        ClpParams.test_profile(),
        ConsensusParams.test_profile(),
        [],
    )
    doc["validators"] = [{"name": "v0", "address": "0" * 40, "public_key": "0" * 64, "stake": 1}]
    doc["clp"]["epoch_length"] = 5  # < K + W = 6, which no JSON Schema can say
    with pytest.raises(ClpParamsError, match="epoch_length must be >= "):
        write_genesis(tmp_path / "genesis.json", doc)
    assert not (tmp_path / "genesis.json").exists()


@pytest.mark.parametrize("section", ["clp", "consensus"])
def test_write_genesis_never_writes_a_missing_parameter(tmp_path: Path, section: str) -> None:
    """The nodes refuse a genesis missing a §2 parameter: the harness never writes one."""
    doc = genesis_document("c", ClpParams.test_profile(), ConsensusParams.test_profile(), [])
    doc["validators"] = [{"name": "v0", "address": "0" * 40, "public_key": "0" * 64, "stake": 1}]
    first = next(iter(doc[section]))
    del doc[section][first]
    with pytest.raises(ValueError, match=first):
        write_genesis(tmp_path / "genesis.json", doc)
    assert not (tmp_path / "genesis.json").exists()


def test_the_shipped_genesis_has_every_parameter() -> None:
    shipped = Path(__file__).resolve().parents[3] / "compose" / "testnet" / "genesis.json"
    doc = json.loads(shipped.read_text())
    assert problems("genesis", doc) == []
    assert Genesis.load(shipped).clp.to_dict() == doc["clp"]


def test_a_bad_key_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "key.json"
    path.write_text('{"address": "00", "public_key": "00", "private_key": "zz"}')
    with pytest.raises(KeyFileError, match=r"key\.json: key document: "):
        ValidatorKey.load(path)
    with pytest.raises(KeyFileError, match="not found"):
        ValidatorKey.load(tmp_path / "missing.json")
