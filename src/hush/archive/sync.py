"""Server↔server sync on codes 123/124, between trusted peers (archive.md §1.1, §1.6).

* 123 `p2pSyncRequest`: `[Lower u32, Upper u32, Bloom 64, Limit u32, Cursor (0 or 36 bytes)]`;
  Limit must be 1..1000 and Lower ≤ Upper (status-go's `MaxLimitInSyncMailRequest`).
* 124 `p2pSyncResponse`: `[Envelopes (a list of raw envelopes), Cursor, Final bool, Error
  string]`. One 124 answers one 123; `Final` is set when no cursor follows. The response has no
  request ID (status-go's known TODO), so a server syncs from one peer one request at a time.

The serving side pages newest-first with the same exclusive cursor as history requests. Pure:
encoders, decoders and `check_sync_response` (what a 124 may hold for its 123: at most Limit
envelopes, a cursor inside the range that moved back); refusals are `RequestRefused` (answered
with `Error`, no disconnect), a malformed or hostile 124 is a `DecodeError`.
"""

from __future__ import annotations

from dataclasses import dataclass

from hush import rlp
from hush.archive.cursor import Cursor
from hush.archive.request import RequestRefused, _bloom, _cursor, _uint32
from hush.errors import DecodeError
from hush.types import Bloom

__all__ = [
    "MAX_SYNC_LIMIT",
    "SyncRequest",
    "SyncResponse",
    "check_sync_response",
    "decode_sync_request",
    "decode_sync_response",
    "encode_sync_request",
    "encode_sync_response",
]

MAX_SYNC_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class SyncRequest:
    lower: int
    upper: int
    bloom: Bloom
    limit: int
    cursor: Cursor | None = None


@dataclass(frozen=True, slots=True)
class SyncResponse:
    raw_envelopes: list[bytes]
    cursor: Cursor | None
    final: bool
    error: str


def _cursor_bytes(cursor: Cursor | None) -> bytes:
    return cursor.encode() if cursor is not None else b""


def encode_sync_request(
    lower: int, upper: int, bloom: bytes, limit: int, cursor: Cursor | None = None
) -> bytes:
    return rlp.encode(
        [
            rlp.uint_bytes(lower),
            rlp.uint_bytes(upper),
            bloom,
            rlp.uint_bytes(limit),
            _cursor_bytes(cursor),
        ]
    )


def decode_sync_request(payload: bytes) -> SyncRequest:
    try:
        item = rlp.decode(payload)
    except DecodeError as exc:
        raise RequestRefused(f"invalid sync request: {exc}") from None
    if not isinstance(item, list) or len(item) != 5:
        raise RequestRefused("invalid sync request: expected 5 items")
    request = SyncRequest(
        _uint32(item[0], "lower"),
        _uint32(item[1], "upper"),
        _bloom(item[2]),
        _uint32(item[3], "limit"),
        _cursor(item[4]),
    )
    if not 1 <= request.limit <= MAX_SYNC_LIMIT:
        raise RequestRefused(f"invalid sync request: limit must be 1..{MAX_SYNC_LIMIT}")
    if request.lower > request.upper:
        raise RequestRefused("invalid sync request: lower is after upper")
    return request


def encode_sync_response(
    raw_envelopes: list[bytes], cursor: Cursor | None, error: str = ""
) -> bytes:
    """One 124; `Final` is set when there is no cursor to follow."""
    envelopes = rlp.encode_list_payload(b"".join(raw_envelopes))  # raw, never re-encoded
    rest = (_cursor_bytes(cursor), b"\x01" if cursor is None else b"", error.encode("utf-8"))
    return rlp.encode_list_payload(envelopes + b"".join(rlp.encode_bytes(part) for part in rest))


def check_sync_response(
    response: SyncResponse, lower: int, upper: int, limit: int, cursor: Cursor | None
) -> None:
    """What a 124 may hold for the 123 it answers, or a `DecodeError`: at most `limit`
    envelopes, and a cursor inside the range that moved back from the one asked with (so a
    sync always ends). Envelopes outside the range are the caller's to skip."""
    if len(response.raw_envelopes) > limit:
        raise DecodeError(
            f"sync response: {len(response.raw_envelopes)} envelopes for a limit of {limit}"
        )
    if response.cursor is None:
        return
    if not lower <= response.cursor.sent <= upper:
        raise DecodeError("sync response: the cursor is outside the range asked for")
    if cursor is not None and response.cursor >= cursor:
        raise DecodeError("sync response: the cursor did not move back")


def decode_sync_response(payload: bytes) -> SyncResponse:
    """A 124's parts, the envelopes as their raw encodings (not decoded here)."""
    items = rlp.split_list(payload)
    if len(items) != 4:
        raise DecodeError("sync response: expected 4 items")
    raws = rlp.split_list(items[0])
    cursor_raw, final_raw, error_raw = (rlp.decode(raw) for raw in items[1:])
    if not isinstance(cursor_raw, bytes) or len(cursor_raw) not in (0, 36):
        raise DecodeError("sync response: cursor must be 0 or 36 bytes")
    if final_raw not in (b"", b"\x01"):
        raise DecodeError("sync response: final must be a boolean")
    if not isinstance(error_raw, bytes):
        raise DecodeError("sync response: error must be a string")
    return SyncResponse(
        raws,
        Cursor.decode(cursor_raw) if cursor_raw else None,
        final_raw == b"\x01",
        error_raw.decode("utf-8", "replace"),
    )
