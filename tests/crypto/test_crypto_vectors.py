"""Crypto known answers: whisper-v6.md §8.4 (geth ecies_test.go, rlpx_test.go Auth₁, PBKDF2)."""

from __future__ import annotations

import hashlib
import os

import coincurve
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hush.crypto.ecies import ECIES_OVERHEAD, concat_kdf, ecies_decrypt, ecies_encrypt
from hush.crypto.keccak import keccak256
from hush.crypto.keys import PrivateKey, ecdh_x, public_key_from_bytes, recover_public_key
from hush.crypto.symmetric import PBKDF2_ITERATIONS, SymmetricKey, key_from_password
from hush.errors import InvalidKeyError

# geth p2p/rlpx_test.go eip8HandshakeAuthTests[0].input (Auth₁, pre-EIP-8 format).
AUTH1 = bytes.fromhex(
    "048ca79ad18e4b0659fab4853fe5bc58eb83992980f4c9cc147d2aa31532efd29a3d3dc6a3d89eaf"
    "913150cfc777ce0ce4af2758bf4810235f6e6ceccfee1acc6b22c005e9e3a49d6448610a58e98744"
    "ba3ac0399e82692d67c1f58849050b3024e21a52c9d3b01d871ff5f210817912773e610443a9ef14"
    "2e91cdba0bd77b5fdf0769b05671fc35f83d83e4d3b0b000c6b2a1b1bba89e0fc51bf4e460df3105"
    "c444f14be226458940d6061c296350937ffd5e3acaceeaaefd3c6f74be8e23e0f45163cc7ebd7622"
    "0f0128410fd05250273156d548a414444ae2f7dea4dfca2d43c057adb701a715bf59f6fb66b2d1d2"
    "0f2c703f851cbf5ac47396d9ca65b6260bd141ac4d53e2de585a73d1750780db4c9ee4cd4d225173"
    "a4592ee77e2bd94d0be3691f3b406f9bba9b591fc63facc016bfa8"
)
KEY_B = bytes.fromhex("b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291")


def test_concat_kdf_geth_vector() -> None:
    assert concat_kdf(b"input", 32).hex() == (
        "858b192fa2ed4395e2bf88dd8d5770d67dc284ee539f12da8bceaa45d06ebae0"
    )
    assert concat_kdf(b"input", 64).hex() == (
        "858b192fa2ed4395e2bf88dd8d5770d67dc284ee539f12da8bceaa45d06ebae0"
        "700f1ab918a5f0413b8140f9940d6955f3467fd6672cce1024c5b1effccc0f61"
    )


def test_static_shared_secret_geth_vector() -> None:
    key1 = PrivateKey(
        bytes.fromhex("7ebbc6a8358bc76dd73ebc557056702c8cfc34e5cfcd90eb83af0347575fd2ad")
    )
    key2 = PrivateKey(
        bytes.fromhex("6a3d6396903245bba5837752b9e0348874e72db0c4e11e9c485a81b4ea4353b9")
    )
    expected = "167ccc13ac5e8a26b131c3446030c60fbfac6aa8e31149d0869f93626a4cdf62"
    assert ecdh_x(key1, key2.public_key).hex() == expected
    assert ecdh_x(key2, key1.public_key).hex() == expected


def test_rlpx_auth1_decrypts() -> None:
    assert len(AUTH1) == 307
    plain = ecies_decrypt(PrivateKey(KEY_B), AUTH1)
    assert plain is not None
    assert len(plain) == 194
    assert plain[:6].hex() == "299ca6acfd35"
    assert (
        bytes.fromhex("7e968bba13b6c50e2c4cd7f241cc0d64d1ac25c7f5952df231ac6a2bda8ee5d6") in plain
    )


def test_ecies_rejects_tampering_and_wrong_keys() -> None:
    for position in (0, 1, 70, 100, len(AUTH1) - 1):
        tampered = bytearray(AUTH1)
        tampered[position] ^= 0x01
        assert ecies_decrypt(PrivateKey(KEY_B), bytes(tampered)) is None
    assert ecies_decrypt(PrivateKey(b"\x01" * 32), AUTH1) is None
    assert ecies_decrypt(PrivateKey(KEY_B), AUTH1[: ECIES_OVERHEAD - 1]) is None


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        (
            "password_for_this_test",
            "e2fd3b339597eb204e4f10415cf63f77f1a418cb1757d6874df3d22976cdce7b",
        ),
        ("test", "a82a520aff70f7a989098376e48ec128f25f767085e84d7fb995a9815eebff0a"),
    ],
)
def test_pbkdf2_65356_iterations(password: str, expected: str) -> None:
    assert PBKDF2_ITERATIONS == 65356
    assert key_from_password(password).hex() == expected
    assert SymmetricKey.from_password(password).secret.hex() == expected


def test_keccak_of_aes_key_is_sym_key_hash() -> None:
    secret = bytes.fromhex("03ca634cae0d49acb401d8a4c6b6fe8c55b70d115bf400769cc1400f3258cd31")
    expected = "df90524a4e0dfc86c596857c51d4411c63fdfc1b52c999f30ae62e6185f1d96b"
    assert keccak256(secret).hex() == expected
    assert SymmetricKey(secret).hash.hex() == expected
    assert keccak256(b"") != hashlib.sha3_256(b"").digest()  # Keccak, not NIST SHA-3


@pytest.mark.parametrize("secret", [bytes(32), b"\x01" * 31, b"\x01" * 33])
def test_symmetric_key_validation(secret: bytes) -> None:
    with pytest.raises(InvalidKeyError):
        SymmetricKey(secret)


@pytest.mark.parametrize(
    "secret",
    [
        bytes(32),
        b"\xff" * 32,
        bytes.fromhex("ff" * 16 + "fffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"),
        b"1",
    ],
)
def test_private_key_validation(secret: bytes) -> None:
    with pytest.raises(InvalidKeyError):
        PrivateKey(secret)


def test_public_key_forms_and_validation() -> None:
    key = PrivateKey(b"\x11" * 32)
    full = key.public_key
    compressed = coincurve.PublicKey(full).format(compressed=True)
    for form in (full, full[1:], compressed):
        assert public_key_from_bytes(form).format(compressed=False) == full
    for bad in (b"", full[:-1], b"\x04" + bytes(64)):
        with pytest.raises(InvalidKeyError):
            public_key_from_bytes(bad)
    assert "11" * 8 not in repr(key)


@settings(max_examples=30, deadline=None)
@given(st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32))
def test_sign_recover_round_trip(secret: bytes, digest: bytes) -> None:
    try:
        key = PrivateKey(secret)
    except InvalidKeyError:
        return
    signature = key.sign(digest)
    assert len(signature) == 65
    assert signature[64] in (0, 1)
    assert recover_public_key(signature, digest) == key.public_key
    assert recover_public_key(signature[:64] + bytes([signature[64] + 27]), digest) is None


@settings(max_examples=30, deadline=None)
@given(st.binary(max_size=2000))
def test_ecies_round_trip(plaintext: bytes) -> None:
    key = PrivateKey(b"\x42" * 32)
    data = ecies_encrypt(key.public_key, plaintext, os.urandom)
    assert len(data) == len(plaintext) + ECIES_OVERHEAD
    assert ecies_decrypt(key, data) == plaintext
    assert ecies_decrypt(PrivateKey(b"\x43" * 32), data) is None


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=2000), st.binary(min_size=12, max_size=12))
def test_aes_gcm_round_trip(plaintext: bytes, nonce: bytes) -> None:
    key = SymmetricKey(b"\x42" * 32)
    data = key.seal(plaintext, nonce)
    assert data[-12:] == nonce
    assert len(data) == len(plaintext) + 16 + 12
    assert key.open(data) == plaintext
    assert SymmetricKey(b"\x43" * 32).open(data) is None
    assert key.open(data[:-1]) is None
