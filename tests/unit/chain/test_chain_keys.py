"""Validator keys and addresses (clp_node.chain.keys)."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import pytest
from nacl.signing import SigningKey, VerifyKey

from clp_node.chain.keys import (
    KeyFileError,
    ValidatorKey,
    address_bytes,
    address_from_public_key,
    is_address,
    verify_signature,
)


def test_address_is_first_20_bytes_of_blake2b_256() -> None:
    key = ValidatorKey.from_seed_text("x")
    pk = bytes(SigningKey(key.seed).verify_key)
    assert key.public_key == pk
    assert key.address == hashlib.blake2b(pk, digest_size=32).digest()[:20].hex()
    assert address_from_public_key(pk) == key.address
    assert address_bytes(key.address) == bytes.fromhex(key.address)
    with pytest.raises(ValueError, match="32"):
        address_from_public_key(pk[:31])


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("ab" * 20, True),
        ("0123456789abcdef" * 2 + "01234567", True),
        ("AB" * 20, False),
        ("ab" * 19 + "a", False),
        ("ab" * 21, False),
        ("g" * 40, False),
        (None, False),
        (b"ab" * 20, False),
        (123, False),
        ("", False),
    ],
)
def test_is_address(value: object, ok: bool) -> None:
    assert is_address(value) is ok
    if not ok and isinstance(value, str):
        with pytest.raises(ValueError, match="malformed address"):
            address_bytes(value)


def test_from_seed_text_deterministic_and_distinct() -> None:
    a, b = ValidatorKey.from_seed_text("v0"), ValidatorKey.from_seed_text("v0")
    assert a == b and a.address == b.address
    assert ValidatorKey.from_seed_text("v1").address != a.address
    assert a.seed == hashlib.blake2b(b"v0", digest_size=32).digest()


def test_generate_is_random() -> None:
    assert ValidatorKey.generate().address != ValidatorKey.generate().address


@pytest.mark.parametrize("n", [0, 31, 33, 64])
def test_seed_length(n: int) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        ValidatorKey(b"\x01" * n)


def test_sign_and_verify() -> None:
    key = ValidatorKey.from_seed_text("s")
    sig = key.sign(b"msg")
    assert len(sig) == 64
    VerifyKey(key.public_key).verify(b"msg", sig)
    assert verify_signature(key.public_key, b"msg", sig) is True
    assert verify_signature(key.public_key, b"msh", sig) is False
    other = ValidatorKey.from_seed_text("o")
    assert verify_signature(other.public_key, b"msg", sig) is False
    assert verify_signature(key.public_key, b"msg", sig[:63]) is False
    assert verify_signature(key.public_key, b"msg", sig + b"\x00") is False
    assert verify_signature(key.public_key[:31], b"msg", sig) is False
    assert verify_signature(b"\xff" * 32, b"msg", sig) is False  # not a curve point
    assert verify_signature(key.public_key, b"msg", b"\xff" * 64) is False


def test_to_json() -> None:
    key = ValidatorKey.from_seed_text("j")
    assert key.to_json() == {
        "address": key.address,
        "public_key": key.public_key.hex(),
        "private_key": key.seed.hex(),
    }


def test_save_load_round_trip(tmp_path: Path) -> None:
    key = ValidatorKey.from_seed_text("file")
    path = tmp_path / "sub" / "dir" / "key.json"
    key.save(path)
    assert ValidatorKey.load(path) == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == key.to_json()
    assert sorted(p.name for p in path.parent.iterdir()) == ["key.json"]  # no leftover .tmp
    key2 = ValidatorKey.from_seed_text("file2")
    key2.save(path)  # overwrite
    assert ValidatorKey.load(path) == key2


def test_load_without_address_field(tmp_path: Path) -> None:
    key = ValidatorKey.from_seed_text("noaddr")
    p = tmp_path / "k.json"
    p.write_text(json.dumps({"private_key": key.seed.hex()}))
    assert ValidatorKey.load(p) == key


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{not json", "not a readable JSON"),
        ("[]", "private_key"),
        ("{}", "private_key"),
        ('{"private_key": 5}', "private_key"),
        ('{"private_key": "zz"}', "not 32 bytes"),
        ('{"private_key": "' + "ab" * 31 + '"}', "not 32 bytes"),
        ('{"private_key": "' + "ab" * 33 + '"}', "not 32 bytes"),
    ],
)
def test_load_errors(tmp_path: Path, content: str, match: str) -> None:
    p = tmp_path / "k.json"
    p.write_text(content)
    with pytest.raises(KeyFileError, match=match) as exc:
        ValidatorKey.load(p)
    assert str(p) in str(exc.value)


def test_load_address_mismatch(tmp_path: Path) -> None:
    key = ValidatorKey.from_seed_text("a")
    data = key.to_json() | {"address": ValidatorKey.from_seed_text("b").address}
    p = tmp_path / "k.json"
    p.write_text(json.dumps(data))
    with pytest.raises(KeyFileError, match="address"):
        ValidatorKey.load(p)


def test_load_public_key_mismatch(tmp_path: Path) -> None:
    """§12.2: the public key derives from the seed; another one is refused, not ignored."""
    key = ValidatorKey.from_seed_text("a")
    other = ValidatorKey.from_seed_text("b")
    p = tmp_path / "k.json"
    p.write_text(json.dumps(key.to_json() | {"public_key": other.public_key.hex()}))
    with pytest.raises(KeyFileError, match=r"k\.json: field 'public_key' does not match"):
        ValidatorKey.load(p)
    p.write_text(json.dumps({"private_key": key.seed.hex()}))  # both derived ones optional
    assert ValidatorKey.load(p).address == key.address


def test_load_missing_and_unreadable(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="not found"):
        ValidatorKey.load(tmp_path / "missing.json")
    with pytest.raises(KeyFileError, match="not a readable"):
        ValidatorKey.load(tmp_path)  # a directory
