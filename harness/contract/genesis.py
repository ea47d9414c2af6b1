"""The genesis file (docs/protocol.md §12.1), written from its schema, not by the node.

Validators are listed by address; the CLP section is checked by §2's rules (including
the cross-field one the schema cannot state) before anything is written.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.contract.params import ClpParams
from harness.contract.schemas import schema, validate


def chain_id_problem(chain_id: object) -> str:
    """Why ``chain_id`` cannot name a chain, or "" when it can (the genesis schema's rule)."""
    from jsonschema import Draft202012Validator

    rule = schema("genesis")["properties"]["chain_id"]
    errors = list(Draft202012Validator(rule).iter_errors(chain_id))
    if not errors:
        return ""
    return f"{rule['minLength']} to {rule['maxLength']} printable ASCII characters are required"


@dataclass(frozen=True)
class ConsensusParams:
    """Timing of BFT rounds (milliseconds), frozen in genesis so every node runs one schedule."""

    block_interval_ms: int = 1000
    timeout_propose_ms: int = 3000
    timeout_prevote_ms: int = 1000
    timeout_precommit_ms: int = 1000
    timeout_delta_ms: int = 500

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")

    @classmethod
    def test_profile(cls) -> ConsensusParams:
        """200 ms blocks (§2's test profile)."""
        return cls(
            block_interval_ms=200,
            timeout_propose_ms=600,
            timeout_prevote_ms=300,
            timeout_precommit_ms=300,
            timeout_delta_ms=200,
        )

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class GenesisValidator:
    name: str
    address: str
    public_key: bytes
    stake: int


def genesis_document(
    chain_id: str,
    clp: ClpParams,
    consensus: ConsensusParams,
    validators: Iterable[GenesisValidator],
) -> dict[str, Any]:
    """The genesis JSON: committee sorted by address (the order §6-§7 iterate in)."""
    return {
        "chain_id": chain_id,
        "clp": clp.to_dict(),
        "consensus": consensus.to_dict(),
        "validators": [
            {
                "name": v.name,
                "address": v.address,
                "public_key": v.public_key.hex(),
                "stake": v.stake,
            }
            for v in sorted(validators, key=lambda v: v.address)
        ],
    }


def write_genesis(path: Path, doc: dict[str, Any]) -> None:
    """Check ``doc`` against the schema and §2, then write it."""
    validate("genesis", doc)
    ClpParams.from_dict(doc["clp"])
    addresses = [v["address"] for v in doc["validators"]]
    if len(set(addresses)) != len(addresses):
        raise ValueError("genesis document: validators: an address is listed twice")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n")
