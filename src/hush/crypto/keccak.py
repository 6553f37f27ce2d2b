"""Keccak-256 (the pre-standard padding Ethereum uses; `hashlib.sha3_256` is a different hash)."""

from __future__ import annotations

import sha3

__all__ = ["KECCAK_RATE", "keccak256", "keccak_state"]

KECCAK_RATE = 136
"""Bytes absorbed per Keccak-f permutation at 256-bit output."""

keccak_state = sha3.keccak_256
"""A running Keccak-256 state: `.update()`, `.digest()` without finalising, `.copy()`."""


def keccak256(data: bytes) -> bytes:
    return sha3.keccak_256(data).digest()  # type: ignore[no-any-return]
