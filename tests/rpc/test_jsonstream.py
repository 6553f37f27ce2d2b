"""The IPC stream splitter (hush.rpc.jsonstream): values cut where Go's json.Decoder would cut
them, whatever the reads, and nothing buffered past the limit."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hush.rpc.jsonstream import JsonSplitter, JsonStreamError


def split(stream: bytes, chunks: list[int], max_value: int = 1 << 20) -> list[bytes]:
    """Feed `stream` in pieces of the given sizes (the rest at once), then end it."""
    splitter = JsonSplitter(max_value)
    values: list[bytes] = []
    position = 0
    for size in [*chunks, len(stream)]:
        splitter.receive_data(stream[position : position + size])
        position += size
        while (value := splitter.next_value()) is not None:
            values.append(value)
        if position >= len(stream):
            break
    splitter.end()
    while (value := splitter.next_value()) is not None:
        values.append(value)
    return values


TRICKY = [
    b'{"jsonrpc":"2.0","id":1,"method":"shh_version"}',
    b'{\n  "id": 2,\n  "params": ["]}\\"[{", "\\\\", "\\u005d"],\n  "method": "x"\n}',
    b'[{"id":3},{"id":"}"}]',
    b'"a top-level string with \\" and ]"',
    b"[]",
    b"{}",
]


def test_every_split_of_a_stream_gives_the_same_values() -> None:
    stream = b"".join(TRICKY) + b"\n" + b"  \r\n\t".join(TRICKY) + b"\n12.5e3 true"
    expected = [*TRICKY, *TRICKY, b"12.5e3", b"true"]
    assert split(stream, []) == expected
    for cut in range(1, len(stream)):  # one split everywhere, then byte by byte
        assert split(stream, [cut]) == expected, cut
    assert split(stream, [1] * len(stream)) == expected
    for value in split(stream, [7] * len(stream))[:-2]:
        json.loads(value)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.dictionaries(st.text(max_size=5), json_values, max_size=4) | st.lists(json_values)),
    st.sampled_from([None, 0, 2]),
    st.lists(st.integers(1, 40), max_size=30),
)
def test_any_objects_and_arrays_round_trip(values: list[Any], indent: int | None, cuts: list[int]) -> None:  # fmt: skip
    stream = b"".join(json.dumps(v, indent=indent).encode() for v in values)  # no separators
    assert [json.loads(v) for v in split(stream, cuts)] == values


def test_whitespace_between_values_is_not_kept() -> None:
    splitter = JsonSplitter(100)
    for _ in range(1000):
        splitter.receive_data(b" \n" * 500)
        assert splitter.next_value() is None
        assert splitter.buffered == 0 and not splitter.in_value


def test_an_incomplete_value_is_refused_past_the_limit() -> None:
    splitter = JsonSplitter(100)
    splitter.receive_data(b'{"a": "' + b"x" * 90)
    assert splitter.next_value() is None and splitter.in_value
    splitter.receive_data(b"x" * 20)
    with pytest.raises(JsonStreamError, match="message too large"):
        splitter.next_value()
    complete = JsonSplitter(10)
    complete.receive_data(b'{"a": "01234567"}')
    with pytest.raises(JsonStreamError, match="message too large"):
        complete.next_value()


@pytest.mark.parametrize("garbage", [b"}", b"]", b",", b":", b"x", b"\x00", b"NaN"])
def test_bytes_no_value_starts_with_are_refused(garbage: bytes) -> None:
    splitter = JsonSplitter(100)
    splitter.receive_data(b'{"id":1} ' + garbage)
    assert splitter.next_value() == b'{"id":1}'
    with pytest.raises(JsonStreamError, match="looking for beginning of value"):
        splitter.next_value()


def test_a_token_waits_for_its_end_until_the_stream_ends() -> None:
    splitter = JsonSplitter(100)
    splitter.receive_data(b"12")
    assert splitter.next_value() is None  # "123" may follow
    splitter.receive_data(b"3")
    splitter.end()
    assert splitter.next_value() == b"123"
