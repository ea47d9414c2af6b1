"""Byte formats the checkers verify, built with hashlib and PyNaCl only.

Challenge value and response message are CLP_SPEC §4-§5. The block hash and the vote
sign bytes are the node contract's wire formats (the chain every node serves must hash
and verify with them); they are written out here, not imported from the node.
"""

from __future__ import annotations

import hashlib
from typing import Any, TypeGuard

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

CHALLENGE_DOMAIN = b"alphaos.clp.challenge.v1"
RESPONSE_DOMAIN = b"alphaos.clp.response.v1"
BLOCK_DOMAIN = b"clp.block.v1"
VOTE_DOMAIN = b"clp.vote.v1"
PREVOTE_CODE = 1
PRECOMMIT_CODE = 2
HASH_BYTES = 32
ADDRESS_BYTES = 20
SIGNATURE_BYTES = 64
PUBLIC_KEY_BYTES = 32
_HEX = frozenset("0123456789abcdef")


class FormatError(ValueError):
    """A served document that does not have the shape the contract promises."""


def blake2b_256(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=32).digest()


def u16be(n: int) -> bytes:
    return n.to_bytes(2, "big")


def u64be(n: int) -> bytes:
    return n.to_bytes(8, "big")


def chain_id_field(chain_id: str) -> bytes:
    raw = chain_id.encode("utf-8")
    return u16be(len(raw)) + raw


def is_address(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and len(value) == 2 * ADDRESS_BYTES and set(value) <= _HEX


def is_hex(value: object, length: int) -> TypeGuard[str]:
    return isinstance(value, str) and len(value) == 2 * length and set(value) <= _HEX


def is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def address_of(public_key: bytes) -> str:
    """First 20 bytes of BLAKE2b-256 of the public key, as lowercase hex."""
    return blake2b_256(public_key)[:ADDRESS_BYTES].hex()


def challenge_value(chain_id: str, height: int, block_hash: bytes) -> bytes:
    """§4 compute_challenge_value."""
    return blake2b_256(CHALLENGE_DOMAIN + chain_id_field(chain_id) + u64be(height) + block_hash)


def response_digest(chain_id: str, height: int, value: bytes, address: str) -> bytes:
    """§5: the 32 bytes a validator signs for its response to the challenge at ``height``."""
    return blake2b_256(
        RESPONSE_DOMAIN + chain_id_field(chain_id) + u64be(height) + value + bytes.fromhex(address)
    )


def block_hash(block: dict[str, Any]) -> bytes:
    """BLAKE2b-256 over domain, chain id, height, time, parent, proposer and responses."""
    responses = block["responses"]
    parts = [
        BLOCK_DOMAIN,
        chain_id_field(block["chain_id"]),
        u64be(block["height"]),
        u64be(block["time_ms"]),
        bytes.fromhex(block["parent_hash"]),
        bytes.fromhex(block["proposer"]),
        len(responses).to_bytes(4, "big"),
    ]
    for r in responses:
        parts += [
            u64be(r["challenge_height"]),
            bytes.fromhex(r["validator"]),
            bytes.fromhex(r["signature"]),
        ]
    return blake2b_256(b"".join(parts))


def precommit_sign_bytes(chain_id: str, height: int, round_: int, block_hash_: bytes) -> bytes:
    """Domain, chain id, type code, height, round, then a flagged, length-prefixed hash."""
    return vote_sign_bytes(chain_id, PRECOMMIT_CODE, height, round_, block_hash_)


def vote_sign_bytes(
    chain_id: str, type_code: int, height: int, round_: int, block_hash_: bytes | None
) -> bytes:
    """§9.2 for any vote: ``type_code`` PREVOTE_CODE or PRECOMMIT_CODE, None for nil."""
    value = b"\x00" + u16be(0) if block_hash_ is None else b"\x01" + u16be(HASH_BYTES) + block_hash_
    return (
        VOTE_DOMAIN
        + chain_id_field(chain_id)
        + bytes([type_code])
        + u64be(height)
        + u64be(round_)
        + value
    )


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Ed25519 verification that never raises on hostile input."""
    if len(public_key) != PUBLIC_KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    try:
        VerifyKey(public_key).verify(message, signature)
    except (BadSignatureError, ValueError, TypeError):
        return False
    return True


def block_problem(block: object, height: int) -> str | None:
    """Why a served block document is malformed, or None: checked before any hashing."""
    if not isinstance(block, dict):
        return "the block is not a JSON object"
    if not isinstance(block.get("chain_id"), str) or not block["chain_id"]:
        return "chain_id is not a non-empty string"
    if block.get("height") != height or not is_int(block.get("height")):
        return f"height field is {block.get('height')!r}, want {height}"
    t = block.get("time_ms")
    if not is_int(t) or not 0 <= t < 2**64:
        return f"time_ms {t!r} is not a non-negative integer"
    if not is_hex(block.get("parent_hash"), HASH_BYTES):
        return "parent_hash is not 64 hex characters"
    if not is_address(block.get("proposer")):
        return "proposer is not an address"
    if not is_hex(block.get("hash"), HASH_BYTES):
        return "hash is not 64 hex characters"
    responses = block.get("responses")
    if not isinstance(responses, list):
        return "responses is not a list"
    for i, r in enumerate(responses):
        if response_problem(r) is not None:
            return f"responses[{i}]: {response_problem(r)}"
    return None


def response_problem(r: object) -> str | None:
    """§5 rule 1 (MALFORMED): fields missing, wrong types or lengths."""
    if not isinstance(r, dict):
        return "not a JSON object"
    h = r.get("challenge_height")
    if not is_int(h) or not 0 <= h < 2**64:
        return f"challenge_height {h!r} is not a u64"
    if not is_address(r.get("validator")):
        return "validator is not an address"
    if not is_hex(r.get("signature"), SIGNATURE_BYTES):
        return "signature is not 128 hex characters"
    return None
