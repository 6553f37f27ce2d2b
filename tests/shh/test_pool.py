"""The pool's acceptance rules (whisper-v6.md §3.6), expiry and relay queries, with a fake clock."""

from __future__ import annotations

import os

import pytest

from hush.crypto import SymmetricKey
from hush.sealer import Sealer
from hush.shh.envelope import Envelope
from hush.shh.message import wrap
from hush.shh.pool import AddStatus, EnvelopePool
from hush.shh.topic import FULL_BLOOM, topic_to_bloom
from hush.types import Topic

NOW = 1_700_000_000
TOPIC = Topic(b"\x01\x02\x03\x04")
OTHER = Topic(b"\xaa\xbb\xcc\xdd")
KEY = SymmetricKey(bytes(range(1, 33)))


@pytest.fixture(scope="module")
def sealer() -> Sealer:
    with Sealer(processes=1) as s:
        yield s  # type: ignore[misc]


def make(
    sealer: Sealer, *, now: int = NOW, ttl: int = 50, topic: Topic = TOPIC, pow_target: float = 1.0
) -> Envelope:
    envelope = wrap(b"payload", topic, now, os.urandom, ttl=ttl, sym_key=KEY)
    return sealer.seal(envelope, pow_target, 10)


def test_accepts_then_reports_duplicate(sealer: Sealer) -> None:
    pool = EnvelopePool()
    envelope = make(sealer)
    first = pool.add(envelope, NOW)
    assert first.status is AddStatus.ACCEPTED and first.known
    assert first.entry is not None and first.entry.hash == envelope.hash
    assert pool.add(envelope, NOW).status is AddStatus.DUPLICATE
    assert len(pool) == 1 and envelope.hash in pool


def test_future_tolerance_and_diff(sealer: Sealer) -> None:
    pool = EnvelopePool(min_pow=0.0)
    envelope = make(sealer, now=NOW + 5)
    outcome = pool.add(envelope, NOW)
    assert outcome.status is AddStatus.ACCEPTED
    assert outcome.entry is not None
    assert outcome.entry.pow == envelope.pow(diff=5 + 1)
    assert outcome.entry.pow < envelope.pow()
    rejected = pool.add(make(sealer, now=NOW + 11), NOW)
    assert (rejected.status, rejected.reason) == (
        AddStatus.REJECTED,
        "envelope created in the future",
    )


def test_expired_dropped_then_very_old_rejected(sealer: Sealer) -> None:
    pool = EnvelopePool()
    envelope = make(sealer, ttl=10)
    assert pool.add(envelope, envelope.expiry + 1).status is AddStatus.EXPIRED
    assert pool.add(envelope, envelope.expiry + 20).status is AddStatus.EXPIRED
    old = pool.add(envelope, envelope.expiry + 21)
    assert (old.status, old.reason) == (AddStatus.REJECTED, "very old message")
    assert len(pool) == 0


def test_huge_rejected(sealer: Sealer) -> None:
    pool = EnvelopePool(max_message_size=100)
    outcome = pool.add(make(sealer), NOW)
    assert (outcome.status, outcome.reason) == (AddStatus.REJECTED, "huge messages are not allowed")


def test_low_pow_with_tolerance(sealer: Sealer) -> None:
    envelope = make(sealer, pow_target=0.5)
    pool = EnvelopePool(min_pow=0.2)
    assert envelope.pow() < 50
    pool.set_min_pow(envelope.pow() * 2, NOW)
    # The old minimum stays acceptable for 10 s after a change: peers learn of it late.
    assert pool.add(envelope, NOW + 9).status is AddStatus.ACCEPTED
    pool2 = EnvelopePool(min_pow=0.2)
    pool2.set_min_pow(envelope.pow() * 2, NOW)
    later = pool2.add(envelope.with_nonce(envelope.nonce), NOW + 10)
    assert (later.status, later.reason) == (AddStatus.REJECTED, "envelope with low PoW received")


def test_bloom_with_tolerance(sealer: Sealer) -> None:
    envelope = make(sealer, topic=OTHER)
    pool = EnvelopePool()
    pool.set_bloom(topic_to_bloom(TOPIC), NOW)
    assert pool.add(envelope, NOW + 5).status is AddStatus.ACCEPTED  # tolerance: was full node
    pool2 = EnvelopePool(bloom=topic_to_bloom(TOPIC))
    outcome = pool2.add(envelope, NOW)
    assert (outcome.status, outcome.reason) == (
        AddStatus.REJECTED,
        "envelope does not match bloom filter",
    )
    assert pool2.add(make(sealer, topic=TOPIC), NOW).status is AddStatus.ACCEPTED


def test_byte_cap_refuses_clearly(sealer: Sealer) -> None:
    first, second = make(sealer), make(sealer)
    pool = EnvelopePool(max_bytes=len(first.encode()) + 10)
    assert pool.add(first, NOW).status is AddStatus.ACCEPTED
    full = pool.add(second, NOW)
    assert full.status is AddStatus.POOL_FULL and not full.known
    assert pool.bytes_used == len(first.encode())


def test_expiry_driven_by_now(sealer: Sealer) -> None:
    pool = EnvelopePool()
    short, long = make(sealer, ttl=10), make(sealer, ttl=60)
    pool.add(short, NOW)
    pool.add(long, NOW)
    assert pool.next_expiry() == short.expiry + 1
    assert pool.expire(short.expiry) == []
    assert pool.expire(short.expiry + 1) == [short.hash]
    assert next(iter(pool)).hash == long.hash
    assert pool.expire(long.expiry + 1) == [long.hash]
    assert len(pool) == 0 and pool.bytes_used == 0 and pool.next_expiry() is None


def test_select_for_peer(sealer: Sealer) -> None:
    pool = EnvelopePool(min_pow=0.0)
    low = make(sealer, pow_target=0.0)
    high = make(sealer, pow_target=5.0, topic=OTHER)
    pool.add(low, NOW)
    pool.add(high, NOW)
    everything = {e.hash for e in pool.select_for(0.0, None, set())}
    assert everything == {low.hash, high.hash}
    assert {e.hash for e in pool.select_for(1.0, FULL_BLOOM, set())} == {high.hash}
    assert [e.hash for e in pool.select_for(0.0, topic_to_bloom(TOPIC), set())] == [low.hash]
    assert pool.select_for(0.0, None, {low.hash, high.hash}) == []
