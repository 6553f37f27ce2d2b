"""secp256k1 keys, recoverable signatures and raw ECDH, on libsecp256k1 (coincurve).

Signatures are r‖s‖v with v ∈ {0, 1} over a 32-byte hash used as-is (whisper-v6.md §2.3,
devp2p.md §1). Public keys travel as 65-byte uncompressed points; devp2p drops the 0x04.
"""

from __future__ import annotations

import coincurve

from hush.errors import InvalidKeyError, UsageError
from hush.types import NodeID, PublicKeyBytes, RandomBytes

__all__ = [
    "CURVE_ORDER",
    "SIGNATURE_LENGTH",
    "PrivateKey",
    "ecdh_x",
    "public_key_from_bytes",
    "recover_public_key",
    "sign_recoverable",
]

SIGNATURE_LENGTH = 65
CURVE_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
"""n, the order of secp256k1's group (SEC 2 §2.4.1): a secret key is a scalar in [1, n)."""


class PrivateKey:
    """A secp256k1 secret scalar with its public key. Its repr never shows the secret."""

    __slots__ = ("_key", "public_key")

    def __init__(self, secret: bytes):
        if len(secret) != 32:
            raise InvalidKeyError(f"private key must be 32 bytes, got {len(secret)}")
        if not 0 < int.from_bytes(secret, "big") < CURVE_ORDER:
            raise InvalidKeyError("private key is not a valid secp256k1 scalar")
        self._key = coincurve.PrivateKey(bytes(secret))
        self.public_key = PublicKeyBytes(self._key.public_key.format(compressed=False))

    @classmethod
    def generate(cls, random_bytes: RandomBytes) -> PrivateKey:
        while True:
            secret = random_bytes(32)
            if 0 < int.from_bytes(secret, "big") < CURVE_ORDER:
                return cls(secret)

    @property
    def secret(self) -> bytes:
        return bytes(self._key.secret)

    @property
    def node_id(self) -> NodeID:
        """The 64-byte public key without the 0x04 prefix, as devp2p carries it."""
        return NodeID(self.public_key[1:])

    def sign(self, message_hash: bytes) -> bytes:
        return sign_recoverable(self, message_hash)

    def ecdh_x(self, public_key: bytes) -> bytes:
        return ecdh_x(self, public_key)

    def __repr__(self) -> str:
        return f"PrivateKey(public={self.public_key[:9].hex()}…)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PrivateKey) and other.public_key == self.public_key

    def __hash__(self) -> int:
        return hash(self.public_key)


def public_key_from_bytes(data: bytes) -> coincurve.PublicKey:
    """Parse a 65-byte uncompressed, 64-byte raw or 33-byte compressed public key."""
    if len(data) == 64:
        data = b"\x04" + data
    if len(data) not in (33, 65):
        raise InvalidKeyError(f"public key must be 33, 64 or 65 bytes, got {len(data)}")
    try:
        return coincurve.PublicKey(bytes(data))
    except ValueError as exc:
        raise InvalidKeyError("public key is not a valid secp256k1 point") from exc


def sign_recoverable(key: PrivateKey, message_hash: bytes) -> bytes:
    """65-byte r‖s‖v signature of a 32-byte hash (RFC 6979 nonce, low S, v ∈ {0, 1})."""
    if len(message_hash) != 32:
        raise UsageError("a signature is over a 32-byte hash")
    return bytes(key._key.sign_recoverable(message_hash, hasher=None))


def recover_public_key(signature: bytes, message_hash: bytes) -> PublicKeyBytes | None:
    """The 65-byte public key that made `signature` over `message_hash`, or None if none did."""
    if len(signature) != SIGNATURE_LENGTH or signature[64] >= 4 or len(message_hash) != 32:
        return None
    try:
        key = coincurve.PublicKey.from_signature_and_message(
            bytes(signature), bytes(message_hash), hasher=None
        )
    except (ValueError, TypeError):
        return None
    return PublicKeyBytes(key.format(compressed=False))


def ecdh_x(key: PrivateKey, public_key: bytes | coincurve.PublicKey) -> bytes:
    """The raw 32-byte x coordinate of secret·P (not hashed: what ECIES and RLPx use)."""
    point = (
        public_key
        if isinstance(public_key, coincurve.PublicKey)
        else public_key_from_bytes(public_key)
    )
    return bytes(point.multiply(key._key.secret).format(compressed=True)[1:])
