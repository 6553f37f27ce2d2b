"""Cryptographic primitives shared by envelopes and RLPx (whisper-v6.md §2, devp2p.md §2.1)."""

from hush.crypto.ecies import ECIES_OVERHEAD, ecies_decrypt, ecies_encrypt
from hush.crypto.keccak import keccak256
from hush.crypto.keys import (
    PrivateKey,
    ecdh_x,
    public_key_from_bytes,
    recover_public_key,
    sign_recoverable,
)
from hush.crypto.symmetric import (
    SymmetricKey,
    constant_time_equal,
    key_from_password,
)

__all__ = [
    "ECIES_OVERHEAD",
    "PrivateKey",
    "SymmetricKey",
    "constant_time_equal",
    "ecdh_x",
    "ecies_decrypt",
    "ecies_encrypt",
    "keccak256",
    "key_from_password",
    "public_key_from_bytes",
    "recover_public_key",
    "sign_recoverable",
]
