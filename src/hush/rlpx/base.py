"""The devp2p base protocol "p2p" v5: Hello, Disconnect, Ping/Pong, Snappy, capabilities (devp2p.md §4).

Rules:

* Message ids 0x00–0x0f belong to p2p; sub-protocols are laid out from 0x10 by geth's
  `matchProtocols` (§4.6): remote caps sorted by (name, version), only shared ones take ids, and a
  later version of the same name replaces the earlier one.
* Hello (§4.2) is at most 2048 bytes, never compressed; its extra list elements are ignored; the
  node id must be 64 bytes, not all zero, and match the RLPx-authenticated key.
* Disconnect (§4.4) is sent as `[reason]`; accepted as a list or a bare integer, compressed or
  not; anything undecodable counts as reason 0, as in geth.
* Snappy (§4.3) uses the raw block format; the declared decompressed length is read from the
  varint header and refused above 0xFFFFFF or our own limit before anything is inflated.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass

import cramjam

from hush import rlp
from hush.crypto import keccak256
from hush.errors import DecodeError, DisconnectReason, PeerError, UsageError

__all__ = [
    "BASE_PROTOCOL_LENGTH",
    "BASE_PROTOCOL_VERSION",
    "DISCONNECT",
    "HELLO",
    "MAX_HELLO_SIZE",
    "MAX_SNAPPY_SIZE",
    "PING",
    "PONG",
    "Capability",
    "Hello",
    "SharedCapability",
    "decode_disconnect",
    "encode_disconnect",
    "match_capabilities",
    "snappy_compress",
    "snappy_compressed_size",
    "snappy_decompress",
]

BASE_PROTOCOL_VERSION = 5
"""p2p v5: Snappy after Hello (EIP-706, devp2p.md §4.3)."""

BASE_PROTOCOL_LENGTH = 16
"""Ids 0x00–0x0f are p2p's; sub-protocol offsets start at 0x10 (devp2p.md §4.1)."""

HELLO, DISCONNECT, PING, PONG = 0x00, 0x01, 0x02, 0x03

MAX_HELLO_SIZE = 2048
"""geth's `baseProtocolMaxMsgSize` (devp2p.md §4.2)."""

MAX_SNAPPY_SIZE = 0xFFFFFF
"""geth refuses a declared decompressed length above 16 MiB − 1 (devp2p.md §4.3)."""

EMPTY_LIST = b"\xc0"


@dataclass(frozen=True, slots=True)
class Capability:
    """A local sub-protocol: name, version and the number of message ids it uses."""

    name: str
    version: int
    length: int


@dataclass(frozen=True, slots=True)
class SharedCapability:
    """A negotiated sub-protocol and the first wire id of its range."""

    name: str
    version: int
    offset: int
    length: int

    def contains(self, msg_id: int) -> bool:
        return self.offset <= msg_id < self.offset + self.length


def message_id(
    shared: tuple[SharedCapability, ...], capability: str, code: int, payload_size: int
) -> int:
    """The wire id of `capability`'s message `code` with a payload of `payload_size` bytes;
    `UsageError` when the capability isn't shared, the code is outside its range or the payload
    exceeds what Snappy can frame."""
    for cap in shared:
        if cap.name == capability:
            break
    else:
        raise UsageError(f"capability {capability!r} is not shared with this peer")
    if not 0 <= code < cap.length:
        raise UsageError(f"message code {code} is outside {capability}'s {cap.length} ids")
    if payload_size > MAX_SNAPPY_SIZE:
        raise UsageError(f"message of {payload_size} bytes exceeds 0xFFFFFF")
    return cap.offset + code


def _text(item: rlp.Item, name: str) -> str:
    if not isinstance(item, bytes):
        raise DecodeError(f"Hello: {name} must be a string")
    return item.decode("utf-8", errors="replace")


@dataclass(frozen=True, slots=True)
class Hello:
    """The Hello payload (devp2p.md §4.2). `node_id` is the 64-byte public key."""

    version: int
    client_id: str
    capabilities: tuple[tuple[str, int], ...]
    listen_port: int
    node_id: bytes

    def encode(self) -> bytes:
        caps: list[rlp.Item] = [
            [name.encode(), rlp.uint_bytes(version)] for name, version in self.capabilities
        ]
        return rlp.encode(
            [
                rlp.uint_bytes(self.version),
                self.client_id.encode(),
                caps,
                rlp.uint_bytes(self.listen_port),
                self.node_id,
            ]
        )

    @classmethod
    def decode(cls, payload: bytes) -> Hello:
        """Decode a Hello payload; extras after the fifth element are ignored. Raises DecodeError."""
        if len(payload) > MAX_HELLO_SIZE:
            raise DecodeError(f"Hello: {len(payload)} bytes exceeds {MAX_HELLO_SIZE}")
        fields = rlp.decode_list(payload)
        if len(fields) < 5:
            raise DecodeError("Hello: fewer than 5 elements")
        caps_item = fields[2]
        if not isinstance(caps_item, list):
            raise DecodeError("Hello: capabilities must be a list")
        caps: list[tuple[str, int]] = []
        for cap in caps_item:
            # geth decodes each cap as a (string, uint) struct, which tolerates no extras.
            if not isinstance(cap, list) or len(cap) != 2:
                raise DecodeError("Hello: a capability must be [name, version]")
            caps.append((_text(cap[0], "capability name"), rlp.decode_uint(cap[1], 64, "cap")))
        node_id = fields[4]
        if not isinstance(node_id, bytes):
            raise DecodeError("Hello: node id must be a string")
        return cls(
            rlp.decode_uint(fields[0], 64, "Hello version"),
            _text(fields[1], "client id"),
            tuple(caps),
            rlp.decode_uint(fields[3], 64, "listen port"),
            node_id,
        )

    def check_identity(self, authenticated_node_id: bytes) -> None:
        """The Hello identity checks geth makes (devp2p.md §4.2); raises PeerError."""
        if len(self.node_id) != 64 or not any(self.node_id):
            raise PeerError("Hello: invalid node id", DisconnectReason.INVALID_IDENTITY)
        if keccak256(self.node_id) != keccak256(authenticated_node_id):
            raise PeerError(
                "Hello: node id differs from the RLPx identity",
                DisconnectReason.UNEXPECTED_IDENTITY,
            )


def encode_disconnect(reason: DisconnectReason) -> bytes:
    """`[reason]`, as geth sends it (devp2p.md §4.4)."""
    return rlp.encode([rlp.uint_bytes(int(reason))])


def _reason(value: int) -> DisconnectReason:
    try:
        return DisconnectReason(value)
    except ValueError:
        return DisconnectReason.REQUESTED


def decode_disconnect(payload: bytes, snappy: bool) -> DisconnectReason:
    """The reason from a Disconnect payload: list or bare int, compressed or not; never raises."""
    candidates = [payload]
    if snappy:
        with contextlib.suppress(PeerError):
            candidates.insert(0, snappy_decompress(payload, 64))
    for data in candidates:
        try:
            item = rlp.decode(data)
            if isinstance(item, list):
                if not item:
                    continue
                item = item[0]
            return _reason(rlp.decode_uint(item, 8, "reason"))
        except DecodeError:
            continue
    return DisconnectReason.REQUESTED


def match_capabilities(
    local: Iterable[Capability], remote: Iterable[tuple[str, int]]
) -> tuple[SharedCapability, ...]:
    """geth's `matchProtocols` (devp2p.md §4.6): the shared caps with their id offsets."""
    local_by_key = {(cap.name, cap.version): cap for cap in local}
    chosen: dict[str, SharedCapability] = {}
    offset = BASE_PROTOCOL_LENGTH
    # Byte-wise name order, as Go compares strings.
    for name, version in sorted(set(remote), key=lambda cap: (cap[0].encode(), cap[1])):
        cap = local_by_key.get((name, version))
        if cap is None:
            continue
        previous = chosen.get(name)
        if previous is not None:
            offset -= previous.length  # the higher version takes back the range
        chosen[name] = SharedCapability(name, version, offset, cap.length)
        offset += cap.length
    return tuple(sorted(chosen.values(), key=lambda cap: cap.offset))


def snappy_compress(data: bytes) -> bytes:
    """Snappy raw block format (not the framed format)."""
    return bytes(cramjam.snappy.compress_raw(data))


_SCRATCH_INPUT = 64 << 10
_SCRATCH = bytearray(32 + _SCRATCH_INPUT + _SCRATCH_INPUT // 6)  # Snappy's MaxEncodedLen
"""Where `snappy_compressed_size` lets the block be written: only its length is ever read."""


def snappy_compressed_size(data: bytes) -> int:
    """`len(snappy_compress(data))` without making a block object (what a memory link charges
    for a frame: it needs the size, never the compressed bytes)."""
    if len(data) <= _SCRATCH_INPUT:
        return int(cramjam.snappy.compress_raw_into(data, _SCRATCH))
    return len(cramjam.snappy.compress_raw(data))


def _declared_length(data: bytes) -> int:
    # The block starts with the uncompressed length as a little-endian base-128 varint (≤ 5 bytes
    # for 32 bits); parsed here so the limit is checked before cramjam allocates anything.
    value = 0
    for index, byte in enumerate(data[:5]):
        value |= (byte & 0x7F) << (7 * index)
        if not byte & 0x80:
            return value
    raise PeerError("snappy: bad length header", DisconnectReason.PROTOCOL_ERROR)


def snappy_decompress(data: bytes, max_size: int) -> bytes:
    """Inflate a raw Snappy block whose declared length is at most `max_size` (and 0xFFFFFF)."""
    declared = _declared_length(data)
    if declared > min(max_size, MAX_SNAPPY_SIZE):
        raise PeerError(
            f"snappy: declared length {declared} exceeds {min(max_size, MAX_SNAPPY_SIZE)}",
            DisconnectReason.PROTOCOL_ERROR,
        )
    try:
        out = bytes(cramjam.snappy.decompress_raw(data))
    except cramjam.DecompressionError as exc:
        raise PeerError(f"snappy: {exc}", DisconnectReason.PROTOCOL_ERROR) from exc
    if len(out) != declared:
        raise PeerError("snappy: length mismatch", DisconnectReason.PROTOCOL_ERROR)
    return out
