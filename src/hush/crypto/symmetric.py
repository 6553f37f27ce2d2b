"""Whisper's symmetric layer: AES-256-GCM with the nonce after the tag, and password keys.

`Data = ciphertext ‖ tag(16) ‖ nonce(12)`, no associated data (whisper-v6.md §2.5). Keys from
passwords: PBKDF2-HMAC-SHA256, 65356 iterations (sic), empty salt, 32 bytes (§2.7).

Opening is the receive path's most repeated step (every filter on a topic tries its key on every
envelope), so it runs on one OpenSSL context per key (`_gcm.c`) where that was built: a wrong key
then costs one GCM pass and no exception. Without it, the `cryptography` package's AESGCM
(`open_python`, also the reference the C part is tested against).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from functools import partial

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hush.crypto.keccak import keccak256
from hush.errors import InvalidKeyError, UsageError

try:  # AES-256-GCM opening on libcrypto, one context per key; optional (see setup.py)
    from hush.crypto import _gcm
except ImportError:  # pragma: no cover - depends on the build
    _gcm = None  # type: ignore[assignment]

__all__ = [
    "ACCELERATED",
    "AES_KEY_LENGTH",
    "AES_NONCE_LENGTH",
    "GCM_TAG_LENGTH",
    "PBKDF2_ITERATIONS",
    "SymmetricKey",
    "constant_time_equal",
    "key_from_password",
]

AES_KEY_LENGTH = 32
AES_NONCE_LENGTH = 12
GCM_TAG_LENGTH = 16
PBKDF2_ITERATIONS = 65356  # geth's typo, now part of the protocol (whisper-v6.md §2.7)
ACCELERATED = _gcm is not None
_MIN_SEALED = AES_NONCE_LENGTH + GCM_TAG_LENGTH


class SymmetricKey:
    """A 32-byte, not all-zero AES-256-GCM key with its cipher object built once (2.8x faster)."""

    __slots__ = ("_aead", "_opener", "hash", "open", "secret")

    def __init__(self, secret: bytes):
        if len(secret) != AES_KEY_LENGTH:
            raise InvalidKeyError(f"wrong key size: {len(secret)}")
        if not any(secret):
            raise InvalidKeyError("invalid symmetric key")
        self.secret = bytes(secret)
        self.hash = keccak256(self.secret)
        """keccak256 of the key: geth's SymKeyHash, how opened messages name their key."""
        self._aead = AESGCM(self.secret)
        self._opener = _gcm.Key(self.secret) if _gcm is not None else None
        self.open: Callable[[bytes], bytes | None] = (
            self._opener.open if self._opener is not None else partial(_open_python, self._aead)
        )
        """The plaintext of `data`, or None when this key does not open it (the normal case in
        gossip). Bound once: the C opener's method itself where it was built."""

    @classmethod
    def from_password(cls, password: str) -> SymmetricKey:
        return cls(key_from_password(password))

    def seal(self, plaintext: bytes, nonce: bytes) -> bytes:
        if len(nonce) != AES_NONCE_LENGTH:
            raise UsageError("AES-GCM nonce must be 12 bytes")
        return self._aead.encrypt(nonce, plaintext, None) + nonce

    def open_python(self, data: bytes) -> bytes | None:
        """`open` on the `cryptography` package: the fallback, and the C opener's reference."""
        return _open_python(self._aead, data)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SymmetricKey) and constant_time_equal(other.secret, self.secret)

    def __hash__(self) -> int:
        return hash(self.hash)

    def __repr__(self) -> str:
        return f"SymmetricKey(hash={self.hash[:4].hex()}…)"


def _open_python(aead: AESGCM, data: bytes) -> bytes | None:
    if len(data) < _MIN_SEALED:
        return None
    try:
        return aead.decrypt(data[-AES_NONCE_LENGTH:], data[:-AES_NONCE_LENGTH], None)
    except InvalidTag:
        return None


def key_from_password(password: str) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), b"", PBKDF2_ITERATIONS, 32)


def constant_time_equal(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)
