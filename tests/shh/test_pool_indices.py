"""The pool's two indices (by hash, by encoding) under churn, and `mark_known_by` against the
per-entry loop it replaced, on random batches. Envelopes are built directly with PoW 0 (a pool
with minimum PoW 0): sealing is not what is tested."""

from __future__ import annotations

import gc
import math
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


def _assert_in_step(pool: EnvelopePool, gone: Iterable[PooledEnvelope] = ()) -> None:
    """Both indices hold exactly the pooled entries, each entry's `_home` says it is pooled, and
    entries that left say they are not (and are not found by their bytes)."""
    by_hash, by_raw = pool._entries, pool._by_raw
    for envelope_hash, entry in by_hash.items():
        assert entry.hash == envelope_hash
        assert entry._home is by_hash
    for entry in gone:
        assert entry._home is None and by_hash.get(entry.hash) is not entry
        if by_raw is not None:
            assert by_raw.get(entry.raw) is not entry
    if by_raw is None:  # without the C part: no index by encoding
        return
    assert len(by_hash) == len(by_raw)
    for entry in by_hash.values():
        assert by_raw.get(entry.raw) is entry
        assert by_raw.get(bytes(entry.raw)) is entry  # found by equal bytes, not by identity
    assert {id(e) for e in by_raw.entries()} == {id(e) for e in by_hash.values()}
    assert 2 * by_raw.capacity >= 3 * len(by_raw)  # at most 2/3 full
    assert by_raw.capacity <= max(8, 8 * len(by_raw))  # shrinks as the pool empties


@pytest.mark.parametrize("seed", range(6))
def test_indices_stay_in_step_under_churn(seed: int) -> None:
    """Random adds (some local, some duplicates), marks, expiry sweeps, evictions by a small cap
    and shrinks after marks: after every step both indices hold exactly the pooled entries, and
    `copies_run` finds every pooled envelope by its bytes and nothing that has gone."""
    rng = random.Random(seed)
    pool = EnvelopePool(min_pow=0.0, max_bytes=rng.choice((6_000, 20_000, 1 << 30)))
    now, gone, sent = NOW, 0, []
    for _ in range(400):
        before = list(pool)
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
        _assert_in_step(pool, [e for e in before if e.hash not in pool])
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


needs_c = pytest.mark.skipif(envelope_module._envelope is None, reason="the C part is not built")


def _entry(rng: random.Random, pow_value: float = 1.0) -> PooledEnvelope:
    raw = _envelope(rng, NOW).encode()
    return PooledEnvelope(raw, EnvelopeHash(rng.randbytes(32)), pow_value, None)


@needs_c
@pytest.mark.parametrize("seed", range(4))
def test_copy_index_is_a_dict_by_encoding(seed: int) -> None:
    """The C index against a dict keyed by `raw`, under random adds (again, too) and discards
    (of absent entries, too) that grow it to a few thousand slots and shrink it back: after each
    step every live entry is found by equal bytes, a gone one is not, and it stays 1/8 to 2/3
    full (backward-shift deletion leaves no hole in a probe run)."""
    c = envelope_module._envelope
    assert c is not None
    rng = random.Random(seed)
    index, reference = c.CopyIndex(), {}
    gone: list[PooledEnvelope] = []
    for step in range(3000):
        grow = step < 1500 if seed % 2 else rng.random() < 0.6 - step / 10_000
        if grow or not reference:
            entry = rng.choice(gone) if gone and rng.random() < 0.1 else _entry(rng)
            index.add(entry)
            index.add(entry)  # once only
            reference[entry.raw] = entry
        else:
            entry = reference.pop(rng.choice(list(reference)))
            index.discard(entry)
            index.discard(entry)  # absent now: nothing
            gone.append(entry)
        if step % 97 == 0 or step > 2900:
            assert len(index) == len(reference)
            assert all(index.get(bytes(raw)) is e for raw, e in reference.items())
            assert all(index.get(e.raw) is None for e in gone if e.raw not in reference)
            assert 2 * index.capacity >= 3 * len(index)
            assert index.capacity <= max(8, 8 * len(index))
    assert sorted(map(id, index.entries())) == sorted(map(id, reference.values()))


@needs_c
def test_copy_index_takes_only_pooled_entries() -> None:
    """Anything but an entry with a bytes `raw` and a float `pow` is not indexed (its copies go
    to `add`), and the index is seen by the cycle collector (it holds its entries)."""
    c = envelope_module._envelope
    assert c is not None
    rng = random.Random(3)
    index = c.CopyIndex()
    good, int_pow = _entry(rng), _entry(rng, 1)  # type: ignore[arg-type]
    for other in (b"raw", object(), int_pow):
        index.add(other)
        index.discard(other)
    index.add(good)
    assert len(index) == 1 and index.get(good.raw) is good and index.get(int_pow.raw) is None
    assert good in gc.get_referents(index)
    with pytest.raises(TypeError):
        index.get("raw")  # type: ignore[arg-type]
    # an entry whose bytes changed after it was added still leaves when discarded
    moved = _entry(rng)
    index.add(moved)
    moved.raw = moved.raw + b"!"
    index.discard(moved)
    assert len(index) == 1 and index.entries() == [good]


@needs_c
@pytest.mark.parametrize(
    "pow_value", [0.1, 1 / 3, 2.0, 1e-40, 1e-300, 1e300, math.inf, 0.0, math.nan]
)
def test_a_copy_meets_the_minimum_pow_exactly(pow_value: float) -> None:
    """The index keeps a pooled PoW rounded down to a float: "at least the minimum" is still
    decided on the exact double (at the minimum: a plain copy; a hair above: `add`'s to judge),
    and NaN as `pooled_copy` would (`not pow < min_pow`)."""
    c = envelope_module._envelope
    assert c is not None
    rng = random.Random(4)
    entry = _entry(rng, pow_value)
    index = c.CopyIndex()
    index.add(entry)
    payload = encode_messages([entry.raw])
    pos, stop = messages_bounds(payload)
    for min_pow in (pow_value, math.nextafter(pow_value, -math.inf), 0.0, -1.0):
        if math.isnan(min_pow):
            continue
        copies, _, decoded = c.copies_run(payload, pos, stop, 1, index, NOW, 1 << 20, min_pow, None)
        assert copies == [entry] and decoded is None, min_pow
    above = [math.nextafter(pow_value, math.inf), pow_value * 2 + 1, math.inf]
    for min_pow in above if not math.isnan(pow_value) else [1.0, math.inf]:
        if min_pow <= pow_value:
            continue  # pow is already inf
        copies, _, decoded = c.copies_run(payload, pos, stop, 1, index, NOW, 1 << 20, min_pow, None)
        want_copy = math.isnan(pow_value)
        assert (copies == [entry]) == want_copy and (decoded is None) == want_copy, min_pow


@pytest.mark.parametrize("c_part", [True, False])
def test_mark_known_by_marks_only_its_own_pooled_entries(
    c_part: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An entry of another pool (the same envelope), the removed entry of an envelope pooled
    again (a new entry), an entry never pooled: none is marked; the one pooled here is."""
    if not c_part:
        monkeypatch.setattr(pool_module, "_c_mark_known_by", None)
    elif pool_module._c_mark_known_by is None:
        pytest.skip("the C part is not built")
    rng = random.Random(6)
    envelope = _envelope(rng, NOW)
    mine, other = EnvelopePool(min_pow=0.0), EnvelopePool(min_pow=0.0)
    first = mine.add(envelope, NOW, source="a").entry
    theirs = other.add(envelope, NOW, source="a").entry
    assert first is not None and theirs is not None
    mine._remove(first)
    again = mine.add(envelope, NOW, source="a").entry
    assert again is not None and again is not first
    stray = PooledEnvelope(envelope.encode(), envelope.hash, 1.0, "a")
    known: dict[EnvelopeHash, None] = {}
    assert mine.mark_known_by(known, [theirs, first, stray]) == 0 and known == {}
    assert mine.mark_known_by(known, [theirs, again, first]) == 1 and list(known) == [again.hash]
    assert again.knowers == 1 and first.knowers == 0 and theirs.knowers == 0
    assert other.bytes_used + KNOWN_MARK_COST == mine.bytes_used
