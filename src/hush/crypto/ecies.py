"""geth's ECIES on secp256k1 (ECIES_AES128_SHA256), shared by envelopes and the RLPx handshake.

Concat-KDF(SHA-256) over the raw ECDH x; AES-128-CTR with the full 16-byte IV as the first counter
block; HMAC-SHA-256 keyed with SHA-256 of the KDF's second half, over IV‖ciphertext‖s2.
Wire form: R(65) ‖ IV(16) ‖ ciphertext ‖ tag(32), 113 bytes of overhead (whisper-v6.md §2.6,
devp2p.md §2.1). s1 is always empty in both users.
"""

from __future__ import annotations

import hashlib
import hmac

import coincurve
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from hush.crypto.keys import PrivateKey, ecdh_x, public_key_from_bytes
from hush.errors import InvalidKeyError
from hush.types import RandomBytes

__all__ = ["ECIES_OVERHEAD", "concat_kdf", "ecies_decrypt", "ecies_encrypt"]

_PUBLIC_KEY_LENGTH = 65
_IV_LENGTH = 16
_TAG_LENGTH = 32
ECIES_OVERHEAD = _PUBLIC_KEY_LENGTH + _IV_LENGTH + _TAG_LENGTH


def concat_kdf(secret: bytes, length: int, shared_info: bytes = b"") -> bytes:
    """NIST SP 800-56 Concatenation KDF with SHA-256 and a 32-bit big-endian counter from 1."""
    output = b""
    counter = 1
    while len(output) < length:
        output += hashlib.sha256(counter.to_bytes(4, "big") + secret + shared_info).digest()
        counter += 1
    return output[:length]


def _keys(shared_x: bytes) -> tuple[bytes, bytes]:
    derived = concat_kdf(shared_x, 32)
    return derived[:16], hashlib.sha256(derived[16:]).digest()


def _aes128_ctr(key: bytes, iv: bytes, data: bytes) -> bytes:
    # CTR has no final block: finalize() would return b"", so it is skipped (hot path).
    return Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor().update(data)


def ecies_encrypt(
    recipient: bytes | coincurve.PublicKey,
    plaintext: bytes,
    random_bytes: RandomBytes,
    shared_mac_data: bytes = b"",
) -> bytes:
    """Encrypt to a public key; `random_bytes` supplies the ephemeral key and the IV."""
    point = (
        recipient
        if isinstance(recipient, coincurve.PublicKey)
        else public_key_from_bytes(recipient)
    )
    ephemeral = PrivateKey.generate(random_bytes)
    enc_key, mac_key = _keys(ecdh_x(ephemeral, point))
    iv = random_bytes(_IV_LENGTH)
    ciphertext = _aes128_ctr(enc_key, iv, plaintext)
    tag = hmac.new(mac_key, iv + ciphertext + shared_mac_data, hashlib.sha256).digest()
    return ephemeral.public_key + iv + ciphertext + tag


def ecies_decrypt(key: PrivateKey, data: bytes, shared_mac_data: bytes = b"") -> bytes | None:
    """The plaintext, or None when `data` was not encrypted to `key` or was tampered with."""
    # Reject what geth would panic on: an IV+ciphertext shorter than one block (whisper-v6.md §2.6).
    if len(data) < ECIES_OVERHEAD or data[0] not in (2, 3, 4):
        return None
    try:
        point = public_key_from_bytes(data[:_PUBLIC_KEY_LENGTH])
    except InvalidKeyError:
        return None
    enc_key, mac_key = _keys(ecdh_x(key, point))
    body = data[_PUBLIC_KEY_LENGTH:-_TAG_LENGTH]
    expected = hmac.digest(mac_key, body + shared_mac_data, "sha256")
    if not hmac.compare_digest(expected, data[-_TAG_LENGTH:]):
        return None
    return _aes128_ctr(enc_key, body[:_IV_LENGTH], body[_IV_LENGTH:])
