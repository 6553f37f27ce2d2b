"""History requests on code 126: the five dialects, told apart in the spec's order (archive.md §1.2).

Dispatch:

1. The packet decodes as a 5-item envelope: an envelope request (decrypt it, see `open_request`).
   Otherwise it must be a *direct* `MessagesRequest` (dialect E): `[ID 32, From, To, Limit, Cursor,
   Bloom]`, unencrypted (an envelope's item 0 is a uint32, E's is 32 bytes).
2. The decrypted payload is an RLP list: the dialect by item count and the type of the last item —
   7 items: Status v2 (C); 6 items ending in a byte string: Status v1 (B); 6 ending in a list: Waku
   mail (D); 5 ending in a byte string: the 4/WHISPER-MAILSERVER text (B′); 5 ending in a list:
   Waku mail without a cursor.
3. Otherwise raw (A/A+): `lower u32be ‖ upper u32be [‖ bloom 64 [‖ limit u32be [‖ cursor 36]]]`;
   exactly 8 bytes asks for every topic, 9…71 bytes is refused (as geth does), a cursor counts only
   when the payload is exactly 112 bytes (status-go 2018; its later 116-byte check is a bug).

Every refusal is a `RequestRefused`, which the server answers with `ERROR=…` on 125 and never a
disconnect. Pure: no I/O, no clock; `now` comes in where bounds are resolved (`hush.archive.page`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from hush import rlp
from hush.archive.cursor import CURSOR_LENGTH, Cursor
from hush.crypto.keys import PrivateKey
from hush.crypto.symmetric import SymmetricKey
from hush.errors import DecodeError, HushError
from hush.shh.envelope import Envelope
from hush.shh.message import open_asymmetric, open_symmetric
from hush.shh.topic import BLOOM_SIZE, FULL_BLOOM, TOPIC_LENGTH
from hush.types import Bloom, Topic

__all__ = [
    "MAX_TOPICS",
    "Dialect",
    "HistoryRequest",
    "RequestRefused",
    "decode_direct_request",
    "decode_p2p_request",
    "encode_direct_request",
    "encode_raw_request",
    "encode_status_v1",
    "encode_status_v2",
    "encode_waku",
    "open_request",
    "parse_request_payload",
]

MAX_TOPICS = 1000
"""Topics one request may list; more is refused (bounded work per request)."""
_ID_LENGTH = 32
_RAW_MIN = 8
_RAW_BLOOM_END = _RAW_MIN + BLOOM_SIZE  # 72
_RAW_LIMIT_END = _RAW_BLOOM_END + 4  # 76
_RAW_CURSOR_END = _RAW_LIMIT_END + CURSOR_LENGTH  # 112


class RequestRefused(HushError):
    """A request the server refuses; the text goes to the client as `ERROR=…` on code 125."""


class Dialect(enum.Enum):
    RAW = "geth wnode raw (A)"
    RAW_PAGED = "Status raw with limit/cursor (A+)"
    STATUS_V1 = "Status RLP v1 (B)"
    SPEC_V03 = "4/WHISPER-MAILSERVER v0.3 (B')"
    STATUS_V2 = "Status RLP v2 (C)"
    WAKU = "Waku mail (D)"
    DIRECT = "direct MessagesRequest (E)"


@dataclass(frozen=True, slots=True)
class HistoryRequest:
    """One request, whatever its dialect, before its bounds are resolved against `now`."""

    dialect: Dialect
    request_id: bytes
    """32 bytes: the request envelope's hash, or a direct request's ID."""
    lower: int
    upper: int
    """As sent: 0 (and wnode's 0xFFFFFFFF) mean "up to now", see `hush.archive.page`."""
    bloom: Bloom
    topics: tuple[Topic, ...] = ()
    """When given, the bloom is ignored (Waku mail spec)."""
    limit: int = 0
    """0: the server's default (1000)."""
    cursor: Cursor | None = None
    batch: bool = False
    """The client takes a list of envelopes per 127 packet (geth does not)."""


def _uint32(item: rlp.Item, what: str) -> int:
    try:
        return rlp.decode_uint(item, 32, what)
    except DecodeError as exc:
        raise RequestRefused(f"invalid request: {exc}") from None


def _bytes(item: rlp.Item, what: str) -> bytes:
    if not isinstance(item, bytes):
        raise RequestRefused(f"invalid request: {what} must be a byte string")
    return item


def _bloom(item: rlp.Item) -> Bloom:
    raw = _bytes(item, "bloom")
    if len(raw) != BLOOM_SIZE:
        raise RequestRefused(f"invalid request: bloom must be {BLOOM_SIZE} bytes, got {len(raw)}")
    return Bloom(raw)


def _cursor(item: rlp.Item) -> Cursor | None:
    raw = _bytes(item, "cursor")
    if not raw:
        return None
    if len(raw) != CURSOR_LENGTH:
        raise RequestRefused(f"invalid request: cursor must be {CURSOR_LENGTH} bytes")
    return Cursor.decode(raw)


def _bool(item: rlp.Item) -> bool:
    raw = _bytes(item, "batch flag")
    if raw not in (b"", b"\x01"):
        raise RequestRefused("invalid request: batch flag must be a boolean")
    return raw == b"\x01"


def _topics(item: rlp.Item) -> tuple[Topic, ...]:
    if not isinstance(item, list):
        raise RequestRefused("invalid request: topics must be a list")
    if len(item) > MAX_TOPICS:
        raise RequestRefused(f"invalid request: more than {MAX_TOPICS} topics")
    topics = []
    for topic in item:
        if not isinstance(topic, bytes) or len(topic) != TOPIC_LENGTH:
            raise RequestRefused("invalid request: each topic must be 4 bytes")
        topics.append(Topic(topic))
    return tuple(dict.fromkeys(topics))


def parse_request_payload(payload: bytes, request_id: bytes) -> HistoryRequest:
    """The request in a decrypted request envelope's payload (steps 3 and 4 of the dispatch)."""
    try:
        item: rlp.Item | None = rlp.decode(payload)
    except DecodeError:
        item = None
    if isinstance(item, list):
        return _parse_list(item, request_id)
    return _parse_raw(payload, request_id)


def _parse_list(items: list[rlp.Item], request_id: bytes) -> HistoryRequest:
    count = len(items)
    if count == 7:  # [Lower, Upper, Bloom, Topics, Limit, Cursor, Batch]
        return HistoryRequest(
            Dialect.STATUS_V2,
            request_id,
            _uint32(items[0], "lower"),
            _uint32(items[1], "upper"),
            _bloom(items[2]),
            _topics(items[3]),
            _uint32(items[4], "limit"),
            _cursor(items[5]),
            _bool(items[6]),
        )
    if count in (5, 6) and isinstance(
        items[-1], list
    ):  # [lower, upper, bloom, limit, (cursor,) topics]
        return HistoryRequest(
            Dialect.WAKU,
            request_id,
            _uint32(items[0], "lower"),
            _uint32(items[1], "upper"),
            _bloom(items[2]),
            _topics(items[-1]),
            _uint32(items[3], "limit"),
            _cursor(items[4]) if count == 6 else None,
            batch=True,  # the Waku mail spec's 127 carries a list of envelopes
        )
    if count in (5, 6):  # B′: [Lower, Upper, Bloom, Limit, Cursor]; B adds Batch
        return HistoryRequest(
            Dialect.STATUS_V1 if count == 6 else Dialect.SPEC_V03,
            request_id,
            _uint32(items[0], "lower"),
            _uint32(items[1], "upper"),
            _bloom(items[2]),
            (),
            _uint32(items[3], "limit"),
            _cursor(items[4]),
            _bool(items[5]) if count == 6 else False,
        )
    raise RequestRefused(f"invalid request: an RLP list of {count} items is no known dialect")


def _parse_raw(payload: bytes, request_id: bytes) -> HistoryRequest:
    size = len(payload)
    if size < _RAW_MIN:
        raise RequestRefused(f"invalid request: raw payload of {size} bytes (needs 8)")
    if _RAW_MIN < size < _RAW_BLOOM_END:
        raise RequestRefused(f"invalid request: raw payload of {size} bytes (bloom needs 64)")
    lower = int.from_bytes(payload[0:4], "big")
    upper = int.from_bytes(payload[4:8], "big")
    bloom = Bloom(payload[_RAW_MIN:_RAW_BLOOM_END]) if size >= _RAW_BLOOM_END else FULL_BLOOM
    if size < _RAW_LIMIT_END:
        return HistoryRequest(Dialect.RAW, request_id, lower, upper, bloom)
    limit = int.from_bytes(payload[_RAW_BLOOM_END:_RAW_LIMIT_END], "big")
    cursor = None
    if size == _RAW_CURSOR_END:
        cursor = Cursor.decode(payload[_RAW_LIMIT_END:_RAW_CURSOR_END])
    return HistoryRequest(Dialect.RAW_PAGED, request_id, lower, upper, bloom, (), limit, cursor)


def decode_direct_request(item: rlp.Item) -> HistoryRequest:
    """Dialect E, `[ID, From, To, Limit, Cursor, Bloom]` (status-im/whisper MessagesRequest)."""
    if not isinstance(item, list) or len(item) != 6:
        raise RequestRefused("invalid request: not an envelope nor a MessagesRequest")
    request_id = _bytes(item[0], "request ID")
    if len(request_id) != _ID_LENGTH:
        raise RequestRefused("invalid request: request ID must be 32 bytes")
    raw_bloom = _bytes(item[5], "bloom")
    if not raw_bloom:
        raise RequestRefused("invalid request: bloom must not be empty")
    return HistoryRequest(
        Dialect.DIRECT,
        request_id,
        _uint32(item[1], "from"),
        _uint32(item[2], "to"),
        _bloom(raw_bloom),
        (),
        _uint32(item[3], "limit"),
        _cursor(item[4]),
        batch=True,
    )


def decode_p2p_request(payload: bytes) -> Envelope | HistoryRequest:
    """Step 1 of the dispatch: a code 126 payload is an envelope request or a direct request.
    Raises `RequestRefused` for anything else (the caller answers it, never disconnects)."""
    try:
        item, _ = rlp.decode_prefix(payload)
    except DecodeError as exc:
        raise RequestRefused(f"invalid request: {exc}") from None
    try:
        return Envelope.from_item(item)
    except DecodeError:
        return decode_direct_request(item)


def open_request(
    envelope: Envelope,
    sym_key: SymmetricKey | None,
    node_key: PrivateKey | None,
    min_pow: float = 0.0,
) -> bytes:
    """The decrypted payload of a request envelope: it must reach `min_pow`, open with the
    password key or the node key, and be signed (the signer is not compared with the peer, like
    geth and status-go)."""
    if min_pow > 0 and envelope.pow() < min_pow:
        raise RequestRefused("PoW too low")
    opened = open_symmetric(envelope, sym_key) if sym_key is not None else None
    if opened is None and node_key is not None:
        opened = open_asymmetric(envelope, node_key)
    if opened is None:
        raise RequestRefused("failed to decrypt the request")
    if opened.signer is None:
        raise RequestRefused("wrong signature")  # geth: "Wrong signature"
    return opened.payload


# Encoders, for the client and the known-answer tests.


def encode_raw_request(
    lower: int,
    upper: int,
    bloom: bytes | None = None,
    limit: int | None = None,
    cursor: Cursor | None = None,
) -> bytes:
    """A/A+: `lower ‖ upper [‖ bloom [‖ limit [‖ cursor]]]`."""
    out = lower.to_bytes(4, "big") + upper.to_bytes(4, "big")
    if bloom is not None:
        out += bloom
        if limit is not None:
            out += limit.to_bytes(4, "big")
            if cursor is not None:
                out += cursor.encode()
    return out


def _cursor_bytes(cursor: Cursor | None) -> bytes:
    return cursor.encode() if cursor is not None else b""


def encode_status_v1(
    lower: int, upper: int, bloom: bytes, limit: int, cursor: Cursor | None, batch: bool
) -> bytes:
    return rlp.encode(
        [
            rlp.uint_bytes(lower),
            rlp.uint_bytes(upper),
            bloom,
            rlp.uint_bytes(limit),
            _cursor_bytes(cursor),
            b"\x01" if batch else b"",
        ]
    )


def encode_status_v2(
    lower: int,
    upper: int,
    bloom: bytes,
    topics: list[Topic],
    limit: int,
    cursor: Cursor | None,
    batch: bool,
) -> bytes:
    return rlp.encode(
        [
            rlp.uint_bytes(lower),
            rlp.uint_bytes(upper),
            bloom,
            list[rlp.Item](topics),
            rlp.uint_bytes(limit),
            _cursor_bytes(cursor),
            b"\x01" if batch else b"",
        ]
    )


def encode_waku(
    lower: int, upper: int, bloom: bytes, limit: int, cursor: Cursor | None, topics: list[Topic]
) -> bytes:
    return rlp.encode(
        [
            rlp.uint_bytes(lower),
            rlp.uint_bytes(upper),
            bloom,
            rlp.uint_bytes(limit),
            _cursor_bytes(cursor),
            list[rlp.Item](topics),
        ]
    )


def encode_direct_request(
    request_id: bytes, lower: int, upper: int, limit: int, cursor: Cursor | None, bloom: bytes
) -> bytes:
    return rlp.encode(
        [
            request_id,
            rlp.uint_bytes(lower),
            rlp.uint_bytes(upper),
            rlp.uint_bytes(limit),
            _cursor_bytes(cursor),
            bloom,
        ]
    )
