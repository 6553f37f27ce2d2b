"""Keys that survive a restart: `<datadir>/keystore.json`, encrypted with a passphrase.

The file holds every key pair and symmetric key by id, so identities keep their ids across
restarts. The secrets are one JSON document sealed with AES-256-GCM under a key derived from the
passphrase with scrypt (salt and cost parameters stored beside it); the file is written atomically
with mode 0600. `PersistentKeyStore` is a `KeyStore` that rewrites the file after every change; the
derived key is computed once per process, not per write.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hush.crypto.keys import PrivateKey
from hush.errors import HushError, InvalidKeyError, UsageError
from hush.node.keystore import KeyStore
from hush.types import KeyID, RandomBytes

__all__ = ["KEYSTORE_FILE", "PersistentKeyStore", "read_keyfile", "write_keyfile"]

KEYSTORE_FILE = "keystore.json"
_VERSION = 1
_SCRYPT_N = 1 << 15
_SCRYPT_R = 8
_SCRYPT_P = 1
_MAX_SCRYPT_N = 1 << 20
_NONCE_SIZE = 12
_TAG_SIZE = 16


def _derive(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        passphrase.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r + (1 << 20), dklen=32
    )


class _Sealer:
    def __init__(self, passphrase: str, salt: bytes, n: int, r: int, p: int):
        self.salt, self.n, self.r, self.p = salt, n, r, p
        self.aead = AESGCM(_derive(passphrase, salt, n, r, p))


def _load(path: Path, passphrase: str) -> tuple[dict[str, Any], _Sealer]:
    try:
        outer = json.loads(path.read_text(encoding="utf-8"))
        if (
            not isinstance(outer, dict)
            or outer.get("version") != _VERSION
            or outer.get("kdf") != "scrypt"
        ):
            raise UsageError(f"keystore {path}: unsupported format")
        n, r, p = int(outer["n"]), int(outer["r"]), int(outer["p"])
        salt = bytes.fromhex(outer["salt"])
        nonce = bytes.fromhex(outer["nonce"])
        ciphertext = bytes.fromhex(outer["ciphertext"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(f"cannot read keystore {path}: {exc}") from exc
    # Checked before scrypt runs: absurd costs would take the machine's memory or hours.
    if not (1 < n <= _MAX_SCRYPT_N and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 16):
        raise UsageError(f"keystore {path}: unsupported scrypt parameters n={n} r={r} p={p}")
    if not salt or len(nonce) != _NONCE_SIZE or len(ciphertext) < _TAG_SIZE:
        raise UsageError(
            f"keystore {path}: damaged (salt {len(salt)} bytes, nonce {len(nonce)} bytes, "
            f"ciphertext {len(ciphertext)} bytes)"
        )
    sealer = _Sealer(passphrase, salt, n, r, p)
    try:
        plain = sealer.aead.decrypt(nonce, ciphertext, b"hush-keystore")
    except InvalidTag:
        raise UsageError(f"wrong passphrase for keystore {path}") from None
    try:
        inner = json.loads(plain)
    except ValueError:
        inner = None
    if not _is_key_list(inner):
        raise UsageError(f"keystore {path}: the decrypted content is not a list of keys")
    return inner, sealer


def _is_key_list(inner: Any) -> bool:
    """`{"keyPairs": {id: hex}, "symKeys": {id: hex}}`, either part optional."""
    if not isinstance(inner, dict):
        return False
    for kind in ("keyPairs", "symKeys"):
        keys = inner.get(kind, {})
        if not isinstance(keys, dict) or not all(
            isinstance(key_id, str) and isinstance(secret, str) for key_id, secret in keys.items()
        ):
            return False
    return True


def read_keyfile(path: Path, passphrase: str) -> dict[str, dict[str, bytes]]:
    """`{"keyPairs": {id: secret}, "symKeys": {id: secret}}` from a keystore file."""
    inner, _ = _load(path, passphrase)
    return {
        kind: {key_id: bytes.fromhex(secret) for key_id, secret in inner.get(kind, {}).items()}
        for kind in ("keyPairs", "symKeys")
    }


def write_keyfile(
    path: Path,
    key_pairs: dict[str, bytes],
    sym_keys: dict[str, bytes],
    sealer: _Sealer,
    random_bytes: RandomBytes,
) -> None:
    inner = {
        "keyPairs": {key_id: secret.hex() for key_id, secret in key_pairs.items()},
        "symKeys": {key_id: secret.hex() for key_id, secret in sym_keys.items()},
    }
    nonce = random_bytes(12)
    ciphertext = sealer.aead.encrypt(nonce, json.dumps(inner).encode(), b"hush-keystore")
    outer = {
        "version": _VERSION,
        "kdf": "scrypt",
        "n": sealer.n,
        "r": sealer.r,
        "p": sealer.p,
        "salt": sealer.salt.hex(),
        "cipher": "aes-256-gcm",
        "nonce": nonce.hex(),
        "ciphertext": ciphertext.hex(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".keystore-", dir=path.parent)  # created 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(outer, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class PersistentKeyStore(KeyStore):
    """A KeyStore mirrored to an encrypted file; loads it at construction if it exists."""

    def __init__(
        self,
        path: Path,
        passphrase: str,
        random_bytes: RandomBytes = os.urandom,
        *,
        scrypt_n: int = _SCRYPT_N,
    ):
        super().__init__(random_bytes)
        self.path = Path(path)
        if self.path.exists():
            inner, self._sealer = _load(self.path, passphrase)
            try:
                for key_id, secret in inner.get("keyPairs", {}).items():
                    self.private_keys[KeyID(key_id)] = PrivateKey(bytes.fromhex(secret))
                for key_id, secret in inner.get("symKeys", {}).items():
                    super().add_sym_key(bytes.fromhex(secret), KeyID(key_id))
            except (ValueError, InvalidKeyError) as exc:
                raise UsageError(f"keystore {self.path} holds an invalid key: {exc}") from exc
        else:
            self._sealer = _Sealer(passphrase, random_bytes(16), scrypt_n, _SCRYPT_R, _SCRYPT_P)
            self.save()

    def save(self) -> None:
        try:
            write_keyfile(
                self.path,
                {key_id: key.secret for key_id, key in self.private_keys.items()},
                {key_id: key.secret for key_id, key in self.sym_keys.items()},
                self._sealer,
                self._random_bytes,
            )
        except OSError as exc:
            raise HushError(f"cannot write keystore {self.path}: {exc}") from exc

    def add_key_pair(self, key: PrivateKey, key_id: KeyID | None = None) -> KeyID:
        key_id = super().add_key_pair(key, key_id)
        self.save()
        return key_id

    def add_sym_key(self, secret: bytes, key_id: KeyID | None = None) -> KeyID:
        key_id = super().add_sym_key(secret, key_id)
        self.save()
        return key_id

    def delete_key_pair(self, key_id: str) -> bool:
        deleted = super().delete_key_pair(key_id)
        if deleted:
            self.save()
        return deleted

    def delete_sym_key(self, key_id: str) -> bool:
        deleted = super().delete_sym_key(key_id)
        if deleted:
            self.save()
        return deleted
