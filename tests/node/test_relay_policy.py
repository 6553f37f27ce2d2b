"""`BroadcastPolicy.batches` against the per-entry loop it replaced (written out here), and the
write loop's look-up of a peer's fresh envelopes (`EnvelopePool.pooled`) against `get` of each:
seeded random candidates (some known to the peer, some under its PoW requirement, outside its
bloom, not posted here), batch caps that split them or not, lists and iterators."""

from __future__ import annotations

import random
from collections.abc import Container, Iterable

import pytest

from hush.node.relay import GETH_TICK, BroadcastPolicy
from hush.shh.envelope import Envelope
from hush.shh.peer import ShhPeer
from hush.shh.pool import EnvelopePool, PooledEnvelope
from hush.shh.topic import aggregate_blooms, bloom_matches, topic_to_bloom
from hush.types import EnvelopeHash, Topic

NOW = 1_700_000_000
_LIST_HEADER = 9


def reference_batches(
    peer: ShhPeer,
    candidates: Iterable[PooledEnvelope],
    local: Container[EnvelopeHash],
    light: bool,
    max_batch_bytes: int,
) -> list[list[PooledEnvelope]]:
    """The policy as it was: every test on each entry in turn, one running size."""
    batches: list[list[PooledEnvelope]] = []
    current: list[PooledEnvelope] = []
    size = _LIST_HEADER
    known, requirement, bloom = peer.known, peer.pow_requirement, peer.bloom
    for entry in candidates:
        if (
            entry.hash in known
            or entry.pow < requirement
            or (bloom is not None and not bloom_matches(bloom, entry.bloom))
            or (light and entry.hash not in local)
        ):
            continue
        wire_size = len(entry.raw)
        if current and size + wire_size > max_batch_bytes:
            batches.append(current)
            current, size = [], _LIST_HEADER
        current.append(entry)
        size += wire_size
    if current:
        batches.append(current)
    return batches


def _entries(rng: random.Random, count: int, topics: list[Topic]) -> list[PooledEnvelope]:
    entries = []
    for _ in range(count):
        envelope = Envelope(
            NOW + 60,
            60,
            rng.choice(topics),
            rng.randbytes(rng.choice((1, 30, 200, 700))),
            rng.getrandbits(64),
        )
        pow_value = rng.choice((0.0, 0.001, 0.2, 0.5, 2.0, float("inf")))
        entries.append(PooledEnvelope(envelope.encode(), envelope.hash, pow_value, None))
    return entries


@pytest.mark.parametrize("seed", range(40))
def test_batches_are_the_per_entry_loop(seed: int) -> None:
    rng = random.Random(seed)
    topics = [Topic(rng.randbytes(4)) for _ in range(6)]
    entries = _entries(rng, rng.choice((0, 1, 5, 40, 300)), topics)
    peer = ShhPeer()
    peer.known = {e.hash: None for e in entries if rng.random() < 0.3}
    peer.pow_requirement = rng.choice((0.0, 0.001, 0.3, 1.0, float("inf")))
    if rng.random() < 0.4:
        peer.bloom = aggregate_blooms(*map(topic_to_bloom, rng.sample(topics, 2)))
    local = {e.hash for e in entries if rng.random() < 0.5}
    light = rng.random() < 0.3
    cap = rng.choice((_LIST_HEADER + 700, 1000, 5000, 40_000, 1 << 20))
    candidates = entries + rng.sample(entries, min(len(entries), 3))  # repeats, as a rescan can
    expected = reference_batches(peer, candidates, local, light, cap)
    for policy in (BroadcastPolicy(), GETH_TICK):
        assert policy.batches(peer, candidates, local, light, cap) == expected
        assert policy.batches(peer, iter(candidates), local, light, cap) == expected
    if expected:
        got = GETH_TICK.batches(peer, candidates, local, light, cap)
        assert all(batch is not candidates for batch in got)  # the caller may extend them


def test_one_batch_exactly_at_the_cap_and_one_byte_over() -> None:
    rng = random.Random(7)
    entries = _entries(rng, 10, [Topic(b"abcd")])
    peer = ShhPeer()
    total = _LIST_HEADER + sum(len(e.raw) for e in entries)
    assert GETH_TICK.batches(peer, entries, (), False, total) == [entries]
    split = GETH_TICK.batches(peer, entries, (), False, total - 1)
    assert split == reference_batches(peer, entries, (), False, total - 1)
    assert split == [entries[:-1], entries[-1:]]


@pytest.mark.parametrize("seed", range(10))
def test_pooled_is_get_of_each_still_pooled(seed: int) -> None:
    rng = random.Random(seed)
    pool = EnvelopePool(min_pow=0.0)
    hashes: list[EnvelopeHash] = []
    for _ in range(60):
        envelope = Envelope(NOW + 30, 30, Topic(rng.randbytes(4)), rng.randbytes(20), 0)
        if rng.random() < 0.7:
            assert pool.add(envelope, NOW).entry is not None
        hashes.append(envelope.hash)
    fresh = hashes + rng.sample(hashes, 10)
    expected = [entry for h in fresh if (entry := pool.get(h)) is not None]
    got = pool.pooled(fresh)
    assert got == expected and all(a is b for a, b in zip(got, expected, strict=True))
    assert pool.pooled(iter(fresh)) == expected
