"""Strict, canonical RLP (Ethereum Yellow Paper, appendix B), as strict as go-ethereum's decoder.

Rules enforced on decode: a single byte below 0x80 must stand for itself (not `81 xx`); the long
forms (`b8+`, `f8+`) only for payloads of 56 bytes or more; lengths without leading zero bytes;
every item within its parent; nesting at most `MAX_DEPTH` deep. Integers are byte strings here:
`decode_uint` checks them canonical (no leading zero byte) and within range. Every failure is a
`DecodeError` naming what was wrong.
"""

from __future__ import annotations

from collections.abc import Iterator

from hush.errors import DecodeError, UsageError

__all__ = [
    "MAX_DEPTH",
    "Item",
    "decode",
    "decode_list",
    "decode_prefix",
    "decode_uint",
    "encode",
    "encode_bytes",
    "encode_list_payload",
    "encode_uint",
    "item_end",
    "iter_list",
    "list_bounds",
    "split_list",
    "uint_bytes",
]

Item = bytes | list["Item"]
MAX_DEPTH = 16


def _length_prefix(length: int, short_base: int) -> bytes:
    if length < 56:
        return bytes((short_base + length,))
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((short_base + 55 + len(size),)) + size


def encode_bytes(value: bytes) -> bytes:
    """RLP of one byte string."""
    if len(value) == 1 and value[0] < 0x80:
        return bytes(value)
    return _length_prefix(len(value), 0x80) + value


def encode_list_payload(payload: bytes) -> bytes:
    """RLP of a list whose items are already encoded and concatenated in `payload`."""
    return _length_prefix(len(payload), 0xC0) + payload


def uint_bytes(value: int) -> bytes:
    """The canonical big-endian bytes of an unsigned integer (0 → empty)."""
    if value < 0:
        raise UsageError("RLP integers are unsigned")
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def encode_uint(value: int) -> bytes:
    """RLP of an unsigned integer."""
    return encode_bytes(uint_bytes(value))


def encode(item: Item | int) -> bytes:
    """RLP of a byte string, an unsigned integer or a (nested) list of them."""
    if isinstance(item, int):
        return encode_uint(item)
    if isinstance(item, bytes | bytearray):
        return encode_bytes(bytes(item))
    return encode_list_payload(b"".join(encode(sub) for sub in item))


def _header(data: bytes, pos: int, end: int) -> tuple[bool, int, int]:
    """(is_list, payload_start, payload_end) of the item at `pos`, checked canonical and in bounds."""
    if pos >= end:
        raise DecodeError("RLP: unexpected end of input")
    first = data[pos]
    if first < 0x80:
        return False, pos, pos + 1
    is_list = first >= 0xC0
    base = 0xC0 if is_list else 0x80
    if first <= base + 55:
        length = first - base
        start = pos + 1
        if not is_list and length == 1 and start < end and data[start] < 0x80:
            raise DecodeError("RLP: single byte below 0x80 must be encoded as itself")
    else:
        size_len = first - base - 55
        start = pos + 1 + size_len
        if start > end:
            raise DecodeError("RLP: length prefix runs past the end of input")
        if data[pos + 1] == 0:
            raise DecodeError("RLP: length with leading zero bytes")
        length = int.from_bytes(data[pos + 1 : start], "big")
        if length < 56:
            raise DecodeError("RLP: long form used for a payload shorter than 56 bytes")
    stop = start + length
    if stop > end:
        kind = "list" if is_list else "string"
        raise DecodeError(f"RLP: {kind} of {length} bytes runs past the end of input")
    return is_list, start, stop


def _decode_at(data: bytes, pos: int, end: int, depth: int) -> tuple[Item, int]:
    is_list, start, stop = _header(data, pos, end)
    if not is_list:
        return data[start:stop], stop
    if depth >= MAX_DEPTH:
        raise DecodeError(f"RLP: nesting deeper than {MAX_DEPTH}")
    items: list[Item] = []
    cursor = start
    while cursor < stop:
        item, cursor = _decode_at(data, cursor, stop, depth + 1)
        items.append(item)
    return items, stop


def decode_prefix(data: bytes) -> tuple[Item, int]:
    """Decode the first item of `data`; returns it and the offset just past it (trailing bytes allowed)."""
    return _decode_at(bytes(data), 0, len(data), 0)


def iter_list(data: bytes) -> Iterator[bytes]:
    """The encoded items of the list at the start of `data`, undecoded, one at a time (trailing
    bytes after the list allowed).

    The list's own header is checked at once; each item's header (canonical, within the list) as
    it is reached. What an item holds is left to whoever decodes it, so a long list can be
    decoded piecemeal.
    """
    data = bytes(data)
    start, stop = list_bounds(data)
    return _items(data, start, stop)


def list_bounds(data: bytes) -> tuple[int, int]:
    """Where the payload of the list at the start of `data` begins and ends (its header checked,
    trailing bytes allowed)."""
    is_list, start, stop = _header(data, 0, len(data))
    if not is_list:
        raise DecodeError("RLP: expected a list, got a byte string")
    return start, stop


def item_end(data: bytes, pos: int, stop: int) -> int:
    """The end of the item at `pos` within `data[:stop]`, its header checked as `iter_list` does."""
    return _header(data, pos, stop)[2]


def _items(data: bytes, cursor: int, stop: int) -> Iterator[bytes]:
    while cursor < stop:
        _, _, end = _header(data, cursor, stop)
        yield data[cursor:end]
        cursor = end


def split_list(data: bytes) -> list[bytes]:
    """All of `iter_list` at once."""
    return list(iter_list(data))


def decode(data: bytes) -> Item:
    """Decode exactly one item that spans the whole of `data`."""
    item, stop = decode_prefix(data)
    if stop != len(data):
        raise DecodeError(f"RLP: {len(data) - stop} trailing bytes after the item")
    return item


def decode_list(data: bytes) -> list[Item]:
    """Decode `data` as exactly one list."""
    item = decode(data)
    if not isinstance(item, list):
        raise DecodeError("RLP: expected a list, got a byte string")
    return item


def decode_uint(value: Item, bits: int = 64, name: str = "integer") -> int:
    """A canonical unsigned integer of at most `bits` bits from a decoded item."""
    if not isinstance(value, bytes):
        raise DecodeError(f"{name}: expected an integer, got a list")
    if value[:1] == b"\x00":
        raise DecodeError(f"{name}: non-canonical integer (leading zero byte)")
    if len(value) * 8 > bits + 7 or int.from_bytes(value, "big") >> bits:
        raise DecodeError(f"{name}: integer overflows uint{bits}")
    return int.from_bytes(value, "big")
