"""Validator keys as the node contract's key file holds them (Ed25519, PyNaCl).

The address is the first 20 bytes of BLAKE2b-256 of the public key (protocol §5); the
key file is ``{"address", "public_key", "private_key"}`` in lowercase hex, where the
private key is the 32-byte Ed25519 seed.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from nacl.signing import SigningKey

from harness.contract import formats as fmt
from harness.contract.schemas import validate

SEED_BYTES = 32


class KeyFileError(ValueError):
    """A key file that is missing or does not match its schema."""


@dataclass(frozen=True)
class ValidatorKey:
    """An Ed25519 signing key with the address the chain knows it by."""

    seed: bytes

    def __post_init__(self) -> None:
        if len(self.seed) != SEED_BYTES:
            raise ValueError(f"an Ed25519 seed is {SEED_BYTES} bytes, got {len(self.seed)}")

    @classmethod
    def generate(cls) -> ValidatorKey:
        return cls(bytes(SigningKey.generate()))

    @classmethod
    def from_seed_text(cls, text: str) -> ValidatorKey:
        """A deterministic key: the seed is BLAKE2b-256 of ``text`` (reproducible testnets)."""
        return cls(hashlib.blake2b(text.encode(), digest_size=SEED_BYTES).digest())

    @classmethod
    def of_testnet(cls, seed: object, name: str) -> ValidatorKey:
        """Validator ``name``'s key in a testnet made with ``seed`` (``init --seed``)."""
        return cls.from_seed_text(f"{seed}/{name}")

    @property
    def public_key(self) -> bytes:
        return bytes(SigningKey(self.seed).verify_key)

    @property
    def address(self) -> str:
        return fmt.address_of(self.public_key)

    def sign(self, message: bytes) -> bytes:
        return bytes(SigningKey(self.seed).sign(message).signature)

    def sign_response(self, chain_id: str, height: int, challenge_value: bytes) -> bytes:
        """§5: the signature of this validator's response to the challenge at ``height``."""
        return self.sign(fmt.response_digest(chain_id, height, challenge_value, self.address))

    def to_json(self) -> dict[str, str]:
        return {
            "address": self.address,
            "public_key": self.public_key.hex(),
            "private_key": self.seed.hex(),
        }

    def save(self, path: Path) -> None:
        """Write the key file (schema-checked), readable by its owner only."""
        doc = self.to_json()
        validate("key", doc)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(doc, indent=2) + "\n")
        os.chmod(tmp, stat.S_IRUSR | stat.S_IWUSR)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> ValidatorKey:
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise KeyFileError(f"{path}: key file not found") from exc
        except (OSError, json.JSONDecodeError) as exc:
            raise KeyFileError(f"{path}: not a readable JSON key file ({exc})") from exc
        try:
            validate("key", doc)
        except ValueError as exc:
            raise KeyFileError(f"{path}: {exc}") from exc
        key = cls(bytes.fromhex(doc["private_key"]))
        if doc.get("address", key.address) != key.address:
            raise KeyFileError(f"{path}: field 'address' does not match the private key")
        return key
