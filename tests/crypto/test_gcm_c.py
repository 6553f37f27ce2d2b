"""The C symmetric opener (`_gcm.c`, OpenSSL) against the `cryptography` package's AESGCM.

Differential: for random keys, nonces and plaintexts, the right key, a wrong key, any single
altered byte and any truncation give the same answer through `SymmetricKey.open` (C where built)
and `SymmetricKey.open_python`: the plaintext, or None.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hush.crypto import symmetric
from hush.crypto.symmetric import ACCELERATED, SymmetricKey

needs_c = pytest.mark.skipif(not ACCELERATED, reason="the C opener was not built here")
KEYS = st.binary(min_size=32, max_size=32).filter(any)


@needs_c
@settings(max_examples=200, deadline=None)
@given(
    secret=KEYS,
    other=KEYS,
    nonce=st.binary(min_size=12, max_size=12),
    plain=st.one_of(st.binary(max_size=40), st.binary(min_size=200, max_size=700)),
    data=st.data(),
)
def test_c_opener_agrees_with_cryptography(
    secret: bytes, other: bytes, nonce: bytes, plain: bytes, data: st.DataObject
) -> None:
    key, wrong = SymmetricKey(secret), SymmetricKey(other)
    sealed = key.seal(plain, nonce)
    assert key.open(sealed) == key.open_python(sealed) == plain
    assert wrong.open(sealed) == wrong.open_python(sealed)
    assert (wrong.open(sealed) is None) == (secret != other)
    position = data.draw(st.integers(0, len(sealed) - 1))
    altered = bytearray(sealed)
    altered[position] ^= data.draw(st.integers(1, 255))
    assert key.open(bytes(altered)) is None is key.open_python(bytes(altered))
    cut = data.draw(st.integers(0, len(sealed) - 1))
    assert key.open(sealed[:cut]) == key.open_python(sealed[:cut])
    assert key.open(sealed) == plain  # a failed open leaves the key's context usable


@needs_c
def test_c_opener_takes_bytes_only() -> None:
    key = SymmetricKey(bytes(range(1, 33)))
    with pytest.raises(TypeError):
        key.open(bytearray(40))  # type: ignore[arg-type]
    assert key.open(b"") is None
    assert key.open(bytes(27)) is None


def test_without_the_c_opener(monkeypatch: pytest.MonkeyPatch) -> None:
    key = SymmetricKey(bytes(range(1, 33)))
    sealed = key.seal(b"hello", bytes(12))
    monkeypatch.setattr(symmetric, "_gcm", None)
    fallback = SymmetricKey(bytes(range(1, 33)))
    assert fallback.open(sealed) == b"hello"
    assert fallback.open(bytes([sealed[0] ^ 1]) + sealed[1:]) is None
    assert fallback.open(b"short") is None
