"""The pool's two indices (by hash, by encoding) under churn, and `mark_known_by` against the
per-entry loop it replaced, on random batches. Envelopes are built directly with PoW 0 (a pool
with minimum PoW 0): sealing is not what is tested."""

from __future__ import annotations

import random
from collections.abc import Hashable, Iterable

import pytest

from hush.shh import envelope as envelope_module
from hush.shh import pool as pool_module
from hush.shh.envelope import Envelope
from hush.shh.packets import encode_messages, messages_bounds
from hush.shh.pool import KNOWN_MARK_COST, EnvelopePool, PooledEnvelope
from hush.shh.pool_entry import PINNED
from hush.types import EnvelopeHash, Topic

NOW = 1_700_000_000


def _envelope(rng: random.Random, now: int) -> Envelope:
    ttl = rng.randint(1, 40)
    size = rng.choice((1, 20, 100, 300))
    return Envelope(
        now + ttl, ttl, Topic(rng.randbytes(4)), rng.randbytes(size), rng.getrandbits(64)
    )


def _assert_in_step(pool: EnvelopePool) -> None:
    by_hash, by_raw = pool._entries, pool._by_raw
    assert len(by_hash) == len(by_raw)
    for envelope_hash, entry in by_hash.items():
        assert entry.hash == envelope_hash
        assert by_raw[entry.raw] is entry
    for raw, entry in by_raw.items():
        assert raw is entry.raw  # keyed by the entry's own bytes: no second copy
        assert by_hash[entry.hash] is entry


@pytest.mark.parametrize("seed", range(6))
def test_indices_stay_in_step_under_churn(seed: int) -> None:
    """Random adds (some local, some duplicates), marks, expiry sweeps, evictions by a small cap
    and shrinks after marks: after every step both indices hold exactly the pooled entries, and
    `copies_run` finds every pooled envelope by its bytes and nothing that has gone."""
    rng = random.Random(seed)
    pool = EnvelopePool(min_pow=0.0, max_bytes=rng.choice((6_000, 20_000, 1 << 30)))
    now, gone, sent = NOW, 0, []
    for _ in range(400):
        step = rng.random()
        if step < 0.55:
            envelope = rng.choice(sent) if sent and rng.random() < 0.2 else _envelope(rng, now)
            sent.append(envelope)
            outcome = pool.add(envelope, now, source=rng.randrange(3), local=rng.random() < 0.05)
            gone += len(outcome.evicted)
        elif step < 0.75 and len(pool):
            entry = rng.choice(list(pool))
            pool.mark_known(entry.hash)
            gone += len(pool.shrink())
        elif step < 0.9:
            now += rng.randint(0, 5)
            gone += len(pool.expire(now, rng.choice((None, 1, 3))))
        else:
            entry = rng.choice(list(pool)) if len(pool) else None
            if entry is not None:
                pool.unmark_known(entry.hash)
        _assert_in_step(pool)
    assert gone  # the sequence did remove entries
    if envelope_module._envelope is None:
        return
    pooled = {entry.raw for entry in pool}
    encodings = list(pooled) + [e.encode() for e in sent[-40:] if e.encode() not in pooled]
    payload = encode_messages(encodings)
    pos, stop = messages_bounds(payload)
    found: list[PooledEnvelope] = []
    while pos < stop:
        copies, pos, _ = pool.copies_run(payload, pos, stop, len(encodings), now)
        found += copies
    live = [entry for entry in pool if entry.expiry >= now]
    assert {entry.hash for entry in found} == {entry.hash for entry in live}


def _reference_mark_known_by(
    pool: EnvelopePool, known: dict[EnvelopeHash, None], entries: Iterable[PooledEnvelope]
) -> int:
    """`EnvelopePool.mark_known_by` as it was before the charges were summed per batch."""
    added = 0
    for entry in entries:
        envelope_hash = entry.hash
        if envelope_hash in known or pool._entries.get(envelope_hash) is not entry:
            continue
        known[envelope_hash] = None
        entry.knowers += 1
        pool._usage[entry.source] += KNOWN_MARK_COST
        bucket = entry._bucket
        assert bucket is not None
        if bucket.rank != PINNED:
            pool._rank_bytes[bucket.rank] += KNOWN_MARK_COST
        added += 1
    pool.bytes_used += added * KNOWN_MARK_COST
    return added


def _state(pool: EnvelopePool) -> tuple[object, ...]:
    return (
        pool.bytes_used,
        dict(pool._usage),
        dict(pool._rank_bytes),
        [(entry.hash, entry.knowers) for entry in pool._entries.values()],
    )


def _twin_pools(seed: int) -> tuple[EnvelopePool, EnvelopePool, random.Random]:
    rng = random.Random(seed)
    envelopes = [_envelope(rng, NOW) for _ in range(120)]
    # 4 to 18 sources: a batch's tally of sources fits in C (8) or overflows to the dicts
    sources: list[Hashable] = [None, b"a", b"b", 7, *range(100, 100 + 2 * seed)]
    plan = [(rng.choice(sources), rng.random() < 0.1) for _ in envelopes]
    pools = []
    for _ in range(2):
        pool = EnvelopePool(min_pow=0.0)
        for envelope, (source, local) in zip(envelopes, plan, strict=True):
            pool.add(envelope, NOW, source=source, local=local)
        pools.append(pool)
    return pools[0], pools[1], rng


@pytest.mark.parametrize("c_part", [True, False])
@pytest.mark.parametrize("seed", range(8))
def test_mark_known_by_matches_the_per_entry_loop(
    seed: int, c_part: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Random batches (repeats within a batch, entries already known, entries no longer pooled,
    local entries), in C and in Python: the same return values, known sets (in order), knowers,
    per-source usage, per-rank bytes and bytes_used as the per-entry loop it replaced."""
    if not c_part:
        monkeypatch.setattr(pool_module, "_c_mark_known_by", None)
    elif pool_module._c_mark_known_by is None:
        pytest.skip("the C part is not built")
    mine, theirs, rng = _twin_pools(seed)
    known_mine: list[dict[EnvelopeHash, None]] = [{} for _ in range(3)]
    known_theirs: list[dict[EnvelopeHash, None]] = [{} for _ in range(3)]
    stale = {}  # entry objects of envelopes no longer pooled (or pooled again anew)
    for _ in range(60):
        entries_mine = list(mine._entries.values())
        if rng.random() < 0.2 and entries_mine:
            victim = rng.choice(entries_mine)
            stale[victim.hash] = victim
            mine._remove(victim)
            theirs._remove(theirs._entries[victim.hash])
            entries_mine.remove(victim)
        picks = rng.sample(range(len(entries_mine)), min(len(entries_mine), rng.randint(0, 40)))
        picks += picks[: rng.randint(0, 5)]  # repeats within the batch
        batch_mine = [entries_mine[i] for i in picks]
        batch_theirs = [theirs._entries[entry.hash] for entry in batch_mine]
        if stale and rng.random() < 0.5:
            old = rng.choice(list(stale.values()))
            batch_mine.insert(rng.randint(0, len(batch_mine)), old)
            batch_theirs.insert(batch_mine.index(old), old)  # not pooled in either
        which = rng.randrange(3)
        got = mine.mark_known_by(known_mine[which], batch_mine)
        want = _reference_mark_known_by(theirs, known_theirs[which], batch_theirs)
        assert got == want
        assert [list(k) for k in known_mine] == [list(k) for k in known_theirs]
        assert _state(mine) == _state(theirs)
