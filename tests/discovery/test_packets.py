"""discv4 packets: every devp2p.md §8 V4 vector decodes to what the spec says; encode/decode
round trips; malformed datagrams raise DecodeError."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hush.crypto import PrivateKey, keccak256
from hush.discovery.v4.packets import (
    MAX_PACKET_SIZE,
    Endpoint,
    ENRRequest,
    ENRResponse,
    FindNode,
    Neighbors,
    NodeRecord,
    Packet,
    Ping,
    Pong,
    decode_packet,
    encode_packet,
)
from hush.errors import DecodeError
from hush.types import NodeID

VECTORS = json.loads((Path(__file__).parent.parent / "vectors" / "discv4.json").read_text())
PACKETS = {name: bytes.fromhex(hexed) for name, hexed in VECTORS["packets"].items()}
SIGNER = bytes.fromhex(VECTORS["signer_pubkey"])
KEY = PrivateKey(bytes.fromhex(VECTORS["signer_key"]))
EXP = 1136239445


def test_signer_key_matches_pubkey() -> None:
    assert KEY.node_id == SIGNER


@pytest.mark.parametrize("name", sorted(PACKETS))
def test_vector_hash_and_signer(name: str) -> None:
    data = PACKETS[name]
    decoded = decode_packet(data)
    assert decoded.hash == data[:32] == keccak256(data[32:])
    assert decoded.sender == SIGNER
    assert decoded.packet.expiration == EXP  # type: ignore[union-attr]


def test_ping_plain() -> None:
    packet = decode_packet(PACKETS["ping"]).packet
    assert packet == Ping(
        4, Endpoint.of("127.0.0.1", 3322, 5544), Endpoint.of("::1", 2222, 3333), EXP
    )


def test_ping_extra_elements_give_the_enr_seq() -> None:
    packet = decode_packet(PACKETS["ping_extra"]).packet
    assert isinstance(packet, Ping)
    assert packet.version == 4 and packet.enr_seq == 1 and packet.extra == (b"\x02",)


def test_ping_555_with_junk() -> None:
    packet = decode_packet(PACKETS["ping_555_junk"]).packet
    assert packet == Ping(
        555,
        Endpoint.of("2001:db8:3c4d:15::abcd:ef12", 3322, 5544),
        Endpoint.of("2001:db8:85a3:8d3:1319:8a2e:370:7348", 2222, 33338),
        EXP,
        None,
        (bytes.fromhex("c50102030405"),),
    )


def test_pong_with_junk() -> None:
    packet = decode_packet(PACKETS["pong_extra_junk"]).packet
    assert packet == Pong(
        Endpoint.of("2001:db8:85a3:8d3:1319:8a2e:370:7348", 2222, 33338),
        bytes.fromhex("fbc914b16819237dcd8801d7e53f69e9719adecb3cc0e790c57e91ca4461c954"),
        EXP,
        None,
        (bytes.fromhex("c6010203c20405"), b"\x06"),
    )


def test_findnode_with_junk() -> None:
    packet = decode_packet(PACKETS["findnode_extra_junk"]).packet
    assert packet == FindNode(
        NodeID(SIGNER), EXP, (bytes.fromhex("829999"), bytes.fromhex("83999999"))
    )


def test_neighbors_with_junk() -> None:
    packet = decode_packet(PACKETS["neighbors_extra_junk"]).packet
    assert isinstance(packet, Neighbors)
    ids = [
        "3155e1427f85f10a5c9a7755877748041af1bcd8d474ec065eb33df57a97babf54bfd2103575fa829115d224c523596b401065a97f74010610fce76382c0bf32",
        "312c55512422cf9b8a4097e9a6ad79402e87a15ae909a4bfefa22398f03d20951933beea1e4dfa6f968212385e829f04c2d314fc2d4e255e0d3bc08792b069db",
        "38643200b172dcfef857492156971f0e6aa2c538d8b74010f8e140811d53b98c765dd2d96126051913f44582e8c199ad7c6d6819e9a56483f637feaac9448aac",
        "8dcab8618c3253b558d459da53bd8fa68935a719aff8b811197101a4b2b47dd2d47295286fc00cc081bb542d760717d1bdd6bec2c37cd72eca367d6dd3b9df73",
    ]
    endpoints = [
        ("99.33.22.55", 4444, 4445),
        ("1.2.3.4", 1, 1),
        ("2001:db8:3c4d:15::abcd:ef12", 3333, 3333),
        ("2001:db8:85a3:8d3:1319:8a2e:370:7348", 999, 1000),
    ]
    assert [(n.address, n.udp_port, n.tcp_port) for n in packet.nodes] == endpoints
    assert [n.node_id.hex() for n in packet.nodes] == ids
    assert packet.extra == (b"\x01", b"\x02", b"\x03")


def test_reencoding_the_plain_ping_gives_the_vector_body() -> None:
    """Type and data byte for byte (the vector's signature used another nonce than RFC 6979,
    so hash and signature differ but verify)."""
    packet = decode_packet(PACKETS["ping"]).packet
    data, packet_hash = encode_packet(packet, KEY)
    assert data[97:] == PACKETS["ping"][97:] and packet_hash == keccak256(data[32:])


def test_reencoding_extras_keeps_the_elements() -> None:
    for name in ("ping_extra", "findnode_extra_junk"):
        packet = decode_packet(PACKETS[name]).packet
        data, _ = encode_packet(packet, KEY)
        assert decode_packet(data).packet == packet
        assert data[97:] == PACKETS[name][97 : len(data)]  # same bytes up to the junk


def test_round_trip_every_type() -> None:
    node = NodeRecord(bytes([10, 0, 0, 1]), 30303, 30304, KEY.node_id)
    packets: list[Packet] = [
        Ping(4, Endpoint.of("127.0.0.1", 1, 0), Endpoint.of("", 0, 0), 7, 3),
        Pong(Endpoint.of("::1", 2, 3), b"\x11" * 32, 9),
        FindNode(KEY.node_id, 10),
        Neighbors((node,) * 12, 11),
        ENRRequest(12),
        ENRResponse(b"\x22" * 32, bytes.fromhex("c3010203"), ()),
    ]
    for packet in packets:
        data, packet_hash = encode_packet(packet, KEY)
        assert len(data) <= MAX_PACKET_SIZE
        decoded = decode_packet(data)
        assert decoded.packet == packet and decoded.hash == packet_hash
        assert decoded.sender == KEY.node_id


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "too small"),
        (b"\x00" * 97, "too small"),
        (b"\x00" * (MAX_PACKET_SIZE + 1), "exceeds"),
        (PACKETS["ping"][:-1] + b"\x00", "hash"),
    ],
)
def test_malformed_datagrams(data: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode_packet(data)


def _forge(body: bytes, key: PrivateKey = KEY) -> bytes:
    signature = key.sign(keccak256(body))
    return keccak256(signature + body) + signature + body


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\x09\xc0", "unknown packet type"),
        (b"\x01\xc0", "needs 4"),
        (b"\x03\xc2\x80\x80", "target"),
        (b"\x01\xc5\x04\xc0\xc0\x80\x80", "needs 3"),
        (b"\x05\xc1\x00", "non-canonical"),
        (b"\x06\xe2\xa0" + b"\x00" * 32 + b"\x80", "record must be a list"),
        (b"\x01\x80", "expected a list"),
    ],
)
def test_malformed_bodies_raise_decode_error(body: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode_packet(_forge(body))


def test_bad_signature_is_refused() -> None:
    data = bytearray(PACKETS["ping"])
    data[32:97] = b"\xff" * 65  # not a signature; rehash so the hash check passes
    data[:32] = keccak256(bytes(data[32:]))
    with pytest.raises(DecodeError, match="signature"):
        decode_packet(bytes(data))
