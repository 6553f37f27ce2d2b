"""The C envelope path (`_envelope.c`) against the pure-Python reference, envelope by envelope.

Differential, as for the nonce loop: well-formed envelopes of every length class, the same
envelopes mutated (one byte changed, inserted, dropped, truncated, extended) and random bytes must
give the same decision — the same envelope with the same hash and PoW, or the same DecodeError
text — through `Envelope.decode` (C where built) and `Envelope.decode_python`; the C part accepts
exactly what `_decode_fast` accepts. `decode_messages_in_slices` must match the reference ingest
(`iter_messages`, then `decode_python` of each) on whole packets, including where it fails.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hush import rlp
from hush.crypto.keccak import keccak256
from hush.errors import DecodeError
from hush.shh import envelope as envelope_module
from hush.shh.envelope import ACCELERATED, Envelope, _decode_fast, leading_zero_bits, pow_from_bits
from hush.shh.packets import (
    check_messages_in_slices,
    decode_messages_in_slices,
    encode_messages,
    envelope_at,
    iter_messages,
    messages_bounds,
)
from hush.shh.pool import EnvelopePool
from hush.types import Topic

needs_c = pytest.mark.skipif(not ACCELERATED, reason="the C envelope part was not built here")

UINT32 = st.integers(0, 2**32 - 1)
# data lengths around every RLP boundary: single byte, short string, 55/56, long forms
DATA = st.one_of(
    st.binary(max_size=2),
    st.binary(min_size=50, max_size=60),
    st.binary(min_size=130, max_size=300),
    st.integers(0, 0x7F).map(lambda b: bytes([b])),
)
ENVELOPES = st.builds(
    Envelope,
    expiry=UINT32,
    ttl=UINT32,
    topic=st.binary(min_size=4, max_size=4).map(Topic),
    data=DATA,
    nonce=st.one_of(st.integers(0, 300), st.integers(0, 2**64 - 1)),
)


def reference_pow(envelope: Envelope, diff: int) -> float:
    """whisper-v6.md §1.5, from scratch: keccak256(short ‖ nonce_be8), two divisions."""
    short = envelope.short_rlp()
    digest = keccak256(short + envelope.nonce.to_bytes(8, "big"))
    return pow_from_bits(leading_zero_bits(digest), len(short), envelope.ttl, diff)


def outcome(decode: object, raw: bytes) -> tuple[str, object]:
    assert callable(decode)
    try:
        envelope = decode(raw)
    except DecodeError as exc:
        return "error", str(exc)
    assert isinstance(envelope, Envelope)
    return "envelope", (
        envelope,
        envelope.encode(),
        envelope.hash,
        [envelope.pow(diff) for diff in (0, 1, 7)],
        envelope.bloom(),
    )


def same_float_lists(a: list[float], b: list[float]) -> bool:
    return all(x == y or (math.isnan(x) and math.isnan(y)) for x, y in zip(a, b, strict=True))


def assert_same(raw: bytes) -> None:
    c_result = outcome(Envelope.decode, raw)
    python_result = outcome(Envelope.decode_python, raw)
    assert c_result[0] == python_result[0], raw.hex()
    if c_result[0] == "error":
        assert c_result == python_result
        return
    c_fields, py_fields = c_result[1], python_result[1]
    assert isinstance(c_fields, tuple) and isinstance(py_fields, tuple)
    assert c_fields[:3] == py_fields[:3]
    assert same_float_lists(c_fields[3], py_fields[3])
    assert c_fields[4] == py_fields[4]
    if envelope_module._envelope is not None:
        assert (envelope_module._envelope.decode(raw) is None) == (_decode_fast(raw) is None)


def mutate(raw: bytes, data: st.DataObject) -> bytes:
    kind = data.draw(st.sampled_from(["change", "insert", "drop", "truncate", "extend", "none"]))
    position = data.draw(st.integers(0, max(0, len(raw) - 1)))
    byte = bytes([data.draw(st.integers(0, 255))])
    if kind == "change" and raw:
        return raw[:position] + byte + raw[position + 1 :]
    if kind == "insert":
        return raw[:position] + byte + raw[position:]
    if kind == "drop" and raw:
        return raw[:position] + raw[position + 1 :]
    if kind == "truncate":
        return raw[:position]
    if kind == "extend":
        return raw + byte
    return raw


@needs_c
@settings(max_examples=300, deadline=None)
@given(envelope=ENVELOPES)
def test_c_decodes_well_formed_envelopes_like_python(envelope: Envelope) -> None:
    raw = envelope.encode()
    decoded = Envelope.decode(raw)
    assert decoded == envelope
    assert decoded.encode() == raw
    assert decoded.hash == keccak256(raw)
    for diff in (0, 3):
        assert decoded.pow(diff) == reference_pow(envelope, diff)
    assert_same(raw)


@needs_c
@settings(max_examples=300, deadline=None)
@given(envelope=ENVELOPES, data=st.data())
def test_c_and_python_agree_on_mutated_envelopes(envelope: Envelope, data: st.DataObject) -> None:
    raw = envelope.encode()
    for _ in range(data.draw(st.integers(1, 3))):
        raw = mutate(raw, data)
    assert_same(raw)


@needs_c
@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=80))
def test_c_and_python_agree_on_random_bytes(raw: bytes) -> None:
    assert_same(raw)


def header(length: int, base: int, long_form: bool) -> bytes:
    """An RLP length prefix; `long_form` forces the long form (non-canonical below 56)."""
    if length < 56 and not long_form:
        return bytes([base + length])
    size = length.to_bytes(max(1, (length.bit_length() + 7) // 8), "big")
    return bytes([base + 55 + len(size)]) + size


@st.composite
def rlp_items(draw: st.DrawFn) -> bytes:
    """One RLP item, canonical or subtly not: what an envelope's fields might be on the wire."""
    kind = draw(st.sampled_from(["uint", "string", "single", "zero", "padded", "long", "list"]))
    if kind == "uint":
        return rlp.encode_uint(draw(st.one_of(st.integers(0, 300), st.integers(0, 2**72))))
    if kind == "string":
        return rlp.encode_bytes(draw(st.binary(max_size=70)))
    if kind == "single":  # 0x81 b: canonical only for b >= 0x80
        return b"\x81" + bytes([draw(st.integers(0, 255))])
    if kind == "zero":
        return b"\x00"
    if kind == "padded":  # an integer with a leading zero byte
        return b"\x82\x00" + bytes([draw(st.integers(0, 255))])
    if kind == "long":  # long form, for any length
        data = draw(st.binary(max_size=70))
        return header(len(data), 0x80, True) + data
    inner = draw(st.binary(max_size=6))
    return header(len(inner), 0xC0, False) + inner


@st.composite
def field_level_envelopes(draw: st.DrawFn) -> bytes:
    """Five (sometimes four or six) items, each canonical or not, under a list header that may
    be non-canonical or wrong by one."""
    items = [
        draw(st.one_of(st.just(rlp.encode_uint(draw(UINT32))), rlp_items())),
        draw(st.one_of(st.just(rlp.encode_uint(draw(UINT32))), rlp_items())),
        draw(st.one_of(st.just(b"\x84" + draw(st.binary(min_size=4, max_size=4))), rlp_items())),
        draw(st.one_of(st.just(rlp.encode_bytes(draw(DATA))), rlp_items())),
        draw(st.one_of(st.just(rlp.encode_uint(draw(st.integers(0, 2**64 - 1)))), rlp_items())),
    ]
    count = draw(st.sampled_from([5, 5, 5, 4, 6]))
    payload = b"".join(items[:count]) + (draw(rlp_items()) if count == 6 else b"")
    length = len(payload) + draw(st.sampled_from([0, 0, 0, -1, 1]))
    return header(max(0, length), 0xC0, draw(st.booleans())) + payload


@needs_c
@settings(max_examples=300, deadline=None)
@given(raw=field_level_envelopes())
def test_c_and_python_agree_field_by_field(raw: bytes) -> None:
    assert_same(raw)


@needs_c
def test_large_envelope_hashed_without_the_gil_is_right() -> None:
    envelope = Envelope(1_600_000_000, 300, Topic(b"\x00\x01\x02\x03"), bytes(range(256)) * 400)
    decoded = Envelope.decode(envelope.encode())
    assert decoded.hash == keccak256(envelope.encode())
    assert decoded.pow() == reference_pow(envelope, 0)


def reference_ingest(payload: bytes) -> tuple[str, object]:
    try:
        return "ok", [Envelope.decode_python(raw) for raw in iter_messages(payload)]
    except DecodeError as exc:
        return "error", str(exc)


def sliced_ingest(payload: bytes, size: int) -> tuple[str, object]:
    envelopes: list[Envelope] = []
    try:
        for chunk in decode_messages_in_slices(payload, size):
            assert 1 <= len(chunk) <= size
            envelopes.extend(chunk)
    except DecodeError as exc:
        return "error", str(exc)
    return "ok", envelopes


@settings(max_examples=150, deadline=None)
@given(
    envelopes=st.lists(ENVELOPES, max_size=8),
    data=st.data(),
    size=st.integers(1, 5),
)
def test_packet_slices_match_the_reference_ingest(
    envelopes: list[Envelope], data: st.DataObject, size: int
) -> None:
    encodings = [envelope.encode() for envelope in envelopes]
    if encodings and data.draw(st.booleans()):  # spoil one envelope, or the list around them
        index = data.draw(st.integers(0, len(encodings) - 1))
        encodings[index] = mutate(encodings[index], data)
    payload = encode_messages(encodings)
    if data.draw(st.booleans()):
        payload = mutate(payload, data)
    expected = reference_ingest(payload)
    assert sliced_ingest(payload, size) == expected
    if expected[0] == "ok":
        for envelope in expected[1]:  # type: ignore[attr-defined]
            assert envelope.pow() == reference_pow(envelope, 0)


def checked_ingest(payload: bytes, size: int) -> tuple[str, object]:
    """The first pass alone: how many envelopes, or the error (`check_messages_in_slices`)."""
    count = 0
    try:
        for checked, decoded in check_messages_in_slices(payload, size):
            assert 1 <= checked <= size and len(decoded) <= checked
            count += checked
    except DecodeError as exc:
        return "error", str(exc)
    return "ok", count


@settings(max_examples=150, deadline=None)
@given(
    envelopes=st.lists(ENVELOPES, max_size=8),
    data=st.data(),
    size=st.integers(1, 5),
)
def test_the_check_pass_fails_where_decoding_fails(
    envelopes: list[Envelope], data: st.DataObject, size: int
) -> None:
    """geth's first pass without hashing: the same verdict and error as decoding every envelope
    (and, where it passes, as many envelopes), on spoiled envelopes and spoiled lists."""
    encodings = [envelope.encode() for envelope in envelopes]
    if encodings and data.draw(st.booleans()):
        index = data.draw(st.integers(0, len(encodings) - 1))
        encodings[index] = mutate(encodings[index], data)
    payload = encode_messages(encodings)
    if data.draw(st.booleans()):
        payload = mutate(payload, data)
    expected = reference_ingest(payload)
    got = checked_ingest(payload, size)
    if expected[0] != "ok":
        assert got == expected
        return
    reference = expected[1]
    assert isinstance(reference, list)
    assert got == ("ok", len(reference))
    # the second pass over what passed: an empty pool decodes each (as decode does), a pool
    # holding them all answers each with its entry, in order
    for fill in (False, True):
        pool = EnvelopePool(min_pow=0.0)
        for envelope in reference if fill else []:
            pool.add(envelope, envelope.sent)  # at its creation time: pooled unless expired
        now = data.draw(st.sampled_from([0, *(e.sent for e in reference)]))
        hashes: list[bytes] = []
        pos, stop = messages_bounds(payload)
        while pos < stop:
            copies, pos, envelope = pool.copies_run(payload, pos, stop, size, now)
            hashes += [entry.hash for entry in copies]
            if envelope is None and pos < stop:
                envelope, pos = envelope_at(payload, pos, stop)
            if envelope is not None:
                hashes.append(envelope.hash)
        assert hashes == [e.hash for e in reference]


def test_packet_slices_without_the_c_part(monkeypatch: pytest.MonkeyPatch) -> None:
    """No compiler: the same envelopes, through the Python decoder."""
    envelopes = [Envelope(1000 + i, 50, Topic(b"abcd"), bytes(i * 30), nonce=i) for i in range(7)]
    payload = encode_messages([e.encode() for e in envelopes])
    monkeypatch.setattr(envelope_module, "_envelope", None)
    assert sliced_ingest(payload, 3) == ("ok", envelopes)
    decoded = Envelope.decode(envelopes[3].encode())
    assert decoded.hash == keccak256(envelopes[3].encode())
    assert decoded.pow() == reference_pow(envelopes[3], 0)


def test_packet_slices_fail_where_the_list_is_malformed() -> None:
    good = Envelope(1000, 50, Topic(b"abcd"), b"hello").encode()
    assert sliced_ingest(b"\x05", 4) == reference_ingest(b"\x05")
    assert sliced_ingest(rlp.encode_list_payload(good + b"\xc5\x01"), 4)[0] == "error"
    with pytest.raises(ValueError, match="at least 1"):
        next(decode_messages_in_slices(rlp.encode_list_payload(good), 0))


@needs_c
def test_c_part_refuses_bad_arguments() -> None:
    c = envelope_module._envelope
    assert c is not None
    with pytest.raises(TypeError):
        c.decode(bytearray(b"\xc0"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="bad bounds"):
        c.decode_run(b"\xc0", 0, 5, 1)
    with pytest.raises(ValueError, match="bad bounds"):
        c.check_run(b"\xc0", 1, 0, 1)
    with pytest.raises(ValueError, match="bad bounds"):
        c.copies_run(b"\xc0", 0, 1, -1, None, 0, 100, 0.0, None)
    with pytest.raises(ValueError, match="64 bytes"):
        c.copies_run(b"\xc0", 0, 1, 1, c.CopyIndex(), 0, 100, 0.0, b"\xff" * 63)
    with pytest.raises(TypeError):
        c.copies_run(b"\xc0", 0, 1, 1, {}, 0, 100, 0.0, None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        c.CopyIndex(1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        c.check_run(bytearray(b"\xc0"), 0, 1, 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        c.bind(Envelope, ("expiry",))


@needs_c
def test_slot_builder_matches_the_dataclass(monkeypatch: pytest.MonkeyPatch) -> None:
    from hush.shh.message import OpenedMessage

    values = (b"p", b"pad", None, Topic(b"abcd"), 50, 7, 1.5, b"h" * 32, None, b"k" * 32, False)
    built = envelope_module.slot_builder(OpenedMessage)(*values)
    assert built == OpenedMessage(*values)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        envelope_module.slot_builder(OpenedMessage)(*values[:-1])
    monkeypatch.setattr(envelope_module, "_envelope", None)
    assert envelope_module.slot_builder(OpenedMessage)(*values) == built


def test_cached_hash_and_pow_never_outlive_a_change() -> None:
    """The cached slots are not init fields: `dataclasses.replace` and `with_nonce` recompute."""
    import dataclasses

    envelope = Envelope.decode(Envelope(1000, 50, Topic(b"abcd"), b"x" * 100, nonce=3).encode())
    assert envelope.hash and envelope.pow() > 0
    other = Envelope(1000, 50, Topic(b"abcd"), b"x" * 100, nonce=4)
    changed = dataclasses.replace(envelope, nonce=4, _encoded=b"")
    assert changed.hash == other.hash != envelope.hash
    assert changed.pow() == other.pow() == reference_pow(other, 0)
    assert envelope.with_nonce(4).hash == other.hash


@needs_c
def test_c_keccak_matches_at_every_length_to_three_blocks() -> None:
    """The C permutation (lane-complemented, `_keccak.h`) against pysha3 through the two digests
    the C part takes: every envelope length from 10 to past three 136-byte blocks, so every
    padding position and block boundary of both the hash and the PoW input is crossed."""
    for length in range(0, 420):
        envelope = Envelope(1_700_000_000, 50, Topic(b"\x01\x02\x03\x04"), bytes(range(256)) * 2)
        envelope = Envelope(envelope.expiry, 50, envelope.topic, envelope.data[:length], length)
        raw = envelope.encode()
        c = envelope_module._envelope
        assert c is not None
        decoded = c.decode(raw)
        assert decoded is not None
        assert decoded.hash == keccak256(raw), length
        assert decoded.pow() == reference_pow(envelope, 0), length
    assert keccak256(b"abc").hex() == (
        "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"
    )  # the reference itself: Keccak-256, not SHA3-256
