"""Strict canonical RLP (rlp.py): what geth's decoder accepts and rejects."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hush import rlp
from hush.errors import DecodeError


@pytest.mark.parametrize(
    ("item", "encoded"),
    [
        (b"", "80"),
        (b"\x00", "00"),
        (b"\x7f", "7f"),
        (b"\x80", "8180"),
        (b"dog", "83646f67"),
        ([], "c0"),
        ([b"cat", b"dog"], "c88363617483646f67"),
        ([[], [[]], [[], [[]]]], "c7c0c1c0c3c0c1c0"),
        (0, "80"),
        (15, "0f"),
        (1024, "820400"),
        (b"a" * 56, "b838" + "61" * 56),
        ([b"a" * 55], "f838b7" + "61" * 55),
    ],
)
def test_yellow_paper_examples(item: rlp.Item | int, encoded: str) -> None:
    assert rlp.encode(item).hex() == encoded
    if not isinstance(item, int):
        assert rlp.decode(bytes.fromhex(encoded)) == item


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        "8100",  # single byte < 0x80 in long form
        "817f",
        "b800",  # long string form for a short string
        "b90001" + "00",  # length with leading zero
        "c1",  # list runs past the end
        "83646f",  # string runs past the end
        "f800",
        "8000",  # trailing byte
        "b9",  # length prefix past the end
    ],
)
def test_decode_rejects_non_canonical_or_truncated(encoded: str) -> None:
    with pytest.raises(DecodeError):
        rlp.decode(bytes.fromhex(encoded))


def test_nesting_limit() -> None:
    deep = bytes.fromhex("c0")
    for _ in range(rlp.MAX_DEPTH):
        deep = rlp.encode_list_payload(deep)
    with pytest.raises(DecodeError):
        rlp.decode(deep)


def test_decode_uint() -> None:
    assert rlp.decode_uint(b"") == 0
    assert rlp.decode_uint(b"\x01\x00") == 256
    assert rlp.decode_uint(b"\xff" * 4, 32) == 2**32 - 1
    for bad, bits in ((b"\x00", 64), (b"\x00\x01", 64), (b"\x01" + bytes(4), 32)):
        with pytest.raises(DecodeError):
            rlp.decode_uint(bad, bits)
    with pytest.raises(DecodeError):
        rlp.decode_uint([], 64)


def test_decode_list_and_prefix() -> None:
    assert rlp.decode_list(bytes.fromhex("c180")) == [b""]
    with pytest.raises(DecodeError):
        rlp.decode_list(bytes.fromhex("80"))
    assert rlp.decode_prefix(bytes.fromhex("8180ff")) == (b"\x80", 2)


items = st.recursive(
    st.binary(max_size=80),
    lambda children: st.lists(children, max_size=6),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(items)
def test_round_trip(item: rlp.Item) -> None:
    encoded = rlp.encode(item)
    assert rlp.decode(encoded) == item
    assert rlp.decode_prefix(encoded + b"\x01") == (item, len(encoded))


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**256 - 1))
def test_uint_round_trip(value: int) -> None:
    encoded = rlp.encode(value)
    assert rlp.decode_uint(rlp.decode(encoded), 256) == value
