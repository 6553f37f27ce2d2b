"""Discovery v4 packets (devp2p.md §5.1, EIP-8, EIP-868): encode, decode, sign, verify.

    packet = hash(32) ‖ signature(65) ‖ type(1) ‖ RLP list [‖ junk]
    signature = sign(keccak256(type ‖ data)),  hash = keccak256(signature ‖ type ‖ data)

Rules, as geth 1.9's `v4wire`: at most 1280 bytes; the hash covers every byte after byte 32 and
the signature every byte after byte 97, junk included; only the first RLP item of the data is
decoded and list elements beyond the known ones are kept raw in `extra` and otherwise ignored
(EIP-8). The ENR sequence number that geth ≥ 1.9 appends to Ping and Pong is read when the
element is a canonical integer; otherwise it stays in `extra` like any other unknown element.
Expiration is checked by the protocol, not here: a decoder accepts the 2006 vectors.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field

from hush import rlp
from hush.crypto import PrivateKey, keccak256, recover_public_key
from hush.errors import DecodeError
from hush.types import NodeID

__all__ = [
    "MAX_PACKET_SIZE",
    "MAX_NEIGHBORS_PER_PACKET",
    "Decoded",
    "ENRRequest",
    "ENRResponse",
    "Endpoint",
    "FindNode",
    "Neighbors",
    "NodeRecord",
    "Packet",
    "Ping",
    "Pong",
    "decode_packet",
    "encode_packet",
    "ip_bytes",
    "ip_text",
]

MAX_PACKET_SIZE = 1280
"""geth `v4wire.MaxPacketSize`: bigger datagrams are dropped unread."""
MAX_NEIGHBORS_PER_PACKET = 12
"""geth sends its 16 closest nodes as 12 + 4 so every Neighbors packet fits in 1280 bytes."""
_HEAD = 32 + 65
_MIN_SIZE = _HEAD + 1 + 1


@functools.lru_cache(maxsize=4096)  # bounded; parsing IP literals was a hot spot
def ip_bytes(ip: str) -> bytes:
    """The wire form of an IP literal: 4 bytes for IPv4, 16 for IPv6, empty for ""."""
    return b"" if ip == "" else ipaddress.ip_address(ip).packed


@functools.lru_cache(maxsize=4096)
def ip_text(raw: bytes) -> str:
    """The text form of a wire IP ("" for an empty one)."""
    return "" if not raw else str(ipaddress.ip_address(raw))


@dataclass(frozen=True, slots=True)
class Endpoint:
    """`[ip, udp-port, tcp-port]`; `ip` is the raw 0, 4 or 16 bytes of the wire."""

    ip: bytes
    udp_port: int
    tcp_port: int

    @classmethod
    def of(cls, ip: str, udp_port: int, tcp_port: int) -> Endpoint:
        return cls(ip_bytes(ip), udp_port, tcp_port)

    @property
    def address(self) -> str:
        return ip_text(self.ip)

    def _item(self) -> rlp.Item:
        return [self.ip, rlp.uint_bytes(self.udp_port), rlp.uint_bytes(self.tcp_port)]


@dataclass(frozen=True, slots=True)
class NodeRecord:
    """One node of a Neighbors packet: `[ip, udp-port, tcp-port, pubkey64]`."""

    ip: bytes
    udp_port: int
    tcp_port: int
    node_id: NodeID

    @property
    def address(self) -> str:
        return ip_text(self.ip)

    def _item(self) -> rlp.Item:
        return [self.ip, rlp.uint_bytes(self.udp_port), rlp.uint_bytes(self.tcp_port), self.node_id]


@dataclass(frozen=True, slots=True)
class Ping:
    TYPE = 0x01
    version: int
    sender: Endpoint
    recipient: Endpoint
    expiration: int
    enr_seq: int | None = None
    extra: tuple[bytes, ...] = field(default=())

    def _items(self) -> list[rlp.Item]:
        items: list[rlp.Item] = [
            rlp.uint_bytes(self.version),
            self.sender._item(),
            self.recipient._item(),
            rlp.uint_bytes(self.expiration),
        ]
        if self.enr_seq is not None:
            items.append(rlp.uint_bytes(self.enr_seq))
        return items


@dataclass(frozen=True, slots=True)
class Pong:
    TYPE = 0x02
    recipient: Endpoint
    ping_hash: bytes
    expiration: int
    enr_seq: int | None = None
    extra: tuple[bytes, ...] = field(default=())

    def _items(self) -> list[rlp.Item]:
        items: list[rlp.Item] = [
            self.recipient._item(),
            self.ping_hash,
            rlp.uint_bytes(self.expiration),
        ]
        if self.enr_seq is not None:
            items.append(rlp.uint_bytes(self.enr_seq))
        return items


@dataclass(frozen=True, slots=True)
class FindNode:
    TYPE = 0x03
    target: NodeID
    expiration: int
    extra: tuple[bytes, ...] = field(default=())

    def _items(self) -> list[rlp.Item]:
        return [self.target, rlp.uint_bytes(self.expiration)]


@dataclass(frozen=True, slots=True)
class Neighbors:
    TYPE = 0x04
    nodes: tuple[NodeRecord, ...]
    expiration: int
    extra: tuple[bytes, ...] = field(default=())

    def _items(self) -> list[rlp.Item]:
        return [[node._item() for node in self.nodes], rlp.uint_bytes(self.expiration)]


@dataclass(frozen=True, slots=True)
class ENRRequest:
    TYPE = 0x05
    expiration: int
    extra: tuple[bytes, ...] = field(default=())

    def _items(self) -> list[rlp.Item]:
        return [rlp.uint_bytes(self.expiration)]


@dataclass(frozen=True, slots=True)
class ENRResponse:
    TYPE = 0x06
    request_hash: bytes
    record: bytes
    """The record's RLP, as sent (decode it with `hush.discovery.v4.enr.decode`)."""
    extra: tuple[bytes, ...] = field(default=())

    def _items(self) -> list[rlp.Item]:
        return [self.request_hash]  # the record is appended already encoded


Packet = Ping | Pong | FindNode | Neighbors | ENRRequest | ENRResponse


@dataclass(frozen=True, slots=True)
class Decoded:
    packet: Packet
    sender: NodeID
    """The signer's 64-byte public key."""
    hash: bytes
    """The packet's hash (what a Pong or ENRResponse refers to)."""


def encode_packet(packet: Packet, key: PrivateKey) -> tuple[bytes, bytes]:
    """The signed datagram and its hash."""
    payload = b"".join(rlp.encode(item) for item in packet._items())
    if isinstance(packet, ENRResponse):
        payload += packet.record
    payload += b"".join(packet.extra)
    body = bytes((packet.TYPE,)) + rlp.encode_list_payload(payload)
    signature = key.sign(keccak256(body))
    packet_hash = keccak256(signature + body)
    return packet_hash + signature + body, packet_hash


def decode_packet(data: bytes) -> Decoded:
    """Check hash and signature, decode the data; raises DecodeError saying what is wrong."""
    if len(data) > MAX_PACKET_SIZE:
        raise DecodeError(f"discv4: packet of {len(data)} bytes exceeds {MAX_PACKET_SIZE}")
    if len(data) < _MIN_SIZE:
        raise DecodeError(f"discv4: packet of {len(data)} bytes is too small")
    data = bytes(data)
    packet_hash = data[:32]
    if keccak256(data[32:]) != packet_hash:
        raise DecodeError("discv4: wrong packet hash")
    public_key = recover_public_key(data[32:_HEAD], keccak256(data[_HEAD:]))
    if public_key is None:
        raise DecodeError("discv4: invalid signature")
    kind = data[_HEAD]
    decoder = _DECODERS.get(kind)
    if decoder is None:
        raise DecodeError(f"discv4: unknown packet type {kind:#04x}")
    items = rlp.split_list(data[_HEAD + 1 :])  # junk after the list is ignored (EIP-8)
    return Decoded(decoder(items), NodeID(public_key[1:]), packet_hash)


def _need(items: list[bytes], count: int, name: str) -> None:
    if len(items) < count:
        raise DecodeError(f"discv4: {name} has {len(items)} elements, needs {count}")


def _uint(raw: bytes, bits: int, name: str) -> int:
    return rlp.decode_uint(rlp.decode(raw), bits, name)


def _string(raw: bytes, name: str, sizes: tuple[int, ...]) -> bytes:
    value = rlp.decode(raw)
    if not isinstance(value, bytes) or len(value) not in sizes:
        raise DecodeError(f"discv4: {name} must be a string of {'/'.join(map(str, sizes))} bytes")
    return value


def _endpoint(raw: bytes) -> Endpoint:
    items = rlp.split_list(raw)
    _need(items, 3, "endpoint")
    return Endpoint(
        _string(items[0], "endpoint ip", (0, 4, 16)),
        _uint(items[1], 16, "udp port"),
        _uint(items[2], 16, "tcp port"),
    )


def _node(raw: bytes) -> NodeRecord:
    items = rlp.split_list(raw)
    _need(items, 4, "node")
    return NodeRecord(
        _string(items[0], "node ip", (4, 16)),
        _uint(items[1], 16, "udp port"),
        _uint(items[2], 16, "tcp port"),
        NodeID(_string(items[3], "node id", (64,))),
    )


def _optional_seq(items: list[bytes], index: int) -> tuple[int | None, tuple[bytes, ...]]:
    if len(items) <= index:
        return None, ()
    try:
        return _uint(items[index], 64, "enr seq"), tuple(items[index + 1 :])
    except DecodeError:
        return None, tuple(items[index:])


def _ping(items: list[bytes]) -> Ping:
    _need(items, 4, "ping")
    seq, extra = _optional_seq(items, 4)
    return Ping(
        _uint(items[0], 64, "ping version"),
        _endpoint(items[1]),
        _endpoint(items[2]),
        _uint(items[3], 64, "expiration"),
        seq,
        extra,
    )


def _pong(items: list[bytes]) -> Pong:
    _need(items, 3, "pong")
    seq, extra = _optional_seq(items, 3)
    return Pong(
        _endpoint(items[0]),
        _string(items[1], "ping hash", (32,)),
        _uint(items[2], 64, "expiration"),
        seq,
        extra,
    )


def _findnode(items: list[bytes]) -> FindNode:
    _need(items, 2, "findnode")
    return FindNode(
        NodeID(_string(items[0], "target", (64,))),
        _uint(items[1], 64, "expiration"),
        tuple(items[2:]),
    )


def _neighbors(items: list[bytes]) -> Neighbors:
    _need(items, 2, "neighbors")
    raw_nodes = rlp.split_list(items[0])
    # 1280 bytes hold at most ~16 nodes; the size limit bounds this list already.
    return Neighbors(
        tuple(_node(raw) for raw in raw_nodes),
        _uint(items[1], 64, "expiration"),
        tuple(items[2:]),
    )


def _enr_request(items: list[bytes]) -> ENRRequest:
    _need(items, 1, "enrrequest")
    return ENRRequest(_uint(items[0], 64, "expiration"), tuple(items[1:]))


def _enr_response(items: list[bytes]) -> ENRResponse:
    _need(items, 2, "enrresponse")
    if not items[1][:1] or items[1][0] < 0xC0:
        raise DecodeError("discv4: enrresponse record must be a list")
    return ENRResponse(_string(items[0], "request hash", (32,)), items[1], tuple(items[2:]))


_DECODERS: dict[int, Callable[[list[bytes]], Packet]] = {
    Ping.TYPE: _ping,
    Pong.TYPE: _pong,
    FindNode.TYPE: _findnode,
    Neighbors.TYPE: _neighbors,
    ENRRequest.TYPE: _enr_request,
    ENRResponse.TYPE: _enr_response,
}
