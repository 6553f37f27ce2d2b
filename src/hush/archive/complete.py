"""Code 125 "request complete" and the 127 packets of a reply (archive.md §1.3, §1.4).

125 is one RLP byte string in the form deployed (status-go) clients parse:
`requestID (32) ‖ lastEnvelopeHash (32) ‖ cursor (0 or 36)` on success, `ERROR=` ‖ `requestID (32)`
‖ UTF-8 text on failure. The Waku/4-WHISPER-MAILSERVER specs' list form `[requestID, lastHash,
cursor]` is available by configuration. Clients disconnect on a payload under 32 bytes or a success
over 100 bytes, so the server never sends either; the decoder accepts both forms and refuses those.

127 carries one envelope (geth/wnode decode nothing else and disconnect on a list) unless the client
asked for batches: then a list of raw envelopes per packet, each packet under the bundle size.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from hush import rlp
from hush.archive.cursor import CURSOR_LENGTH, Cursor
from hush.errors import DecodeError

__all__ = [
    "ERROR_PREFIX",
    "NO_HASH",
    "CompleteForm",
    "RequestComplete",
    "RequestFailed",
    "bundle_envelopes",
    "decode_complete",
    "encode_complete",
    "encode_error",
]

ERROR_PREFIX = b"ERROR="
NO_HASH = bytes(32)
"""The last envelope hash when nothing was sent (status-go's zero `common.Hash`)."""
_ID = 32
_MAX_ERROR_TEXT = 256
_MAX_SUCCESS = _ID + _ID + CURSOR_LENGTH  # 100


class CompleteForm(enum.Enum):
    BYTES = "bytes"
    """status-go's byte string (the default)."""
    LIST = "list"
    """The specs' RLP list `[requestID, lastEnvelopeHash, cursor]`."""


@dataclass(frozen=True, slots=True)
class RequestComplete:
    request_id: bytes
    last_envelope_hash: bytes
    cursor: Cursor | None


@dataclass(frozen=True, slots=True)
class RequestFailed:
    request_id: bytes
    error: str


def _check_id(request_id: bytes) -> None:
    if len(request_id) != _ID:
        raise ValueError("request id must be 32 bytes")


def encode_complete(
    request_id: bytes,
    last_envelope_hash: bytes,
    cursor: Cursor | None,
    form: CompleteForm = CompleteForm.BYTES,
) -> bytes:
    _check_id(request_id)
    cursor_bytes = cursor.encode() if cursor is not None else b""
    if form is CompleteForm.LIST:
        return rlp.encode([request_id, last_envelope_hash, cursor_bytes])
    return rlp.encode_bytes(request_id + last_envelope_hash + cursor_bytes)


def encode_error(request_id: bytes, text: str) -> bytes:
    """The failure form (always a byte string: no spec defines a list form for errors). The text is
    cut to 256 bytes, on a character boundary."""
    _check_id(request_id)
    data = text.encode()[:_MAX_ERROR_TEXT].decode(errors="ignore").encode()
    return rlp.encode_bytes(ERROR_PREFIX + request_id + data)


def decode_complete(payload: bytes) -> RequestComplete | RequestFailed:
    """A 125 payload in either form; DecodeError for what status-go clients disconnect on."""
    item, _ = rlp.decode_prefix(payload)
    if isinstance(item, list):
        if len(item) != 3 or not all(isinstance(part, bytes) for part in item):
            raise DecodeError("request complete: expected [requestID, lastEnvelopeHash, cursor]")
        request_id, last, raw_cursor = (bytes(part) for part in item if isinstance(part, bytes))
        if len(request_id) != _ID or len(last) != _ID:
            raise DecodeError("request complete: ids must be 32 bytes")
        cursor = Cursor.decode(raw_cursor) if raw_cursor else None
        return RequestComplete(request_id, last, cursor)
    data = item
    if len(data) < _ID:
        raise DecodeError(f"request complete: {len(data)} bytes is too short")
    if data.startswith(ERROR_PREFIX) and len(data) >= len(ERROR_PREFIX) + _ID:
        start = len(ERROR_PREFIX)
        text = data[start + _ID :].decode(errors="replace")
        return RequestFailed(data[start : start + _ID], text)
    if len(data) > _MAX_SUCCESS:
        raise DecodeError(f"request complete: {len(data)} bytes is too long")
    if len(data) < 2 * _ID:
        raise DecodeError("request complete: no last envelope hash")
    cursor = Cursor.decode(data[2 * _ID : _MAX_SUCCESS]) if len(data) >= _MAX_SUCCESS else None
    return RequestComplete(data[:_ID], data[_ID : 2 * _ID], cursor)


def _list_header_length(payload_length: int) -> int:
    return 1 if payload_length < 56 else 1 + (payload_length.bit_length() + 7) // 8


def bundle_envelopes(raw_envelopes: Iterable[bytes], max_packet: int) -> Iterator[bytes]:
    """Batched 127 payloads: lists of raw envelopes, each packet at most `max_packet` bytes; an
    envelope too big to share a packet goes alone in a list of one."""
    chunk: list[bytes] = []
    size = 0
    for raw in raw_envelopes:
        if chunk and size + len(raw) + _list_header_length(size + len(raw)) > max_packet:
            yield rlp.encode_list_payload(b"".join(chunk))
            chunk, size = [], 0
        chunk.append(raw)
        size += len(raw)
    if chunk:
        yield rlp.encode_list_payload(b"".join(chunk))
