"""The archive's paging cursor: 36 bytes, `uint32_be(sent) ‖ envelope hash` (archive.md §1.4, §1.7).

Exactly 36 bytes because deployed Status clients disconnect on a 125 longer than 100 bytes and
refuse to send a cursor of any other length. Pages go newest-first and the cursor is exclusive: the
next page holds rows strictly older than the cursor's key `(sent, hash)`.
"""

from __future__ import annotations

from dataclasses import dataclass

from hush.errors import DecodeError
from hush.types import EnvelopeHash

__all__ = ["CURSOR_LENGTH", "Cursor"]

CURSOR_LENGTH = 36
_HASH_LENGTH = 32


@dataclass(frozen=True, slots=True, order=True)
class Cursor:
    """A row key: the envelope's sent time and hash. Orders like the store's primary key."""

    sent: int
    hash: EnvelopeHash

    def __post_init__(self) -> None:
        if not 0 <= self.sent <= 0xFFFFFFFF:
            raise DecodeError("cursor: sent must be a uint32")
        if len(self.hash) != _HASH_LENGTH:
            raise DecodeError("cursor: hash must be 32 bytes")

    def encode(self) -> bytes:
        return self.sent.to_bytes(4, "big") + self.hash

    @classmethod
    def decode(cls, raw: bytes) -> Cursor:
        if len(raw) != CURSOR_LENGTH:
            raise DecodeError(f"cursor must be {CURSOR_LENGTH} bytes, got {len(raw)}")
        return cls(int.from_bytes(raw[:4], "big"), EnvelopeHash(bytes(raw[4:])))
