"""The pool's acceptance rules (whisper-v6.md §3.6), expiry and relay queries, with a fake clock."""

from __future__ import annotations

import gc
import os
import tracemalloc

import pytest

from hush.crypto import SymmetricKey
from hush.crypto.keccak import keccak256
from hush.sealer import Sealer
from hush.shh.envelope import Envelope, leading_zero_bits
from hush.shh.message import wrap
from hush.shh.peer import ShhPeer
from hush.shh.pool import ENTRY_OVERHEAD, KNOWN_MARK_COST, AddStatus, EnvelopePool
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
    while envelope.pow() >= 50:  # a lucky nonce overshoots the target now and then
        envelope = make(sealer, pow_target=0.5)
    pool = EnvelopePool(min_pow=0.2)
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
    pool = EnvelopePool(max_bytes=ENTRY_OVERHEAD + len(first.encode()) + 10)
    assert pool.add(first, NOW, local=True).status is AddStatus.ACCEPTED
    full = pool.add(second, NOW, local=True)
    assert full.status is AddStatus.POOL_FULL and not full.known
    assert pool.bytes_used == ENTRY_OVERHEAD + len(first.encode())


def tiny(nonce: int, *, expiry: int = NOW + 40, topic: Topic = TOPIC) -> Envelope:
    return Envelope(expiry, 50, topic, b"tiny", (1 << 56) + nonce)  # all the same size


def with_bits(bits: int, start: int = 0, **changes: int) -> Envelope:
    """A tiny envelope whose PoW hash has exactly `bits` leading zero bits (PoW 2^bits/size/ttl)."""
    nonce = start
    while leading_zero_bits(_pow_hash(tiny(nonce, **changes))) != bits:
        nonce += 1
    return tiny(nonce, **changes)


def _pow_hash(envelope: Envelope) -> bytes:
    return keccak256(envelope.short_rlp() + envelope.nonce.to_bytes(8, "big"))


def test_accounting_covers_real_memory() -> None:
    """The cap counts what entries really cost: tracemalloc over 12,000 tiny envelopes, each
    known to two peers, never exceeds what the pool accounts (geth-era hush counted 20 B each)."""
    count = 12_000
    encoded = [tiny(i).encode() for i in range(count)]
    packet, bounds = b"".join(encoded), []
    for raw in encoded:
        start = bounds[-1][1] if bounds else 0
        bounds.append((start, start + len(raw)))
    del encoded
    pool = EnvelopePool(min_pow=0.0, max_bytes=1 << 40)
    peers = [ShhPeer(), ShhPeer()]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for start, stop in bounds:  # sliced out of the packet, as on receipt
            outcome = pool.add(Envelope.decode(packet[start:stop]), NOW)
            assert outcome.entry is not None
            for peer in peers:
                assert peer.mark_known(outcome.entry.hash)
                pool.mark_known(outcome.entry.hash)
        del outcome
        gc.collect()
        real = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(pool) == count
    assert real <= pool.bytes_used
    assert pool.bytes_used == count * (ENTRY_OVERHEAD + 2 * KNOWN_MARK_COST) + len(packet)
    assert real > pool.bytes_used // 2  # and the constants are not wildly above the truth


def test_full_pool_evicts_cheapest_for_costlier() -> None:
    low, mid, high = with_bits(1), with_bits(3), with_bits(6)
    assert low.pow() < mid.pow() < high.pow()
    cost = ENTRY_OVERHEAD + len(low.encode())
    pool = EnvelopePool(min_pow=0.0, max_bytes=2 * cost)
    assert pool.add(mid, NOW, source="a").status is AddStatus.ACCEPTED
    assert pool.add(low, NOW, source="a").status is AddStatus.ACCEPTED
    outcome = pool.add(high, NOW, source="b")
    assert outcome.status is AddStatus.ACCEPTED and outcome.evicted == (low.hash,)
    assert low.hash not in pool and {mid.hash, high.hash} <= set(e.hash for e in pool)
    # No costlier than everything evictable: refused, not the sender's fault.
    cheap = pool.add(with_bits(1, start=10_000), NOW, source="c")
    assert cheap.status is AddStatus.POOL_FULL and not cheap.known and cheap.evicted == ()
    same = pool.add(with_bits(3, start=10_000), NOW, source="c")
    assert same.status is AddStatus.POOL_FULL  # equal PoW: the incumbent keeps its place
    assert pool.bytes_used == 2 * cost and pool.usage("a") == cost and pool.usage("b") == cost


def test_local_envelopes_never_evicted() -> None:
    mine = with_bits(0)
    cost = ENTRY_OVERHEAD + len(mine.encode())
    pool = EnvelopePool(min_pow=0.0, max_bytes=2 * cost)
    assert pool.add(mine, NOW, local=True).status is AddStatus.ACCEPTED
    assert pool.add(with_bits(1), NOW, source="a").status is AddStatus.ACCEPTED
    assert pool.add(with_bits(4), NOW, source="b").evicted != ()
    taken = pool.add(with_bits(6), NOW, source="b")
    assert taken.status is AddStatus.ACCEPTED and mine.hash in pool and mine.hash in pool.local
    # A local post can take a remote one's place too, when it pays more.
    assert pool.add(with_bits(7), NOW, local=True).status is AddStatus.ACCEPTED
    assert pool.add(with_bits(8), NOW, source="c").status is AddStatus.POOL_FULL
    assert all(entry.local for entry in pool) and pool.shrink() == []


def test_source_budget_caps_one_peers_share() -> None:
    envelopes = [tiny(i) for i in range(10)]
    cost = ENTRY_OVERHEAD + len(envelopes[0].encode())
    pool = EnvelopePool(min_pow=0.0, max_bytes=10 * cost, source_budget=3 * cost)
    outcomes = [pool.add(e, NOW, source="flooder") for e in envelopes[:5]]
    assert [o.status for o in outcomes] == [AddStatus.ACCEPTED] * 3 + [AddStatus.OVER_BUDGET] * 2
    assert not outcomes[-1].known
    assert pool.add(envelopes[5], NOW, source="honest").status is AddStatus.ACCEPTED
    assert pool.add(envelopes[0], NOW, source="honest").status is AddStatus.DUPLICATE
    assert pool.usage("flooder") == 3 * cost
    pool.expire(NOW + 41)
    assert pool.usage("flooder") == 0 and len(pool) == 0 and pool.bytes_used == 0


def test_known_marks_accounted_and_shrink_evicts() -> None:
    a, b = with_bits(1), with_bits(5)
    cost = ENTRY_OVERHEAD + len(a.encode())
    pool = EnvelopePool(min_pow=0.0, max_bytes=2 * cost)
    pool.add(a, NOW, source="x")
    pool.add(b, NOW, source="x")
    assert pool.mark_known(b.hash) and not pool.mark_known(tiny(99).hash)
    assert pool.bytes_used == 2 * cost + KNOWN_MARK_COST
    assert pool.shrink() == [a.hash]  # back within the cap: the cheaper one goes
    pool.unmark_known(b.hash)
    assert pool.bytes_used == cost == pool.usage("x")


def test_expire_in_slices() -> None:
    pool = EnvelopePool(min_pow=0.0)
    for i in range(10):
        pool.add(tiny(i, expiry=NOW + 1 + i % 2), NOW, source=str(i % 3))
    assert pool.next_expiry() == NOW + 2
    first = pool.expire(NOW + 3, limit=4)
    assert len(first) == 4 and len(pool) == 6
    rest = pool.expire(NOW + 3, limit=4) + pool.expire(NOW + 3, limit=4)
    assert len(rest) == 6 and not set(first) & set(rest)
    assert len(pool) == 0 and pool.bytes_used == 0 and pool.next_expiry() is None


def test_entry_is_compact_and_lossless(sealer: Sealer) -> None:
    envelope = make(sealer, topic=OTHER)
    entry = EnvelopePool().add(envelope, NOW).entry
    assert entry is not None and not hasattr(entry, "__dict__")
    assert entry.envelope == envelope and entry.raw == envelope.encode()
    assert entry.topic == OTHER and entry.bloom == topic_to_bloom(OTHER)
    assert entry.expiry == envelope.expiry and entry.wire_size == len(envelope.encode())


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


def test_heaps_stay_bounded_under_churn() -> None:
    """Buckets come and go (each second a new expiry); their stale heap keys don't pile up."""
    pool = EnvelopePool(min_pow=0.0)
    for second in range(2000):
        pool.add(tiny(second, expiry=NOW + 1 + second), NOW + second, source="a")
        pool.expire(NOW + second + 1)
    assert len(pool) <= 1
    assert len(pool._rank_heap) <= 2 * len(pool._buckets) + 65
    assert len(pool._expiry_heap) <= 2 * len(pool._buckets) + 65


def test_mark_known_by_is_mark_known_per_new_hash() -> None:
    """The batch marking a relay does once per peer and packet: same accounting as one by one."""
    envelopes = [tiny(i) for i in range(6)]
    one, batch = EnvelopePool(min_pow=0.0), EnvelopePool(min_pow=0.0)
    for pool in (one, batch):
        for index, envelope in enumerate(envelopes):
            pool.add(envelope, NOW, source=str(index % 2), local=index == 5)
    entries = [entry for entry in batch if entry.hash != envelopes[3].hash]
    known: dict = {envelopes[0].hash: None}
    expected: dict = dict(known)
    for entry in entries:
        if entry.hash not in expected:
            expected[entry.hash] = None
            one.mark_known(entry.hash)
    assert batch.mark_known_by(known, entries) == len(entries) - 1
    assert known == expected
    assert batch.bytes_used == one.bytes_used
    assert [batch.usage(s) for s in ("0", "1", "local")] == [
        one.usage(s) for s in ("0", "1", "local")
    ]
    assert batch.mark_known_by(known, entries) == 0  # all known now
    assert batch.shrink() == [] and batch.bytes_used == one.bytes_used
    # an entry no longer pooled is not marked
    pool = EnvelopePool(min_pow=0.0)
    entry = pool.add(envelopes[0], NOW, source="x").entry
    assert entry is not None
    pool.expire(NOW + 1_000)
    assert pool.mark_known_by({}, [entry]) == 0 and pool.bytes_used == 0
