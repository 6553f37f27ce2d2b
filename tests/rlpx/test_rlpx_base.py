"""The p2p base protocol pieces: Disconnect encodings, Snappy limits, capability offsets (§4)."""

from __future__ import annotations

import random

import pytest

from hush.errors import DecodeError, DisconnectReason, PeerError
from hush.rlpx.base import (
    MAX_HELLO_SIZE,
    Capability,
    Hello,
    SharedCapability,
    decode_disconnect,
    encode_disconnect,
    match_capabilities,
    snappy_compress,
    snappy_compressed_size,
    snappy_decompress,
)


def test_disconnect_is_sent_as_a_list() -> None:
    assert encode_disconnect(DisconnectReason.TOO_MANY_PEERS) == bytes.fromhex("c104")
    assert encode_disconnect(DisconnectReason.REQUESTED) == bytes.fromhex("c180")


@pytest.mark.parametrize(
    ("payload", "snappy", "reason"),
    [
        (bytes.fromhex("c104"), False, DisconnectReason.TOO_MANY_PEERS),
        (bytes.fromhex("04"), False, DisconnectReason.TOO_MANY_PEERS),
        (bytes.fromhex("c104"), True, DisconnectReason.TOO_MANY_PEERS),  # uncompressed anyway
        (snappy_compress(bytes.fromhex("c10a")), True, DisconnectReason.SELF_CONNECTION),
        (snappy_compress(bytes.fromhex("10")), True, DisconnectReason.SUBPROTOCOL_ERROR),
        (bytes.fromhex("c180"), False, DisconnectReason.REQUESTED),
        (b"", False, DisconnectReason.REQUESTED),
        (bytes.fromhex("c0"), False, DisconnectReason.REQUESTED),
        (bytes.fromhex("ffff"), True, DisconnectReason.REQUESTED),
        (bytes.fromhex("c17f"), False, DisconnectReason.REQUESTED),  # unknown code → 0
    ],
)
def test_disconnect_decoding_is_lenient(
    payload: bytes, snappy: bool, reason: DisconnectReason
) -> None:
    assert decode_disconnect(payload, snappy) is reason


@pytest.mark.parametrize("seed", range(4))
def test_snappy_compressed_size_is_the_compressed_length(seed: int) -> None:
    rng = random.Random(seed)
    for size in (0, 1, 15, 700, 10_000, 70_000):
        noise = rng.randbytes(size)  # incompressible: the block is a bit longer than the input
        runs = bytes(rng.choice(b"ab") for _ in range(size // 50)) * 50  # compressible
        for data in (noise, runs):
            assert snappy_compressed_size(data) == len(snappy_compress(data))
    assert snappy_compressed_size(bytes(10_000)) < 1_000


def test_snappy_round_trip_and_ping_encoding() -> None:
    assert snappy_compress(b"\xc0") == bytes.fromhex("0100c0")  # devp2p.md §4.3
    data = bytes(range(256)) * 40
    assert snappy_decompress(snappy_compress(data), len(data)) == data


def test_snappy_declared_length_checked_before_inflating() -> None:
    with pytest.raises(PeerError, match="declared length"):
        snappy_decompress(snappy_compress(bytes(2000)), 1999)
    # A header claiming 16 MiB with no body: refused from the varint alone, even under a big cap.
    varint = bytes([0x80, 0x80, 0x80, 0x08])  # 0x1000000 = 16 MiB
    with pytest.raises(PeerError, match="declared length"):
        snappy_decompress(varint, 1 << 30)
    with pytest.raises(PeerError):
        snappy_decompress(b"\xff\xff\xff\xff\xff\xff", 1 << 30)


def test_shh_alone_is_at_0x10_whatever_else_geth_speaks() -> None:
    shared = match_capabilities(
        [Capability("shh", 6, 128)], [("eth", 63), ("eth", 64), ("les", 2), ("shh", 6)]
    )
    assert shared == (SharedCapability("shh", 6, 0x10, 128),)


def test_higher_version_replaces_lower_and_order_is_by_name() -> None:
    local = [Capability("eth", 63, 17), Capability("eth", 64, 17), Capability("shh", 6, 128)]
    shared = match_capabilities(local, [("shh", 6), ("eth", 64), ("eth", 63), ("zzz", 1)])
    assert shared == (
        SharedCapability("eth", 64, 0x10, 17),
        SharedCapability("shh", 6, 0x10 + 17, 128),
    )


def test_no_shared_version() -> None:
    assert match_capabilities([Capability("shh", 6, 128)], [("shh", 5), ("shh", 7)]) == ()


def test_hello_size_limit_and_shape() -> None:
    node_id = b"\x01" * 64
    big = Hello(5, "x" * MAX_HELLO_SIZE, (("shh", 6),), 0, node_id).encode()
    with pytest.raises(DecodeError, match="exceeds"):
        Hello.decode(big)
    with pytest.raises(DecodeError):
        Hello.decode(bytes.fromhex("c405826869c0"))  # too few elements
    hello = Hello(5, "hush", (("shh", 6),), 0, node_id)
    assert Hello.decode(hello.encode()) == hello
