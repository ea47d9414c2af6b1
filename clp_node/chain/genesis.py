"""The genesis file: chain id, frozen CLP and consensus parameters, the first committee.

Every defect is reported as a GenesisError naming the file and the field, never fixed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from clp_node.chain.keys import PUBLIC_KEY_BYTES, address_from_public_key, is_address
from clp_node.clp.types import ClpConfig, ClpConfigError

MAX_CHAIN_ID_LEN = 64


def chain_id_problem(chain_id: object) -> str:
    """Why ``chain_id`` cannot name a chain, or "" when it can (one rule for node and init)."""
    if not isinstance(chain_id, str) or not chain_id:
        return "a non-empty string is required"
    if len(chain_id) > MAX_CHAIN_ID_LEN or not chain_id.isprintable():
        return f"at most {MAX_CHAIN_ID_LEN} printable characters"
    return ""


class GenesisError(ValueError):
    """A genesis document that cannot start a chain; the message names the field."""


@dataclass(frozen=True)
class ConsensusParams:
    """Timing of BFT rounds; part of genesis so every node runs the same schedule."""

    block_interval_ms: int = 1000
    timeout_propose_ms: int = 3000
    timeout_prevote_ms: int = 1000
    timeout_precommit_ms: int = 1000
    timeout_delta_ms: int = 500

    @classmethod
    def test_profile(cls) -> ConsensusParams:
        return cls(
            block_interval_ms=200,
            timeout_propose_ms=600,
            timeout_prevote_ms=300,
            timeout_precommit_ms=300,
            timeout_delta_ms=200,
        )

    def to_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class GenesisValidator:
    name: str
    address: str
    public_key: bytes
    stake: int

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "address": self.address,
            "public_key": self.public_key.hex(),
            "stake": self.stake,
        }


@dataclass(frozen=True)
class Genesis:
    chain_id: str
    clp: ClpConfig
    consensus: ConsensusParams
    validators: tuple[GenesisValidator, ...]

    @property
    def total_stake(self) -> int:
        return sum(v.stake for v in self.validators)

    def public_keys(self) -> dict[str, bytes]:
        return {v.address: v.public_key for v in self.validators}

    def stakes(self) -> dict[str, int]:
        return {v.address: v.stake for v in self.validators}

    def validator(self, address: str) -> GenesisValidator | None:
        return next((v for v in self.validators if v.address == address), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id,
            "clp": self.clp.to_dict(),
            "consensus": self.consensus.to_dict(),
            "validators": [v.to_json() for v in self.validators],
        }

    def hash(self) -> bytes:
        """The hash of height 0: the parent of block 1."""
        canonical = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.blake2b(b"clp.genesis.v1" + canonical.encode(), digest_size=32).digest()

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> Genesis:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise GenesisError(f"{path}: cannot read genesis file ({exc.strerror})") from exc
        except UnicodeDecodeError as exc:
            raise GenesisError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise GenesisError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from exc
        return cls.from_json(data, source=str(path))

    @classmethod
    def from_json(cls, data: object, source: str = "genesis") -> Genesis:
        def err(field: str, msg: str) -> GenesisError:
            return GenesisError(f"{source}: {field}: {msg}")

        if not isinstance(data, dict):
            raise err("(document)", "a genesis is a JSON object")
        chain_id = data.get("chain_id")
        problem = chain_id_problem(chain_id)
        if problem:
            raise err("chain_id", problem)
        assert isinstance(chain_id, str)

        clp_raw = data.get("clp")
        if not isinstance(clp_raw, dict):  # absent too: §2's parameters are never defaulted
            raise err("clp", "a table of all nine CLP parameters (§2) is required")
        try:
            clp = ClpConfig.from_dict(clp_raw)
        except (ClpConfigError, TypeError) as exc:
            raise err("clp", str(exc)) from exc

        cons_raw = data.get("consensus", {})
        if not isinstance(cons_raw, dict):
            raise err("consensus", "a table of consensus parameters is required")
        known = {f.name for f in fields(ConsensusParams)}
        for key, value in cons_raw.items():
            if key not in known:
                raise err(f"consensus.{key}", "unknown parameter")
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise err(f"consensus.{key}", f"a positive integer is required, got {value!r}")
        consensus = ConsensusParams(**cons_raw)

        raw_validators = data.get("validators")
        if not isinstance(raw_validators, list) or not raw_validators:
            raise err("validators", "a non-empty list is required")
        validators = []
        seen: set[str] = set()
        for i, raw in enumerate(raw_validators):
            where = f"validators[{i}]"
            validators.append(_parse_validator(raw, where, err))
            if validators[-1].address in seen:
                raise err(f"{where}.address", "duplicate validator")
            seen.add(validators[-1].address)
        return cls(chain_id, clp, consensus, tuple(sorted(validators, key=lambda v: v.address)))


def _parse_validator(raw: object, where: str, err: Any) -> GenesisValidator:
    if not isinstance(raw, dict):
        raise err(where, "a validator is an object")
    pk_hex = raw.get("public_key")
    try:
        public_key = bytes.fromhex(pk_hex) if isinstance(pk_hex, str) else b""
    except ValueError:
        public_key = b""
    if len(public_key) != PUBLIC_KEY_BYTES:
        raise err(f"{where}.public_key", f"{PUBLIC_KEY_BYTES * 2} hex characters are required")
    address = raw.get("address", address_from_public_key(public_key))
    if not is_address(address):
        raise err(f"{where}.address", "40 lowercase hex characters are required")
    if address != address_from_public_key(public_key):
        raise err(f"{where}.address", "does not match public_key")
    stake = raw.get("stake")
    if not isinstance(stake, int) or isinstance(stake, bool) or stake <= 0:
        raise err(f"{where}.stake", f"a positive integer is required, got {stake!r}")
    name = raw.get("name", address[:8])
    if not isinstance(name, str) or not name:
        raise err(f"{where}.name", "a non-empty string is required")
    return GenesisValidator(name, address, public_key, stake)
