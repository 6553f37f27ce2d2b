"""Nonce search and geth's Seal target arithmetic (whisper-v6.md §1.5–1.6)."""

from __future__ import annotations

import math
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hush.crypto.keccak import keccak256
from hush.shh.envelope import Envelope, leading_zero_bits
from hush.shh.pow import ACCELERATED, NonceSearch, target_bits
from hush.types import Topic

SHORT = bytes.fromhex("cc8001840000000084deadbeef")


def bits_of(short: bytes, nonce: int) -> int:
    return leading_zero_bits(keccak256(short + nonce.to_bytes(8, "big")))


def test_find_returns_first_qualifying_nonce() -> None:
    search = NonceSearch(SHORT)
    found = search.find(0, 1000, 8)
    assert found is not None
    assert found.nonce == 276  # geth's vector: 256/13 at nonce 276 means exactly 8 bits
    assert found.bits == bits_of(SHORT, 276) == 8
    assert all(bits_of(SHORT, n) < 8 for n in range(276))


def test_find_gives_up_at_end_of_range() -> None:
    assert NonceSearch(SHORT).find(0, 276, 8) is None


def test_find_wraps_around_the_nonce_space() -> None:
    search = NonceSearch(SHORT)
    found = search.find(2**64 - 10, 400, 8)
    assert found is not None
    assert found.nonce < 2**64
    expected = next(
        n % 2**64 for n in range(2**64 - 10, 2**64 + 390) if bits_of(SHORT, n % 2**64) >= 8
    )
    assert found.nonce == expected


@settings(max_examples=20, deadline=None)
@given(st.binary(min_size=1, max_size=600), st.integers(0, 2**64 - 1))
def test_find_agrees_with_whole_buffer_hash(short: bytes, start: int) -> None:
    # Covers shorts below, at and above the 136-byte keccak block (pre-absorbed prefix).
    found = NonceSearch(short).find(start, 64, 3)
    expected = next(
        (n % 2**64 for n in range(start, start + 64) if bits_of(short, n % 2**64) >= 3), None
    )
    assert (found.nonce if found else None) == expected
    if found:
        assert found.bits == bits_of(short, found.nonce)


def test_best_returns_most_bits_first_on_ties() -> None:
    search = NonceSearch(SHORT)
    best = search.best(0, 2000)
    assert best is not None
    counts = [bits_of(SHORT, n) for n in range(2000)]
    assert best.bits == max(counts)
    assert best.nonce == counts.index(max(counts))


def test_search_pickles_for_worker_processes() -> None:
    search = pickle.loads(pickle.dumps(NonceSearch(SHORT)))
    assert search.find(0, 1000, 8) == NonceSearch(SHORT).find(0, 1000, 8)


@pytest.mark.parametrize(
    ("pow_target", "data_length", "ttl", "expected"),
    [
        (0.2, 4, 1, math.ceil(math.log2(0.2 * 24 * 1))),
        (0.2, 300, 60, math.ceil(math.log2(0.2 * 320 * 60))),
        (2.0, 254, 60, 16),  # 2 * 274 * 60 = 32880 → 15.005… → 16
        (1e-9, 10, 1, 1),  # at least 1
        (0.0, 10, 1, 1),
    ],
)
def test_target_bits_uses_nominal_size(
    pow_target: float, data_length: int, ttl: int, expected: int
) -> None:
    assert target_bits(pow_target, data_length, ttl) == expected


def test_target_bits_meet_the_requested_pow_for_geth_vectors() -> None:
    # An envelope sealed to target_bits reaches the PoW asked for (short RLP ≤ size()).
    envelope = Envelope(1000, 60, Topic(b"abcd"), bytes(254))
    bits = target_bits(2.0, len(envelope.data), envelope.ttl)
    found = NonceSearch(envelope.short_rlp()).find(0, 1 << 20, bits)
    assert found is not None
    assert envelope.with_nonce(found.nonce).pow() >= 2.0


@pytest.mark.skipif(not ACCELERATED, reason="the C nonce loop was not built here")
@settings(max_examples=60, deadline=None)
@given(
    short=st.binary(min_size=0, max_size=600),
    start=st.integers(0, 2**64 - 1),
    bits=st.integers(0, 9),
)
def test_c_loop_agrees_with_python(short: bytes, start: int, bits: int) -> None:
    search = NonceSearch(short)
    assert search.find(start, 3000, bits) == search.find_python(start, 3000, bits)


def test_impossible_target_finds_nothing() -> None:
    assert NonceSearch(b"\xc0").find(0, 10, 257) is None


@settings(max_examples=30, deadline=None)
@given(
    searches=st.lists(
        st.tuples(
            st.binary(min_size=0, max_size=400),
            st.integers(0, 2**64 - 1),
            st.integers(0, 3000),
            st.integers(1, 10),
        ),
        max_size=6,
    )
)
def test_find_many_agrees_with_find_one_by_one(searches: list[tuple[bytes, int, int, int]]) -> None:
    batch = [(NonceSearch(short), start, count, bits) for short, start, count, bits in searches]
    assert NonceSearch.find_many(batch) == [
        search.find_python(start, count, bits) for search, start, count, bits in batch
    ]


@pytest.mark.skipif(not ACCELERATED, reason="the C nonce loop was not built here")
@settings(max_examples=60, deadline=None)
@given(
    short=st.binary(min_size=0, max_size=400),
    start=st.one_of(st.integers(0, 2**64 - 1), st.integers(2**64 - 40, 2**64 - 1)),
    count=st.integers(0, 3000),
    bits=st.integers(1, 9),
)
def test_vector_lanes_agree_with_the_scalar_loop(
    short: bytes, start: int, count: int, bits: int
) -> None:
    """AVX-512 (8 nonces at once), AVX2 (4) and the scalar loop find the same first nonce,
    across the 2^64 wrap and counts that are no multiple of the width; each width the CPU lacks
    falls back to the next narrower one."""
    from hush.shh import _powloop

    search = NonceSearch(short)
    default = _powloop.lanes()
    try:
        found = []
        for lanes in (8, 4, 1):
            _powloop.set_lanes(lanes)
            found.append(search.find(start, count, bits))
    finally:
        _powloop.set_lanes(default)
    assert found[0] == found[1] == found[2] == search.find_python(start, count, bits)
