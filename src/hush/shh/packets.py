"""shh/6 packets: codes and payload codecs (whisper-v6.md §3.2–3.4).

Status: [version, float64 bits of min PoW, bloom, light], where only the version is mandatory,
the bloom is read only after a valid PoW, the light flag reads false when undecodable, and trailing
items are ignored — exactly geth's leniency, so status-go style extensions still connect.
"""

from __future__ import annotations

import enum
import math
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from hush import rlp
from hush.errors import DecodeError
from hush.shh.envelope import Envelope, check_run, decode_run
from hush.shh.topic import BLOOM_SIZE, FULL_BLOOM
from hush.types import Bloom

__all__ = [
    "PROTOCOL_LENGTH",
    "PROTOCOL_NAME",
    "PROTOCOL_VERSION",
    "PacketCode",
    "Status",
    "check_messages_in_slices",
    "decode_bloom",
    "decode_envelope",
    "decode_messages",
    "decode_messages_in_slices",
    "decode_pow_requirement",
    "decode_status",
    "encode_bloom",
    "encode_envelope_packet",
    "encode_messages",
    "encode_pow_requirement",
    "encode_status",
    "envelope_at",
    "float_from_bits",
    "float_to_bits",
    "iter_messages",
    "messages_bounds",
    "split_messages",
]

PROTOCOL_NAME = "shh"
PROTOCOL_VERSION = 6
PROTOCOL_LENGTH = 128


class PacketCode(enum.IntEnum):
    STATUS = 0
    MESSAGES = 1
    POW_REQUIREMENT = 2
    BLOOM_FILTER = 3
    P2P_REQUEST = 126
    P2P_MESSAGE = 127


def float_to_bits(value: float) -> int:
    return int.from_bytes(struct.pack(">d", value), "big")


def float_from_bits(bits: int) -> float:
    return float(struct.unpack(">d", bits.to_bytes(8, "big"))[0])


def _pow_value(item: rlp.Item, what: str) -> float:
    value = float_from_bits(rlp.decode_uint(item, 64, what))
    if math.isnan(value) or math.isinf(value) or value < 0:
        raise DecodeError(f"{what}: invalid PoW value {value}")
    return value


@dataclass(frozen=True, slots=True)
class Status:
    version: int = PROTOCOL_VERSION
    pow_requirement: float = 0.0
    bloom: Bloom | None = None
    """None (or absent/empty on the wire) means a full node."""
    light: bool = False


def encode_status(status: Status) -> bytes:
    bloom = status.bloom if status.bloom is not None else b""
    return rlp.encode(
        [
            rlp.uint_bytes(status.version),
            rlp.uint_bytes(float_to_bits(status.pow_requirement)),
            bloom,
            b"\x01" if status.light else b"",
        ]
    )


def decode_status(payload: bytes) -> Status:
    items = _first_list(payload, "status")
    if not items:
        raise DecodeError("status: missing version")
    version = rlp.decode_uint(items[0], 64, "status version")
    # geth reads the optional items one by one and skips the rest at the first that doesn't
    # decode (a PoW that isn't a uint, a bloom that isn't a string); values that decode but are
    # invalid (NaN PoW, a 10-byte bloom) are errors.
    if len(items) < 2:
        return Status(version)
    try:
        pow_bits = rlp.decode_uint(items[1], 64, "status PoW")
    except DecodeError:
        return Status(version)
    pow_requirement = float_from_bits(pow_bits)
    if math.isnan(pow_requirement) or math.isinf(pow_requirement) or pow_requirement < 0:
        raise DecodeError(f"status: invalid PoW value {pow_requirement}")
    raw = items[2] if len(items) > 2 else None
    if not isinstance(raw, bytes):
        return Status(version, pow_requirement)
    if len(raw) not in (0, BLOOM_SIZE):
        raise DecodeError("status: bloom must be empty or 64 bytes")
    bloom = Bloom(raw) if raw and raw != FULL_BLOOM else None
    light = len(items) > 3 and items[3] == b"\x01"  # geth: anything else reads as false
    return Status(version, pow_requirement, bloom, light)


def encode_messages(encoded_envelopes: Sequence[bytes]) -> bytes:
    return rlp.encode_list_payload(b"".join(encoded_envelopes))


def _first_item(payload: bytes) -> rlp.Item:
    """geth decodes a packet's first RLP value and ignores whatever follows it."""
    return rlp.decode_prefix(payload)[0]


def _first_list(payload: bytes, what: str) -> list[rlp.Item]:
    item = _first_item(payload)
    if not isinstance(item, list):
        raise DecodeError(f"{what}: expected an RLP list")
    return item


def decode_messages(payload: bytes) -> list[Envelope]:
    return [Envelope.from_item(item) for item in _first_list(payload, "messages")]


def iter_messages(payload: bytes) -> Iterator[bytes]:
    """The envelopes' encodings in a `messages` packet, one at a time, each for `Envelope.decode`.

    Only the list structure is checked (the packet's list header at once, each item's as it is
    reached): a big packet can then be decoded in slices. Decoding all of them gives exactly what
    `decode_messages` gives, and fails where it fails.
    """
    try:
        items = rlp.iter_list(payload)
    except DecodeError as exc:
        raise DecodeError(f"messages: {exc}") from exc
    return _prefixed(items)


def _prefixed(items: Iterator[bytes]) -> Iterator[bytes]:
    try:
        yield from items
    except DecodeError as exc:
        raise DecodeError(f"messages: {exc}") from exc


def decode_messages_in_slices(payload: bytes, size: int) -> Iterator[list[Envelope]]:
    """The envelopes of a `messages` packet, decoded (hash and PoW digest included), `size` at a
    time, so that a big packet can be taken in slices.

    The same envelopes as `Envelope.decode` of each of `iter_messages`, and the same
    `DecodeError` at the same envelope: runs of well-formed envelopes are decoded in one C call
    each; an item the C part declines goes through exactly that reference path.
    """
    if size < 1:
        raise ValueError("slice size must be at least 1")
    payload = bytes(payload)
    try:
        pos, stop = rlp.list_bounds(payload)
    except DecodeError as exc:
        raise DecodeError(f"messages: {exc}") from exc
    while pos < stop:
        chunk, pos = decode_run(payload, pos, stop, size)
        while len(chunk) < size and pos < stop:  # the next item is the reference path's
            try:
                end = rlp.item_end(payload, pos, stop)
            except DecodeError as exc:
                raise DecodeError(f"messages: {exc}") from exc
            chunk.append(Envelope.decode(payload[pos:end]))
            pos = end
            more, pos = decode_run(payload, pos, stop, size - len(chunk))
            chunk.extend(more)
        yield chunk


def messages_bounds(payload: bytes) -> tuple[int, int]:
    """Where the envelopes of a `messages` packet begin and end in it (its list header checked)."""
    try:
        return rlp.list_bounds(payload)
    except DecodeError as exc:
        raise DecodeError(f"messages: {exc}") from exc


def envelope_at(payload: bytes, pos: int, stop: int) -> tuple[Envelope, int]:
    """The envelope whose list item starts at `pos` in a `messages` payload, through the
    reference path (`Envelope.decode`), and where it ends."""
    try:
        end = rlp.item_end(payload, pos, stop)
    except DecodeError as exc:
        raise DecodeError(f"messages: {exc}") from exc
    return Envelope.decode(payload[pos:end]), end


def check_messages_in_slices(
    payload: bytes, size: int
) -> Iterator[tuple[int, dict[int, tuple[Envelope, int]]]]:
    """geth's first pass over a `messages` packet (every envelope must decode before any is
    added), `size` envelopes at a time: per slice, how many were checked and the envelopes the
    reference path decoded on the way (with where each ends, by where it starts).

    It fails where `decode_messages_in_slices` fails, with the same `DecodeError`, and accepts
    what it accepts; but the envelopes the C part takes are only checked, not hashed: the second
    pass finds copies by their bytes and hashes each other envelope once
    (`EnvelopePool.copies_run`). Without the C part every envelope is
    decoded here, as `decode_messages_in_slices` would."""
    if size < 1:
        raise ValueError("slice size must be at least 1")
    payload = bytes(payload)
    pos, stop = messages_bounds(payload)
    while pos < stop:
        count, pos = check_run(payload, pos, stop, size)
        decoded: dict[int, tuple[Envelope, int]] = {}
        while count < size and pos < stop:  # the next item is the reference path's
            at = pos
            decoded[at] = envelope_at(payload, at, stop)
            pos = decoded[at][1]
            more, pos = check_run(payload, pos, stop, size - count - 1)
            count += 1 + more
        yield count, decoded


def split_messages(payload: bytes) -> list[bytes]:
    return list(iter_messages(payload))


def encode_envelope_packet(envelope: Envelope) -> bytes:
    """Codes 126 and 127 carry a single envelope, not a list."""
    return envelope.encode()


def decode_envelope(payload: bytes) -> Envelope:
    return Envelope.from_item(_first_item(payload))


def encode_pow_requirement(value: float) -> bytes:
    return rlp.encode_uint(float_to_bits(value))


def decode_pow_requirement(payload: bytes) -> float:
    return _pow_value(_first_item(payload), "PoW requirement")


def encode_bloom(bloom: Bloom) -> bytes:
    return rlp.encode_bytes(bloom)


def decode_bloom(payload: bytes) -> Bloom:
    raw = _first_item(payload)
    if not isinstance(raw, bytes) or len(raw) != BLOOM_SIZE:
        raise DecodeError("bloom filter: must be exactly 64 bytes")
    return Bloom(raw)
