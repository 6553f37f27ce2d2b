"""Envelope codec, hash and PoW against geth 1.9.7 recordings and whisper-v6.md §8.2."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hush import rlp
from hush.crypto.keccak import keccak256
from hush.crypto.keys import PrivateKey
from hush.crypto.symmetric import SymmetricKey
from hush.errors import DecodeError
from hush.shh.envelope import Envelope, _decode_fast, leading_zero_bits, pow_from_bits
from hush.shh.message import open_asymmetric, open_symmetric
from hush.shh.topic import topic_from_hex
from hush.types import Topic


def h(text: str) -> bytes:
    return bytes.fromhex(text.removeprefix("0x"))


# --- geth 1.9.7 recordings -------------------------------------------------------------------


def test_geth_envelope_decodes_reencodes_and_hashes(geth_vector: dict[str, Any]) -> None:
    raw = h(geth_vector["envelope_rlp"])
    envelope = Envelope.decode(raw)
    fields = geth_vector["envelope"]
    assert envelope.expiry == fields["expiry"]
    assert envelope.ttl == fields["ttl"]
    assert envelope.topic == topic_from_hex(fields["topic"])
    assert envelope.nonce == fields["nonce"]
    if not fields["data"].startswith("<"):
        assert envelope.data == h(fields["data"])
    assert envelope.encode() == raw
    rebuilt = Envelope(envelope.expiry, envelope.ttl, envelope.topic, envelope.data, envelope.nonce)
    assert rebuilt.encode() == raw
    assert envelope.hash == h(geth_vector["envelope_hash"]) == h(geth_vector["expected"]["hash"])
    assert envelope.sent == geth_vector["expected"]["timestamp"]


def test_geth_envelope_pow_is_bit_identical(geth_vector: dict[str, Any]) -> None:
    envelope = Envelope.decode(h(geth_vector["envelope_rlp"]))
    assert envelope.pow() == geth_vector["expected"]["pow"]
    rebuilt = Envelope(envelope.expiry, envelope.ttl, envelope.topic, envelope.data, envelope.nonce)
    assert rebuilt.pow() == geth_vector["expected"]["pow"]


def test_geth_envelope_opens_with_its_key(geth_vector: dict[str, Any]) -> None:
    envelope = Envelope.decode(h(geth_vector["envelope_rlp"]))
    keys, expected = geth_vector["keys"], geth_vector["expected"]
    if "password" in keys:
        sym = SymmetricKey.from_password(keys["password"])
        assert sym.secret == h(keys["symKey"])
        opened = open_symmetric(envelope, sym)
    elif "symKey" in keys:
        opened = open_symmetric(envelope, SymmetricKey(h(keys["symKey"])))
    else:
        recipient = PrivateKey(h(keys["recipientPrivateKey"]))
        assert recipient.public_key == h(keys["recipientPublicKey"])
        opened = open_asymmetric(envelope, recipient)
    assert opened is not None
    assert opened.payload == h(expected["payload"])
    assert opened.padding == h(expected["padding"])
    assert opened.pow == expected["pow"]
    assert opened.envelope_hash == h(expected["hash"])
    assert opened.timestamp == expected["timestamp"]
    assert opened.ttl == expected["ttl"]
    assert opened.topic == topic_from_hex(expected["topic"])
    assert (None if opened.signer is None else opened.signer) == (
        h(expected["sig"]) if "sig" in expected else None
    )
    assert opened.recipient_public_key == (
        h(expected["recipientPublicKey"]) if "recipientPublicKey" in expected else None
    )
    if "decrypted_plaintext" in geth_vector:
        sym_or_none = keys.get("symKey")
        if sym_or_none is not None:
            assert SymmetricKey(h(sym_or_none)).open(envelope.data) == h(
                geth_vector["decrypted_plaintext"]
            )


def test_geth_envelope_does_not_open_with_another_key(geth_vector: dict[str, Any]) -> None:
    envelope = Envelope.decode(h(geth_vector["envelope_rlp"]))
    assert open_symmetric(envelope, SymmetricKey(b"\x07" * 32)) is None
    assert open_asymmetric(envelope, PrivateKey(b"\x07" * 32)) is None


# --- whisper-v6.md §8.2 ----------------------------------------------------------------------

DEADBEEF = Envelope(0, 1, Topic(bytes(4)), bytes.fromhex("deadbeef"))


def test_short_rlp_of_spec_envelope() -> None:
    assert DEADBEEF.short_rlp() == bytes.fromhex("cc8001840000000084deadbeef")


@pytest.mark.parametrize(
    ("nonce", "pow_hash", "expected"),
    [
        (
            100000,
            "a788e02a95bfc673709e97ca81e39ca903bad5638d3388964c51eb64952172d6",
            0.07692307692307693,
        ),
        (
            276,
            "00e2374c6353c243e4073e209a7f2acb2506522af318b3b78cf9a88310a2a11c",
            19.692307692307693,
        ),
    ],
)
def test_geth_pow_vectors(nonce: int, pow_hash: str, expected: float) -> None:
    envelope = DEADBEEF.with_nonce(nonce)
    assert keccak256(envelope.short_rlp() + nonce.to_bytes(8, "big")).hex() == pow_hash
    assert envelope.pow() == expected
    assert envelope.pow() == (1 / 13 if nonce == 100000 else 256 / 13)


@pytest.mark.parametrize(
    ("nonce", "encoded", "envelope_hash"),
    [
        (
            100000,
            "d08001840000000084deadbeef830186a0",
            "660f65a268e219b51aa55347adab435ffa14835a64d247a72bc2ef88cae6dc58",
        ),
        (
            276,
            "cf8001840000000084deadbeef820114",
            "300e63ed3c7a65d646006bd8f92ed35851ac71038f39912186f66bcb8003413f",
        ),
    ],
)
def test_spec_envelope_rlp_and_hash(nonce: int, encoded: str, envelope_hash: str) -> None:
    envelope = DEADBEEF.with_nonce(nonce)
    assert envelope.encode().hex() == encoded
    assert envelope.hash.hex() == envelope_hash
    assert Envelope.decode(bytes.fromhex(encoded)) == envelope


@pytest.mark.parametrize(
    ("nonce", "expected", "hash_prefix", "hash_suffix"),
    [
        (1010101, 0.00012254901960784314, "8aa530cd", "59cf"),
        (1010102, 0.00024509803921568627, "2503e59d", "d836"),
        (1010103, 0.0004901960784313725, "98e716f5", "37a2"),
    ],
)
def test_parity_sample_envelopes(
    nonce: int, expected: float, hash_prefix: str, hash_suffix: str
) -> None:
    envelope = Envelope(100000, 30, Topic(bytes(4)), b"\x09" * 256, nonce)
    assert len(envelope.short_rlp()) == 272
    assert envelope.pow() == expected
    assert envelope.hash.hex().startswith(hash_prefix)
    assert envelope.hash.hex().endswith(hash_suffix)


@pytest.mark.parametrize(
    ("digest", "expected"),
    [(bytes(32), 2.0**256), (bytes(31) + b"\x01", 2.0**255), (b"\xff" + bytes(31), 1.0)],
)
def test_pow_helper_extremes(digest: bytes, expected: float) -> None:
    assert pow_from_bits(leading_zero_bits(digest), 1, 1) == expected
    assert f"{pow_from_bits(256, 1, 1):.15e}" == "1.157920892373162e+77"


def test_pow_divides_twice_in_geth_order() -> None:
    # 2^lz / 13 / 3 differs from 2^lz / 39 in the last ulp (whisper-v6.md §1.5).
    assert pow_from_bits(0, 13, 3) == 1.0 / 13 / 3
    assert pow_from_bits(0, 13, 3) != 1.0 / (13 * 3)


def test_about_a_fifth_of_size_ttl_pairs_differ_between_one_and_two_divisions() -> None:
    pairs = [(size, ttl) for size in range(13, 200) for ttl in range(1, 100)]
    differing = sum(pow_from_bits(5, s, t) != 2.0**5 / (s * t) for s, t in pairs)
    assert 0.1 < differing / len(pairs) < 0.3
    assert all(pow_from_bits(5, s, t) == 2.0**5 / s / t for s, t in pairs)


def test_future_dated_pow_divides_by_ttl_plus_diff() -> None:
    envelope = DEADBEEF.with_nonce(276)
    assert envelope.pow(diff=2) == 256 / 13 / 3
    assert pow_from_bits(8, 13, 0) == float("inf")


def test_size_and_sent_time() -> None:
    envelope = Envelope(1000, 50, Topic(b"abcd"), b"x" * 30)
    assert envelope.size() == 50
    assert envelope.sent == 950
    assert Envelope(10, 20, Topic(b"abcd"), b"").sent == 2**32 - 10  # uint32 wrap like geth


# --- strictness ------------------------------------------------------------------------------

VALID = DEADBEEF.with_nonce(276).encode()


@pytest.mark.parametrize(
    "raw",
    [
        "cb8001840000000084deadbeef",  # 4 items
        "d08001840000000084deadbeef82011480",  # 6 items
        "d0810101840000000084deadbeef820114",  # non-canonical ttl 81 01
        "d08001840000000084deadbeef83000114",  # nonce with leading zero
        "d1800185000000000084deadbeef820114",  # 5-byte topic
        "ce80018300000084deadbeef820114",  # 3-byte topic
        "d2850100000000018400000000" + "84deadbeef820114",  # expiry > uint32
        "d8800184000000008400000000" + "89010000000000000000",  # nonce overflows uint64
        "cf8001840000000084deadbeef820114" + "00",  # trailing byte
        "cf8001840000000084deadbeef8201",  # truncated
        "f8" + "0f8001840000000084deadbeef820114",  # long list form for short payload
        "cf8001840000000084deadbeefc20114",  # nonce is a list
        "cf8001840000000084deadbeef820114"[:-6] + "00",  # zero nonce as 00 (non-canonical)
        "c0",
        "",
        "80",
    ],
)
def test_decode_rejects_what_geth_rejects(raw: str) -> None:
    with pytest.raises(DecodeError):
        Envelope.decode(bytes.fromhex(raw))


def test_decode_accepts_single_byte_data_and_zero_values() -> None:
    envelope = Envelope(0, 0, Topic(bytes(4)), b"\x05", 0)
    assert envelope.encode().hex() == "c98080840000000005" + "80"
    assert Envelope.decode(envelope.encode()) == envelope


# --- hypothesis ------------------------------------------------------------------------------

uint32 = st.integers(0, 2**32 - 1)
envelopes = st.builds(
    Envelope,
    expiry=uint32,
    ttl=uint32,
    topic=st.binary(min_size=4, max_size=4).map(Topic),
    data=st.one_of(st.binary(max_size=80), st.binary(min_size=250, max_size=70000)),
    nonce=st.integers(0, 2**64 - 1),
)


@settings(max_examples=300, deadline=None)
@given(envelopes)
def test_envelope_round_trip(envelope: Envelope) -> None:
    raw = envelope.encode()
    assert raw == rlp.encode(
        [
            envelope.expiry,
            envelope.ttl,
            envelope.topic,
            envelope.data,
            envelope.nonce,
        ]
    )
    decoded = Envelope.decode(raw)
    assert decoded == envelope
    assert decoded.hash == keccak256(raw)
    short = rlp.encode([envelope.expiry, envelope.ttl, envelope.topic, envelope.data])
    assert decoded.short_rlp() == short
    digest = keccak256(short + envelope.nonce.to_bytes(8, "big"))
    if envelope.ttl:
        assert decoded.pow() == 2.0 ** leading_zero_bits(digest) / len(short) / envelope.ttl


@settings(max_examples=500, deadline=None)
@given(st.one_of(envelopes.map(Envelope.encode), st.binary(max_size=80)), st.data())
def test_fast_decoder_never_disagrees_with_generic_decoder(raw: bytes, data: st.DataObject) -> None:
    if raw and data.draw(st.booleans()):
        position = data.draw(st.integers(0, len(raw) - 1))
        raw = raw[:position] + bytes([data.draw(st.integers(0, 255))]) + raw[position + 1 :]
    fast = _decode_fast(raw)
    try:
        slow = Envelope.from_item(rlp.decode(raw), raw)
    except DecodeError:
        assert fast is None
        return
    if fast is not None:
        assert fast == (slow.expiry, slow.ttl, slow.topic, slow.data, slow.nonce)


def test_legacy_pow_algorithms_score_differently() -> None:
    # §8.2: the unreleased 2019 master (64-byte buffer, leading zeros) and v1.8 (trailing zeros,
    # size 20 + len(data)) disagree with v1.9; hush implements v1.9 only, these pin the contrast.
    short = DEADBEEF.short_rlp()

    def buffer_hash(nonce: int) -> bytes:
        return keccak256(keccak256(short) + bytes(24) + nonce.to_bytes(8, "big"))

    master = buffer_hash(48159)
    assert master.hex().startswith("00001bbf732785f6")
    assert master.hex().endswith("72d74db5")
    assert pow_from_bits(leading_zero_bits(master), 13, 1) == 40329.846153846156
    for nonce, prefix in ((100000, "a0c80100"), (276, "f14b4895")):
        legacy = buffer_hash(nonce)
        assert legacy.hex().startswith(prefix)
        assert legacy[-1] & 1  # odd hash: 0 trailing zero bits in v1.8
        assert pow_from_bits(0, 24, 1) == 0.041666666666666664
    assert DEADBEEF.with_nonce(48159).pow() != 40329.846153846156
