"""Topics and blooms as geth 1.9 builds them (whisper-v6.md §1.7, §8.3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hush.errors import DecodeError
from hush.shh.topic import (
    FULL_BLOOM,
    aggregate_blooms,
    bloom_matches,
    topic_from_bytes,
    topic_from_hex,
    topic_to_bloom,
    topic_to_hex,
)
from hush.types import Topic


def bloom_bytes(**set_bytes: int) -> bytes:
    bloom = bytearray(64)
    for name, value in set_bytes.items():
        bloom[int(name.removeprefix("b"))] = value
    return bytes(bloom)


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("0000ff06", bloom_bytes(b0=0x01, b32=0x01, b63=0x80)),  # geth TestBloom
        ("deadbeef", bloom_bytes(b53=0x20, b55=0x40, b59=0x40)),
        ("00010200", bloom_bytes(b0=0x04)),  # overwrite, not OR (OR would give 0x07)
        ("01020304", bloom_bytes(b0=0x04, b32=0x08)),  # §8.5 mail request bloom
    ],
)
def test_topic_to_bloom_matches_geth(topic: str, expected: bytes) -> None:
    assert topic_to_bloom(Topic(bytes.fromhex(topic))) == expected


@pytest.mark.parametrize(("raw", "text"), [("007f80ff", "0x007f80ff"), ("f26e7779", "0xf26e7779")])
def test_topic_hex(raw: str, text: str) -> None:
    assert topic_to_hex(Topic(bytes.fromhex(raw))) == text
    assert topic_from_hex(text) == bytes.fromhex(raw)


@pytest.mark.parametrize(
    "text", ["0x000000", "0x0000000000", "00000000", "abcdefg0", "0xabcdefg0", ""]
)
def test_topic_from_hex_rejects(text: str) -> None:
    with pytest.raises(DecodeError):
        topic_from_hex(text)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("ea1d43", "ea1d4300"), ("6f3cb0dd0f0090", "6f3cb0dd"), ("01", "01000000"), ("", "00000000")],
)
def test_bytes_to_topic(raw: str, expected: str) -> None:
    assert topic_from_bytes(bytes.fromhex(raw)).hex() == expected


def test_bloom_match_and_aggregate() -> None:
    a = topic_to_bloom(Topic(b"\x01\x02\x03\x04"))
    b = topic_to_bloom(Topic(b"\xde\xad\xbe\xef"))
    both = aggregate_blooms(a, b)
    assert bloom_matches(both, a)
    assert bloom_matches(both, b)
    assert not bloom_matches(a, b)
    assert bloom_matches(None, b)
    assert bloom_matches(FULL_BLOOM, b)


@given(st.binary(min_size=4, max_size=4))
def test_topic_hex_round_trip(raw: bytes) -> None:
    topic = Topic(raw)
    assert topic_from_hex(topic_to_hex(topic)) == topic
    assert topic_from_hex(topic_to_hex(topic).upper().replace("0X", "0x")) == topic
    bloom = topic_to_bloom(topic)
    assert len(bloom) == 64
    assert 1 <= sum(bin(byte).count("1") for byte in bloom) <= 3
