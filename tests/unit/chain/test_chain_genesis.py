"""Genesis parsing: every defect is a GenesisError naming the field; save/load round trip."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from clp_node.chain.genesis import ConsensusParams, Genesis, GenesisError
from clp_node.clp.types import ClpConfig


@pytest.fixture
def doc(kit: SimpleNamespace) -> dict[str, Any]:
    # validators listed in reverse address order on purpose
    return {
        "chain_id": "clp-test",
        "clp": ClpConfig.test_profile().to_dict(),
        "consensus": ConsensusParams.test_profile().to_dict(),
        "validators": [
            {
                "name": f"v{i}",
                "address": k.address,
                "public_key": k.public_key.hex(),
                "stake": 1000 * (i + 1),
            }
            for i, k in reversed(list(enumerate(kit.keys[:4])))
        ],
    }


def parse(d: object) -> Genesis:
    return Genesis.from_json(d, source="g.json")


def test_parse_ok(doc: dict[str, Any], kit: SimpleNamespace) -> None:
    g = parse(doc)
    assert g.chain_id == "clp-test"
    assert g.clp == ClpConfig.test_profile()
    assert g.consensus == ConsensusParams.test_profile()
    assert [v.address for v in g.validators] == kit.addrs[:4]  # sorted by address
    assert g.total_stake == 10_000
    assert g.stakes() == {kit.addrs[i]: 1000 * (i + 1) for i in range(4)}
    assert g.public_keys() == {k.address: k.public_key for k in kit.keys[:4]}
    assert g.validator(kit.addrs[2]).name == "v2"  # type: ignore[union-attr]
    assert g.validator("ff" * 20) is None


def test_defaults(doc: dict[str, Any], kit: SimpleNamespace) -> None:
    del doc["consensus"]
    for v in doc["validators"]:
        del v["name"], v["address"]
    g = parse(doc)
    assert g.consensus == ConsensusParams()
    assert g.validators[0].name == kit.addrs[0][:8]
    assert g.validators[0].address == kit.addrs[0]


def expect(d: object, *needles: str) -> None:
    with pytest.raises(GenesisError) as exc:
        parse(d)
    msg = str(exc.value)
    assert msg.startswith("g.json: ")
    for n in needles:
        assert n in msg, (n, msg)


def test_not_an_object() -> None:
    expect([], "(document)")
    expect("x", "(document)")


@pytest.mark.parametrize("bad", [None, "", 5, ["t"], "x" * 65, "tab\there", "nl\n"])
def test_bad_chain_id(doc: dict[str, Any], bad: object) -> None:
    if bad is None:
        del doc["chain_id"]
    else:
        doc["chain_id"] = bad
    expect(doc, "chain_id")


def test_chain_id_64_chars_ok(doc: dict[str, Any]) -> None:
    doc["chain_id"] = "c" * 64
    assert parse(doc).chain_id == "c" * 64


@pytest.mark.parametrize(
    ("patch", "needle"),
    [
        ({"response_window": 1}, "response_window"),
        ({"epoch_length": 5}, "epoch_length"),
        ({"min_committee_size": 2}, "min_committee_size"),
        ({"slash_fraction_bps": 10_001}, "slash_fraction_bps"),
        ({"min_stake": True}, "min_stake"),
        ({"epoch_lenght": 20}, "epoch_lenght"),
    ],
)
def test_bad_clp_param(doc: dict[str, Any], patch: dict[str, Any], needle: str) -> None:
    doc["clp"].update(patch)
    expect(doc, "clp", needle)


def test_clp_not_a_table(doc: dict[str, Any]) -> None:
    doc["clp"] = [1]
    expect(doc, "clp")


def test_no_clp_table_is_refused(doc: dict[str, Any]) -> None:
    """§2: the parameters are never defaulted, not even all nine at once."""
    del doc["clp"]
    expect(doc, "g.json: clp: ", "all nine CLP parameters")


@pytest.mark.parametrize("name", ["epoch_length", "min_stake", "systemic_fault_bps"])
def test_a_missing_clp_parameter_is_refused(doc: dict[str, Any], name: str) -> None:
    """One line naming the file, the table and the parameter (the Rust node: the same)."""
    del doc["clp"][name]
    with pytest.raises(GenesisError) as exc:
        parse(doc)
    assert str(exc.value) == f"g.json: clp: missing CLP parameter(s): {name}"


def test_a_missing_clp_parameter_is_refused_from_the_file(
    doc: dict[str, Any], tmp_path: Path
) -> None:
    del doc["clp"]["response_window"]
    path = tmp_path / "genesis.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(GenesisError, match=r"genesis\.json: clp: missing .*response_window$"):
        Genesis.load(path)


@pytest.mark.parametrize(
    ("patch", "needle"),
    [
        ({"block_time_ms": 5}, "consensus.block_time_ms"),
        ({"timeout_propose_ms": 0}, "consensus.timeout_propose_ms"),
        ({"timeout_delta_ms": True}, "consensus.timeout_delta_ms"),
        ({"block_interval_ms": "200"}, "consensus.block_interval_ms"),
        ({"block_interval_ms": 2.5}, "consensus.block_interval_ms"),
    ],
)
def test_bad_consensus(doc: dict[str, Any], patch: dict[str, Any], needle: str) -> None:
    doc["consensus"].update(patch)
    expect(doc, needle)


def test_consensus_not_a_table(doc: dict[str, Any]) -> None:
    doc["consensus"] = "fast"
    expect(doc, "consensus")


@pytest.mark.parametrize("bad", [None, [], {}, "v"])
def test_bad_validators(doc: dict[str, Any], bad: object) -> None:
    if bad is None:
        del doc["validators"]
    else:
        doc["validators"] = bad
    expect(doc, "validators")


def test_validator_not_an_object(doc: dict[str, Any]) -> None:
    doc["validators"][1] = "v1"
    expect(doc, "validators[1]")


@pytest.mark.parametrize("bad", [None, "", "zz" * 32, "ab" * 31, "ab" * 33, 5])
def test_bad_public_key(doc: dict[str, Any], bad: object) -> None:
    if bad is None:
        del doc["validators"][2]["public_key"]
    else:
        doc["validators"][2]["public_key"] = bad
    expect(doc, "validators[2].public_key")


@pytest.mark.parametrize("bad", ["AB" * 20, "ab" * 19, 5, None])
def test_malformed_address(doc: dict[str, Any], bad: object) -> None:
    doc["validators"][0]["address"] = bad
    expect(doc, "validators[0].address")


def test_address_mismatch(doc: dict[str, Any]) -> None:
    doc["validators"][0]["address"] = doc["validators"][1]["address"]
    expect(doc, "validators[0].address", "does not match")


def test_duplicate_validator(doc: dict[str, Any]) -> None:
    doc["validators"].append(copy.deepcopy(doc["validators"][1]))
    expect(doc, "validators[4].address", "duplicate")


@pytest.mark.parametrize("bad", [0, -1, True, False, 1.5, "100", None])
def test_bad_stake(doc: dict[str, Any], bad: object) -> None:
    if bad is None:
        del doc["validators"][3]["stake"]
    else:
        doc["validators"][3]["stake"] = bad
    expect(doc, "validators[3].stake")


def test_stake_one_ok(doc: dict[str, Any]) -> None:
    doc["validators"][3]["stake"] = 1
    assert min(v.stake for v in parse(doc).validators) == 1


@pytest.mark.parametrize("bad", ["", 5])
def test_bad_name(doc: dict[str, Any], bad: object) -> None:
    doc["validators"][0]["name"] = bad
    expect(doc, "validators[0].name")


def test_save_load_round_trip(doc: dict[str, Any], tmp_path: Path) -> None:
    g = parse(doc)
    p = tmp_path / "a" / "genesis.json"
    g.save(p)
    g2 = Genesis.load(p)
    assert g2 == g
    assert g2.hash() == g.hash()
    assert g2.to_json() == g.to_json()
    assert json.loads(p.read_text()) == g.to_json()


def test_hash_stable_and_sensitive(doc: dict[str, Any]) -> None:
    h = parse(doc).hash()
    assert len(h) == 32
    assert parse(copy.deepcopy(doc)).hash() == h
    for mutate in (
        lambda d: d.update(chain_id="other"),
        lambda d: d["clp"].update(slash_fraction_bps=999),
        lambda d: d["consensus"].update(block_interval_ms=201),
        lambda d: d["validators"][0].update(stake=d["validators"][0]["stake"] + 1),
        lambda d: d["validators"][0].update(name="renamed"),
        lambda d: d["validators"].pop(),
    ):
        d = copy.deepcopy(doc)
        mutate(d)
        assert parse(d).hash() != h


def test_load_bad_json_line_number(tmp_path: Path) -> None:
    p = tmp_path / "genesis.json"
    p.write_text('{\n  "chain_id": "t",\n  "validators": [,]\n}\n')
    with pytest.raises(GenesisError, match="line 3") as exc:
        Genesis.load(p)
    assert str(p) in str(exc.value)


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(GenesisError, match="cannot read"):
        Genesis.load(tmp_path / "nope.json")


def test_load_reports_file_and_field(tmp_path: Path, doc: dict[str, Any]) -> None:
    doc["validators"][0]["stake"] = -3
    p = tmp_path / "g.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(GenesisError) as exc:
        Genesis.load(p)
    assert str(exc.value).startswith(f"{p}: validators[0].stake")
