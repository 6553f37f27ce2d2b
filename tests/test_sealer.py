"""Sealer: geth's Seal semantics (whisper-v6.md §1.6), checked with geth's PoW formula."""

from __future__ import annotations

import os

import pytest
import sha3

from hush.errors import PowError, UsageError
from hush.sealer import Sealer
from hush.shh.envelope import Envelope
from hush.shh.pow import NonceSearch, target_bits
from hush.types import Topic


def geth_pow(envelope: Envelope) -> float:
    """geth 1.9's calculatePoW, written out independently of hush.shh.envelope."""
    data = envelope.data
    items = [
        _rlp_uint(envelope.expiry),
        _rlp_uint(envelope.ttl),
        b"\x84" + envelope.topic,
        data if len(data) == 1 and data[0] < 0x80 else _rlp_prefix(len(data), 0x80) + data,
    ]
    payload = b"".join(items)
    short = _rlp_prefix(len(payload), 0xC0) + payload
    digest = sha3.keccak_256(short + envelope.nonce.to_bytes(8, "big")).digest()
    zeros = 256 - int.from_bytes(digest, "big").bit_length()
    return float(2**zeros) / len(short) / envelope.ttl


def _rlp_prefix(length: int, base: int) -> bytes:
    if length < 56:
        return bytes([base + length])
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([base + 55 + len(size)]) + size


def _rlp_uint(value: int) -> bytes:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return raw if len(raw) == 1 and raw[0] < 0x80 else _rlp_prefix(len(raw), 0x80) + raw


ENVELOPE = Envelope(1_600_000_050, 50, Topic(b"\x01\x02\x03\x04"), os.urandom(100))


@pytest.mark.parametrize("pow_target", [0.01, 0.2, 1.0, 2.0])
def test_sealed_envelope_meets_target_under_geths_formula(pow_target: float) -> None:
    with Sealer(processes=1) as sealer:
        sealed = sealer.seal(ENVELOPE, pow_target, work_time=5)
    assert geth_pow(sealed) >= pow_target
    assert sealed.pow() == geth_pow(sealed)
    assert (sealed.expiry, sealed.ttl, sealed.topic, sealed.data) == (
        ENVELOPE.expiry,
        ENVELOPE.ttl,
        ENVELOPE.topic,
        ENVELOPE.data,
    )


def test_zero_target_does_not_mine() -> None:
    with Sealer(processes=1) as sealer:
        assert sealer.seal(ENVELOPE, 0, work_time=5) == ENVELOPE


@pytest.mark.parametrize("work_time", [0, 0.05])
def test_impossible_time_budget_raises_pow_error(work_time: float) -> None:
    with Sealer(processes=1) as sealer, pytest.raises(PowError, match="pow time"):
        sealer.seal(ENVELOPE, 1e30 if work_time else 0.2, work_time=work_time)


def test_bad_parameters() -> None:
    with Sealer(processes=1) as sealer:
        with pytest.raises(UsageError):
            sealer.seal(ENVELOPE, float("nan"), work_time=1)
        with pytest.raises(UsageError):
            sealer.seal(ENVELOPE, 0.2, work_time=-1)


class StepClock:
    """A clock that moves `step` seconds on every reading."""

    def __init__(self, step: float):
        self.now = 1000.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_best_within_time_moves_expiry_by_work_time() -> None:
    with Sealer(processes=1, clock=StepClock(0.5)) as sealer:
        sealed = sealer.seal(ENVELOPE, -1, work_time=3)
    assert sealed.expiry == ENVELOPE.expiry + 3
    assert sealed.ttl == ENVELOPE.ttl
    assert sealed.nonce != 0
    # ~100k nonces searched: the best has far more than the 1 bit a random nonce gives.
    assert geth_pow(sealed) * len(sealed.short_rlp()) * sealed.ttl >= 2**10


def test_random_start_makes_nonces_differ() -> None:
    with Sealer(processes=1) as sealer:
        first = sealer.seal(ENVELOPE, 0.2, work_time=5)
        second = sealer.seal(ENVELOPE, 0.2, work_time=5)
    assert first.nonce != second.nonce
    assert geth_pow(first) >= 0.2
    assert geth_pow(second) >= 0.2


def test_injected_randomness_makes_sealing_reproducible() -> None:
    start = (12345).to_bytes(8, "big")
    with Sealer(processes=1, random_bytes=lambda n: start) as sealer:
        assert sealer.seal(ENVELOPE, 1.0, 5) == sealer.seal(ENVELOPE, 1.0, 5)


def test_worker_processes_find_and_best() -> None:
    # A target the in-process slice misses from this start, so the worker pool must find it.
    envelope = Envelope(1_600_000_200, 200, Topic(b"\x05\x06\x07\x08"), bytes(100))
    bits = target_bits(2.0, len(envelope.data), envelope.ttl)
    assert bits == 16
    search = NonceSearch(envelope.short_rlp())
    start = next(s for s in range(0, 2**40, 2**32) if search.find(s, 1 << 15, bits) is None)
    with Sealer(processes=2, random_bytes=lambda n: start.to_bytes(8, "big")) as sealer:
        sealed = sealer.seal(envelope, 2.0, work_time=30)
        assert geth_pow(sealed) >= 2.0
        assert not start <= sealed.nonce < start + (1 << 15)
        best = sealer.seal(envelope, -1, work_time=0.5)
    assert best.expiry == envelope.expiry
    assert best.nonce != 0
