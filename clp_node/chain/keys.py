"""Ed25519 validator keys and the address derived from a public key.

An address is the first 20 bytes of BLAKE2b-256 of the public key, written as 40 lowercase
hex characters; its raw 20 bytes are the ``address_bytes`` signed in a CLP response.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

ADDRESS_BYTES = 20
ADDRESS_HEX_LEN = ADDRESS_BYTES * 2
PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64


class KeyFileError(ValueError):
    """A key file is missing, unreadable or malformed."""


def address_from_public_key(public_key: bytes) -> str:
    if len(public_key) != PUBLIC_KEY_BYTES:
        raise ValueError(f"public key must be {PUBLIC_KEY_BYTES} bytes, got {len(public_key)}")
    return hashlib.blake2b(public_key, digest_size=32).digest()[:ADDRESS_BYTES].hex()


_ADDRESS_RE = re.compile(f"[0-9a-f]{{{ADDRESS_HEX_LEN}}}")


def is_address(value: object) -> bool:
    """True for a well-formed address: 40 lowercase hex characters."""
    return isinstance(value, str) and _ADDRESS_RE.fullmatch(value) is not None


def address_bytes(address: str) -> bytes:
    if not is_address(address):
        raise ValueError(
            f"malformed address {address!r}: want {ADDRESS_HEX_LEN} lowercase hex chars"
        )
    return bytes.fromhex(address)


# A vote or response is checked when it arrives, again in the block that carries it, and
# again when that block is applied: each (key, message, signature) is verified only once.
VERIFIED_CACHE_SIZE = 16_384


@lru_cache(maxsize=VERIFIED_CACHE_SIZE)
def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Ed25519 verification that never raises on hostile input (memoized: it is pure)."""
    if len(public_key) != PUBLIC_KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    try:
        VerifyKey(public_key).verify(message, signature)
    except (BadSignatureError, ValueError, TypeError):
        return False
    return True


@dataclass(frozen=True)
class ValidatorKey:
    """A validator's signing key with its public key and address precomputed."""

    seed: bytes

    def __post_init__(self) -> None:
        if len(self.seed) != 32:
            raise ValueError("an Ed25519 seed is 32 bytes")

    @classmethod
    def generate(cls) -> ValidatorKey:
        return cls(bytes(SigningKey.generate()))

    @classmethod
    def from_seed_text(cls, text: str) -> ValidatorKey:
        """A deterministic key from any text; for tests and reproducible testnets only."""
        return cls(hashlib.blake2b(text.encode(), digest_size=32).digest())

    @property
    def signing_key(self) -> SigningKey:
        return SigningKey(self.seed)

    @property
    def public_key(self) -> bytes:
        return bytes(self.signing_key.verify_key)

    @property
    def address(self) -> str:
        return address_from_public_key(self.public_key)

    def sign(self, message: bytes) -> bytes:
        return bytes(self.signing_key.sign(message).signature)

    def to_json(self) -> dict[str, str]:
        return {
            "address": self.address,
            "public_key": self.public_key.hex(),
            "private_key": self.seed.hex(),
        }

    def save(self, path: Path) -> None:
        """Write the key as JSON readable by its owner only."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        os.chmod(tmp, stat.S_IRUSR | stat.S_IWUSR)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> ValidatorKey:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise KeyFileError(f"{path}: key file not found") from exc
        except (OSError, ValueError) as exc:  # ValueError: JSON or UTF-8 decoding
            raise KeyFileError(f"{path}: not a readable JSON key file ({exc})") from exc
        if not isinstance(data, dict) or not isinstance(data.get("private_key"), str):
            raise KeyFileError(f"{path}: field 'private_key' (64 hex chars) is missing")
        try:
            seed = bytes.fromhex(data["private_key"])
            key = cls(seed)
        except ValueError as exc:
            raise KeyFileError(f"{path}: field 'private_key' is not 32 bytes of hex") from exc
        if "public_key" in data and data["public_key"] != key.public_key.hex():
            raise KeyFileError(f"{path}: field 'public_key' does not match the private key")
        if "address" in data and data["address"] != key.address:
            raise KeyFileError(f"{path}: field 'address' does not match the private key")
        return key
