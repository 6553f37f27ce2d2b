"""Message plaintext, padding, signing and encryption: whisper-v6.md §2 and the §8.5 vectors.

The "independent" tests rebuild AES-GCM, geth's ECIES and the plaintext parser from raw
primitives (cryptography, coincurve, hashlib, sha3) and check hush against them both ways.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable

import coincurve
import pytest
import sha3
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from hush.crypto.keys import PrivateKey
from hush.crypto.symmetric import SymmetricKey
from hush.errors import UsageError
from hush.shh.envelope import Envelope
from hush.shh.message import (
    build_plaintext,
    open_asymmetric,
    open_symmetric,
    parse_plaintext,
    wrap,
)
from hush.types import Topic

FixedRandom = Callable[..., Callable[[int], bytes]]

SYM_KEY = SymmetricKey(
    bytes.fromhex("03ca634cae0d49acb401d8a4c6b6fe8c55b70d115bf400769cc1400f3258cd31")
)
PAYLOAD = b"per aspera ad astra"
PADDING = b"\x11" * 16
SALT = bytes.fromhex("000102030405060708090a0b")
TOPIC = Topic(bytes.fromhex("01020304"))
EXPIRY, TTL = 1600000000, 50
SIGNER = PrivateKey(b"\x11" * 32)
RECIPIENT = PrivateKey(b"\x22" * 32)


def keccak(data: bytes) -> bytes:
    return sha3.keccak_256(data).digest()  # type: ignore[no-any-return]


# --- whisper-v6.md §8.5 whole-message vectors ----------------------------------------------


def test_vector_a_unsigned_symmetric(fixed_random: FixedRandom) -> None:
    plain = build_plaintext(PAYLOAD, fixed_random(), PADDING)
    assert plain.hex() == (
        "01137065722061737065726120616420617374726111111111111111111111111111111111"
    )
    envelope = wrap(
        PAYLOAD, TOPIC, EXPIRY - TTL, fixed_random(SALT), ttl=TTL, sym_key=SYM_KEY, padding=PADDING
    )
    data = (
        "aadb80b6cd6285c292e5ef90d2cfa700c5694aa56c5d2d39869784ffbe50775ed40fc903dc3aea8b438a94bb80"
        "f7671a2fa104e91f000102030405060708090a0b"
    )
    assert envelope.data.hex() == data
    assert envelope.encode().hex() == "f84f845f5e1000328401020304b841" + data + "80"
    assert envelope.hash.hex() == "ae34264a6fa5656553bfe63fefca296420d3e7c287969e51f966e53158b23cf5"
    assert len(envelope.short_rlp()) == 80
    assert envelope.pow() == 0.00025
    opened = open_symmetric(envelope, SYM_KEY)
    assert opened is not None
    assert (opened.payload, opened.padding, opened.signer) == (PAYLOAD, PADDING, None)
    assert opened.sym_key_hash == bytes.fromhex(
        "df90524a4e0dfc86c596857c51d4411c63fdfc1b52c999f30ae62e6185f1d96b"
    )


def test_vector_b_signed_symmetric(fixed_random: FixedRandom) -> None:
    assert SIGNER.public_key.hex() == (
        "044f355bdcb7cc0af728ef3cceb9615d90684bb5b2ca5f859ab0f0b704075871aa385b6b1b8ead809ca674"
        "54d9683fcf2ba03456d6fe2c4abe2b07f0fbdbb2f1c1"
    )
    plain = build_plaintext(PAYLOAD, fixed_random(), PADDING, SIGNER)
    assert plain[0] == 0x05
    signed_part, signature = plain[:-65], plain[-65:]
    assert keccak(signed_part).hex() == (
        "02d9126fef115fe949cac0e15c8e7b65a76c0bbd2614d613d0eb07efa92fc297"
    )
    assert signature.hex() == (
        "a6ddcc1ab45983cd2ee85475499ad62c24c01e1d2eafb570ad5dab263f9491ae5c6afc22503f0c86ea5099b9"
        "d6ffeb8087f9ffbb2f3ac4dec7b42d227df5f29101"
    )
    envelope = wrap(
        PAYLOAD,
        TOPIC,
        EXPIRY - TTL,
        fixed_random(SALT),
        ttl=TTL,
        sym_key=SYM_KEY,
        padding=PADDING,
        signer=SIGNER,
    )
    assert envelope.hash.hex() == "c49df0c00682e681e5e5af49a8dfea254fa74407da9fd1a009b592605dea1a9a"
    assert envelope.pow() == 0.00013793103448275863
    opened = open_symmetric(envelope, SYM_KEY)
    assert opened is not None
    assert opened.signer == SIGNER.public_key
    assert opened.payload == PAYLOAD


def test_vector_c_asymmetric(fixed_random: FixedRandom) -> None:
    envelope = wrap(
        PAYLOAD,
        TOPIC,
        EXPIRY - TTL,
        fixed_random(b"\x33" * 32, b"\x44" * 16),
        ttl=TTL,
        public_key=RECIPIENT.public_key,
        padding=PADDING,
    )
    assert envelope.data.hex() == (
        "043c72addb4fdf09af94f0c94d7fe92a386a7e70cf8a1d85916386bb2535c7b1b13b306b0fe085665d8fc1b2"
        "8ae1676cd3ad6e08eaeda225fe38d0da4de55703e04444444444444444444444444444444439d08986414114"
        "a76486f590625a9d68b96da3023023a50db136247f1a89eeede02e82d986abcef7e86950188c12d16411b1a2"
        "cb82f8476b27eb04e50439a0bea02b91cc1f"
    )
    assert envelope.hash.hex() == "05241d173c21b97709343bebcde5e56e4eceb25a89c3fb1e057bd2e86fc1c834"
    opened = open_asymmetric(envelope, RECIPIENT)
    assert opened is not None
    assert opened.payload == PAYLOAD
    assert opened.recipient_public_key == RECIPIENT.public_key
    assert open_asymmetric(envelope, SIGNER) is None


@pytest.mark.parametrize(
    ("payload_length", "signed", "padding_length", "flags"),
    [
        (3, False, 251, 0x01),
        (3, True, 186, 0x05),
        (253, False, 1, 0x01),
        (254, False, 256, 0x01),
        (188, True, 1, 0x05),
        (189, True, 256, 0x05),
        (256, False, 253, 0x02),
        (65536, False, 252, 0x03),
    ],
)
def test_auto_padding_sizes(
    payload_length: int, signed: bool, padding_length: int, flags: int
) -> None:
    plain = build_plaintext(bytes(payload_length), os.urandom, None, SIGNER if signed else None)
    assert plain[0] == flags
    assert len(plain) % 256 == 0
    parsed = parse_plaintext(plain)
    assert parsed is not None
    assert len(parsed.padding) == padding_length
    assert parsed.payload == bytes(payload_length)


def test_empty_payload_still_writes_a_size_byte() -> None:
    plain = build_plaintext(b"", os.urandom, b"")
    assert plain == b"\x01\x00"


def test_wrap_needs_exactly_one_key() -> None:
    with pytest.raises(UsageError):
        wrap(b"x", TOPIC, 0, os.urandom)
    with pytest.raises(UsageError):
        wrap(b"x", TOPIC, 0, os.urandom, sym_key=SYM_KEY, public_key=RECIPIENT.public_key)


def test_wrap_default_ttl_and_expiry() -> None:
    envelope = wrap(b"x", TOPIC, 1000, os.urandom, ttl=0, sym_key=SYM_KEY)
    assert (envelope.ttl, envelope.expiry, envelope.nonce) == (50, 1050, 0)


# --- parse_plaintext edge cases (geth ValidateAndParse + the missing bound check) ---------


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x01\x05abcd",  # size 5 but 4 bytes follow
        b"\x03\xff\xff\xff",  # size field says 16M
        b"\x04" + bytes(65),  # signature flag, nothing before it
        b"\x05\x00" + bytes(65),  # signature that recovers to nothing
    ],
)
def test_parse_rejects_malformed_plaintext(raw: bytes) -> None:
    assert parse_plaintext(raw) is None


def test_parse_without_size_field_is_all_padding() -> None:
    parsed = parse_plaintext(b"\x00abc")
    assert parsed is not None
    assert (parsed.payload, parsed.padding) == (b"", b"abc")


def test_tampered_signed_message_changes_signer() -> None:
    plain = bytearray(build_plaintext(b"hello", os.urandom, b"", SIGNER))
    plain[2] ^= 1
    parsed = parse_plaintext(bytes(plain))
    assert parsed is None or parsed.signer != SIGNER.public_key


# --- independent implementations from raw primitives ---------------------------------------


def ref_parse(raw: bytes) -> tuple[bytes, bytes, bytes | None]:
    end = len(raw)
    signer = None
    if raw[0] & 4:
        end -= 65
        signature = raw[end:]
        public = coincurve.PublicKey.from_signature_and_message(
            signature, keccak(raw[:end]), hasher=None
        )
        signer = public.format(compressed=False)
    width = raw[0] & 3
    size = int.from_bytes(raw[1 : 1 + width], "little")
    payload = raw[1 + width : 1 + width + size]
    return payload, raw[1 + width + size : end], signer


def ref_build(payload: bytes, padding: bytes, signer_secret: bytes | None) -> bytes:
    width = 1 if len(payload) < 256 else 2 if len(payload) < 65536 else 3
    flags = width | (4 if signer_secret else 0)
    plain = bytes([flags]) + len(payload).to_bytes(width, "little") + payload + padding
    if signer_secret:
        plain += coincurve.PrivateKey(signer_secret).sign_recoverable(keccak(plain), hasher=None)
    return plain


def ref_sym_seal(key: bytes, plain: bytes) -> bytes:
    nonce = os.urandom(12)
    return AESGCM(key).encrypt(nonce, plain, None) + nonce


def ref_sym_open(key: bytes, data: bytes) -> bytes:
    return AESGCM(key).decrypt(data[-12:], data[:-12], None)


def _ref_ecies_keys(shared_x: bytes) -> tuple[bytes, bytes]:
    k = hashlib.sha256(b"\x00\x00\x00\x01" + shared_x).digest()
    return k[:16], hashlib.sha256(k[16:]).digest()


def _ctr(key: bytes, iv: bytes, data: bytes) -> bytes:
    encryptor = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def ref_ecies_encrypt(public: bytes, plain: bytes) -> bytes:
    ephemeral = coincurve.PrivateKey(os.urandom(32))
    point = coincurve.PublicKey(public).multiply(ephemeral.secret)
    ke, km = _ref_ecies_keys(point.format(compressed=True)[1:])
    iv = os.urandom(16)
    ct = _ctr(ke, iv, plain)
    tag = hmac.new(km, iv + ct, hashlib.sha256).digest()
    return ephemeral.public_key.format(compressed=False) + iv + ct + tag


def ref_ecies_decrypt(secret: bytes, data: bytes) -> bytes:
    point = coincurve.PublicKey(data[:65]).multiply(secret)
    ke, km = _ref_ecies_keys(point.format(compressed=True)[1:])
    body, tag = data[65:-32], data[-32:]
    assert hmac.compare_digest(hmac.new(km, body, hashlib.sha256).digest(), tag)
    return _ctr(ke, body[:16], body[16:])


messages = st.tuples(
    st.binary(max_size=600),
    st.one_of(st.none(), st.binary(max_size=40)),
    st.booleans(),
)


@settings(max_examples=40, deadline=None)
@given(messages)
def test_hush_symmetric_opens_in_reference(message: tuple[bytes, bytes | None, bool]) -> None:
    payload, padding, signed = message
    envelope = wrap(
        payload,
        TOPIC,
        0,
        os.urandom,
        sym_key=SYM_KEY,
        padding=padding,
        signer=SIGNER if signed else None,
    )
    got_payload, got_padding, signer = ref_parse(ref_sym_open(SYM_KEY.secret, envelope.data))
    assert got_payload == payload
    if padding is not None:
        assert got_padding == padding
    assert signer == (SIGNER.public_key if signed else None)


@settings(max_examples=40, deadline=None)
@given(messages)
def test_reference_symmetric_opens_in_hush(message: tuple[bytes, bytes | None, bool]) -> None:
    payload, padding, signed = message
    plain = ref_build(payload, padding or b"", SIGNER.secret if signed else None)
    envelope = Envelope(100, 50, TOPIC, ref_sym_seal(SYM_KEY.secret, plain))
    opened = open_symmetric(envelope, SYM_KEY)
    assert opened is not None
    assert (opened.payload, opened.padding) == (payload, padding or b"")
    assert opened.signer == (SIGNER.public_key if signed else None)


@settings(max_examples=25, deadline=None)
@given(messages)
def test_asymmetric_both_ways(message: tuple[bytes, bytes | None, bool]) -> None:
    payload, padding, signed = message
    signer = SIGNER if signed else None
    envelope = wrap(
        payload,
        TOPIC,
        0,
        os.urandom,
        public_key=RECIPIENT.public_key,
        padding=padding,
        signer=signer,
    )
    got = ref_parse(ref_ecies_decrypt(RECIPIENT.secret, envelope.data))
    assert got[0] == payload
    assert got[2] == (SIGNER.public_key if signed else None)
    plain = ref_build(payload, padding or b"", SIGNER.secret if signed else None)
    theirs = Envelope(100, 50, TOPIC, ref_ecies_encrypt(RECIPIENT.public_key, plain))
    opened = open_asymmetric(theirs, RECIPIENT)
    assert opened is not None
    assert (opened.payload, opened.padding) == (payload, padding or b"")
    assert opened.signer == (SIGNER.public_key if signed else None)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=70000), st.one_of(st.none(), st.binary(max_size=300)), st.booleans())
def test_plaintext_round_trip(payload: bytes, padding: bytes | None, signed: bool) -> None:
    plain = build_plaintext(payload, os.urandom, padding, SIGNER if signed else None)
    parsed = parse_plaintext(plain)
    assert parsed is not None
    assert parsed.payload == payload
    if padding is not None:
        assert parsed.padding == padding
    else:
        assert len(plain) % 256 == 0
    assert parsed.signer == (SIGNER.public_key if signed else None)
    assert ref_parse(plain) == (parsed.payload, parsed.padding, parsed.signer)
