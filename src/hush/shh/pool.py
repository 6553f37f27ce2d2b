"""The envelope pool: geth's acceptance rules, expiry and the queries relaying needs (§3.6, §3.7).

Pure: every call that depends on time takes `now` (unix seconds). `add` returns a typed outcome:
accepted (new), duplicate, dropped (expired within tolerance), refused because the pool or the
sender's share of it is full (not the sender's fault), or rejected with geth's own error string —
the caller disconnects the peer that sent a rejected envelope.

Memory is accounted, not assumed. An entry costs `ENTRY_OVERHEAD` + its encoded size, and each
peer that knows it another `KNOWN_MARK_COST` (the node's per-peer "known" sets); both constants were
measured with tracemalloc (`benchmarks/hostile_pool_memory.py`, figures in BENCHMARKS.md) and
rounded up. The cap, `max_bytes`, bounds that total. An entry keeps only the encoded envelope,
its hash and PoW; the Envelope, topic and bloom are derived from the bytes when asked for.

When the pool is full, PoW is the price of a place: the cheapest entries (lowest PoW, compared in
steps of 1/8 bit, soonest expiry first) make room for a costlier one, and an envelope no costlier
than everything evictable is refused. Envelopes posted here (`local`) are never evicted. Each
source (peer, or this node) may hold at most `source_budget` bytes, so one peer can't fill the pool.
Entries live in buckets keyed by (PoW rank, expiry): eviction and expiry are O(log buckets) per
bucket plus O(1) per entry, and never scan the pool.
"""

from __future__ import annotations

import heapq
from collections.abc import Container, Hashable, Iterable, Iterator

from hush.shh.envelope import (
    ENVELOPE_HEADER_LENGTH,
    Envelope,
    bind_entry,
    copies_run,
    copy_index,
    slot_builder,
)
from hush.shh.errors import ERR_BLOOM_MISMATCH, ERR_FUTURE, ERR_HUGE, ERR_LOW_POW, ERR_TOO_OLD
from hush.shh.pool_entry import (
    ENTRY_OVERHEAD,
    KNOWN_MARK_COST,
    PINNED,
    AddOutcome,
    AddStatus,
    Bucket,
    PooledEnvelope,
    pow_rank,
)
from hush.shh.timing import SYNC_ALLOWANCE, Timing, Tolerant, envelope_timing
from hush.shh.topic import BLOOM_SIZE, bloom_matches
from hush.types import Bloom, EnvelopeHash

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "DEFAULT_MIN_POW",
    "DEFAULT_POOL_BYTES",
    "ENTRY_OVERHEAD",
    "KNOWN_MARK_COST",
    "MAX_MESSAGE_SIZE",
    "SYNC_ALLOWANCE",
    "AddOutcome",
    "AddStatus",
    "EnvelopePool",
    "PooledEnvelope",
    "Timing",
    "envelope_timing",
]

DEFAULT_MIN_POW = 0.2
DEFAULT_MAX_MESSAGE_SIZE = 1024 * 1024
MAX_MESSAGE_SIZE = 10 * 1024 * 1024  # hard cap for set_max_message_size
DEFAULT_POOL_BYTES = 256 * 1024 * 1024

_LOCAL = "local"  # the accounting source of envelopes posted here
_CURRENT, _AHEAD = Timing.CURRENT, Timing.AHEAD
_ACCEPTED, _DUPLICATE = AddStatus.ACCEPTED, AddStatus.DUPLICATE
_outcome = slot_builder(AddOutcome)  # AddOutcome(status, reason, entry, evicted), unchecked
_c_mark_known_by = bind_entry(PooledEnvelope, Bucket)  # the C part reads their slots


class _LocalView:
    """`hash in pool.local`: whether a pooled envelope was posted here."""

    __slots__ = ("_entries",)

    def __init__(self, entries: dict[EnvelopeHash, PooledEnvelope]):
        self._entries = entries

    def __contains__(self, envelope_hash: object) -> bool:
        entry = self._entries.get(envelope_hash)  # type: ignore[call-overload]
        return entry is not None and entry.local


class EnvelopePool:
    def __init__(
        self,
        min_pow: float = DEFAULT_MIN_POW,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        max_bytes: int = DEFAULT_POOL_BYTES,
        bloom: Bloom | None = None,
        source_budget: int | None = None,
    ):
        self._min_pow = Tolerant(min_pow)
        self._bloom: Tolerant[Bloom | None] = Tolerant(bloom)
        self.max_message_size = max_message_size
        self.max_bytes = max_bytes
        self.source_budget = source_budget
        """Most bytes one source (a peer, or this node's own posts) may hold; None: no limit."""
        self.bytes_used = 0
        """Accounted memory of everything pooled (see ENTRY_OVERHEAD), at most max_bytes."""
        self._entries: dict[EnvelopeHash, PooledEnvelope] = {}
        # The same entries by encoding (the C part's CopyIndex: a slot per entry, its SipHash
        # and PoW beside it, no second copy of the bytes): `copies_run` finds a copy by its
        # bytes without keccak (ENTRY_OVERHEAD counts the slot). None without the C part (then
        # no copies are found that way). Every insert and removal touches both, in `_insert` /
        # `_remove`.
        self._by_raw = copy_index()
        self._buckets: dict[tuple[int, int], Bucket] = {}
        self._expiry_heap: list[tuple[int, int]] = []  # (expiry, rank); stale keys skipped
        self._rank_heap: list[tuple[int, int]] = []  # (rank, expiry) of evictable buckets
        self._rank_bytes: dict[int, int] = {}  # evictable bytes per rank
        self._usage: dict[Hashable, int] = {}  # bytes per source
        self.local: Container[EnvelopeHash] = _LocalView(self._entries)
        """The hashes of pooled envelopes posted here."""

    # -- settings ----------------------------------------------------------------------------

    @property
    def min_pow(self) -> float:
        return self._min_pow.current

    def set_min_pow(self, value: float, now: int) -> None:
        self._min_pow.set(value, now)

    @property
    def bloom(self) -> Bloom | None:
        """The node's bloom; None means a full node (accepts every topic)."""
        return self._bloom.current

    def set_bloom(self, bloom: Bloom | None, now: int) -> None:
        self._bloom.set(bloom, now)

    # -- contents ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, envelope_hash: object) -> bool:
        return envelope_hash in self._entries

    def __iter__(self) -> Iterator[PooledEnvelope]:
        return iter(list(self._entries.values()))

    def get(self, envelope_hash: EnvelopeHash) -> PooledEnvelope | None:
        return self._entries.get(envelope_hash)

    def pooled(self, hashes: Iterable[EnvelopeHash]) -> list[PooledEnvelope]:
        """The entries of those of `hashes` still pooled, in order: `get` of each, the misses
        left out, the look-ups in one C loop (a relay turn takes a peer's fresh envelopes so)."""
        return list(filter(None, map(self._entries.get, hashes)))

    def usage(self, source: Hashable) -> int:
        """Accounted bytes pooled from `source`."""
        return self._usage.get(source, 0)

    def add(
        self, envelope: Envelope, now: int, *, source: Hashable = None, local: bool = False
    ) -> AddOutcome:
        """Validate and insert one envelope, received (from `source`) or posted here (`local`)."""
        timing, diff = envelope_timing(envelope, now)
        if timing is not _CURRENT and timing is not _AHEAD:
            if timing is Timing.TOO_FAR_AHEAD:
                return AddOutcome(AddStatus.REJECTED, ERR_FUTURE)
            if timing is Timing.TOO_OLD:
                return AddOutcome(AddStatus.REJECTED, ERR_TOO_OLD)
            return AddOutcome(AddStatus.EXPIRED)
        if ENVELOPE_HEADER_LENGTH + len(envelope.data) > self.max_message_size:  # size()
            return AddOutcome(AddStatus.REJECTED, ERR_HUGE)
        pow_value = envelope.pow(diff)
        if pow_value < self._min_pow.current and pow_value < self._min_pow.tolerance_at(now):
            return AddOutcome(AddStatus.REJECTED, ERR_LOW_POW)
        wanted = self._bloom.current
        if wanted is not None:  # None (a full node) matches every bloom
            bloom = envelope.bloom()
            if not bloom_matches(wanted, bloom) and not bloom_matches(
                self._bloom.tolerance_at(now), bloom
            ):
                return AddOutcome(AddStatus.REJECTED, ERR_BLOOM_MISMATCH)
        envelope_hash = envelope.hash
        existing = self._entries.get(envelope_hash)
        if existing is not None:
            return _outcome(_DUPLICATE, "", existing, ())
        raw = envelope.encode()
        cost = ENTRY_OVERHEAD + len(raw)
        if local:
            source = _LOCAL
        budget = self.source_budget
        if budget is not None and self._usage.get(source, 0) + cost > budget:
            whose = "this node's own" if local else "this peer's"
            return AddOutcome(AddStatus.OVER_BUDGET, f"{whose} share of the pool is full")
        rank = pow_rank(pow_value)
        evicted: tuple[EnvelopeHash, ...] = ()
        excess = self.bytes_used + cost - self.max_bytes
        if excess > 0:
            room: list[EnvelopeHash] = []
            if not self._make_room(excess, rank, room):
                return AddOutcome(AddStatus.POOL_FULL, "envelope pool is full")
            evicted = tuple(room)
        entry = PooledEnvelope(raw, envelope_hash, pow_value, source)
        self._insert(entry, PINNED if local else rank, envelope.expiry, cost)
        return _outcome(_ACCEPTED, "", entry, evicted)

    def pooled_copy(self, envelope: Envelope, now: int) -> PooledEnvelope | None:
        """The pooled entry when `add(envelope, now)` would answer DUPLICATE, else None (then
        `add` gives the verdict). A relaying node gets most envelopes several times: this checks
        what `add` checks, in its order, on the pooled hash first and with no outcome built.
        An envelope from the future, or a minimum PoW or bloom within its tolerance spell, is
        left to `add`."""
        entry = self._entries.get(envelope.hash)
        if entry is None:
            return None
        expiry = envelope.expiry
        if expiry < now or (expiry - envelope.ttl) & 0xFFFFFFFF > now:
            return None  # expired, or sent ahead of now: timing and PoW are `add`'s to judge
        if ENVELOPE_HEADER_LENGTH + len(envelope.data) > self.max_message_size:
            return None
        min_pow, bloom = self._min_pow, self._bloom
        if min_pow.switch_at is not None or bloom.switch_at is not None:
            return None  # a setting changed lately: its tolerance is `add`'s to apply
        if envelope.pow() < min_pow.current:
            return None
        wanted = bloom.current
        if wanted is not None and not bloom_matches(wanted, envelope.bloom()):
            return None
        return entry

    def copies_run(
        self, payload: bytes, pos: int, stop: int, limit: int, now: int
    ) -> tuple[list[PooledEnvelope], int, Envelope | None]:
        """`pooled_copy` for a run of a `messages` payload's list items (payload[pos:stop], at
        most `limit`), in one C call where it was built: the entries of the copies it finds
        (each a look-up by its encoding: no keccak, no PoW digest, no Envelope), up to the first item that is
        not one, returned decoded in full and consumed, or up to an item left to the strict
        decoder (None, `pos` at it). See `hush.shh.envelope.copies_run`.

        It finds fewer than `pooled_copy` (never more): a copy whose entry's PoW, computed with
        a future-dated envelope's diff, is under the minimum is left to `add`, and so is every
        copy while a setting is within its tolerance spell."""
        min_pow, bloom = self._min_pow, self._bloom
        wanted = bloom.current
        entries = self._by_raw
        if (
            min_pow.switch_at is not None
            or bloom.switch_at is not None
            or (wanted is not None and len(wanted) != BLOOM_SIZE)
        ):
            entries, wanted = None, None  # every verdict is `add`'s to give
        return copies_run(
            payload, pos, stop, limit, entries, now, self.max_message_size, min_pow.current, wanted
        )

    # -- accounting ----------------------------------------------------------------------------

    def _insert(self, entry: PooledEnvelope, rank: int, expiry: int, cost: int) -> None:
        """Pool a new entry (no knowers yet: `cost` is its `cost`) and charge it (`_charge`,
        inlined: a positive amount leaves no total at zero)."""
        if self._by_raw is not None:  # first: the only step that may fail (MemoryError)
            self._by_raw.add(entry)
        key = (rank, expiry)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = Bucket(rank, expiry)
            heapq.heappush(self._expiry_heap, (expiry, rank))
            if rank != PINNED:
                heapq.heappush(self._rank_heap, key)
            limit = 2 * len(self._buckets) + 64  # stale keys of emptied buckets: bounded
            if len(self._expiry_heap) > limit or len(self._rank_heap) > limit:
                self._compact_heaps()
        entry._bucket = bucket
        bucket.entries[entry.hash] = entry
        entries = self._entries
        entries[entry.hash] = entry
        entry._home = entries
        self.bytes_used += cost
        usage = self._usage
        usage[entry.source] = usage.get(entry.source, 0) + cost
        if rank != PINNED:
            rank_bytes = self._rank_bytes
            rank_bytes[rank] = rank_bytes.get(rank, 0) + cost

    def _charge(self, entry: PooledEnvelope, amount: int) -> None:
        self.bytes_used += amount
        usage = self._usage.get(entry.source, 0) + amount
        if usage:
            self._usage[entry.source] = usage
        else:
            del self._usage[entry.source]
        bucket = entry._bucket
        assert bucket is not None
        if bucket.rank != PINNED:
            rank_bytes = self._rank_bytes.get(bucket.rank, 0) + amount
            if rank_bytes:
                self._rank_bytes[bucket.rank] = rank_bytes
            else:
                del self._rank_bytes[bucket.rank]

    def _remove(self, entry: PooledEnvelope) -> None:
        del self._entries[entry.hash]
        entry._home = None
        if self._by_raw is not None:
            self._by_raw.discard(entry)
        bucket = entry._bucket
        assert bucket is not None
        bucket.entries.pop(entry.hash, None)
        if not bucket.entries:
            del self._buckets[(bucket.rank, bucket.expiry)]
        self._charge(entry, -entry.cost)

    def _compact_heaps(self) -> None:
        self._expiry_heap = [(b.expiry, b.rank) for b in self._buckets.values()]
        heapq.heapify(self._expiry_heap)
        self._rank_heap = [(b.rank, b.expiry) for b in self._buckets.values() if b.rank != PINNED]
        heapq.heapify(self._rank_heap)

    def _make_room(self, excess: int, rank: int, evicted: list[EnvelopeHash]) -> bool:
        """Evict entries ranked below `rank` until `excess` bytes are free; False if they can't."""
        if sum(size for r, size in self._rank_bytes.items() if r < rank) < excess:
            return False
        heap = self._rank_heap
        while excess > 0:
            bucket = self._buckets.get(heap[0])
            if bucket is None:
                heapq.heappop(heap)
                continue
            _, entry = bucket.entries.popitem()  # the newest of the bucket
            excess -= entry.cost
            self._remove(entry)
            evicted.append(entry.hash)
        return True

    def shrink(self) -> list[EnvelopeHash]:
        """Evict the cheapest entries until the pool is within its cap again (after marks)."""
        evicted: list[EnvelopeHash] = []
        excess = self.bytes_used - self.max_bytes
        if excess > 0:
            available = sum(self._rank_bytes.values())
            self._make_room(min(excess, available), PINNED, evicted)
        return evicted

    def mark_known(self, envelope_hash: EnvelopeHash) -> bool:
        """Account one more peer knowing a pooled envelope; False if it isn't pooled."""
        entry = self._entries.get(envelope_hash)
        if entry is None:
            return False
        entry.knowers += 1
        self._charge_mark(entry, KNOWN_MARK_COST)
        return True

    def mark_known_by(
        self, known: dict[EnvelopeHash, None], entries: Iterable[PooledEnvelope]
    ) -> int:
        """Put each entry still pooled and not yet in `known` (one peer's known set) there, and
        account its mark; returns how many were new. What `mark_known` per hash does after a
        `known` check, for a whole batch at once (a relay marks every envelope once per peer):
        in one C call where it was built (the loop below, on the entries' slots). "Still
        pooled" is the entry's `_home` (this pool's dict by hash while it is in it: the same
        answer as `self._entries.get(entry.hash) is entry`, without the look-up)."""
        if _c_mark_known_by is not None:
            added = _c_mark_known_by(
                known,
                self._entries,
                entries,
                self._usage,
                self._rank_bytes,
                KNOWN_MARK_COST,
                PINNED,
            )
            self.bytes_used += added * KNOWN_MARK_COST
            return added
        pooled = self._entries
        usage = self._usage
        rank_bytes = self._rank_bytes
        cost = KNOWN_MARK_COST
        added = 0
        for entry in entries:
            envelope_hash = entry.hash
            if entry._home is not pooled or envelope_hash in known:
                continue
            known[envelope_hash] = None
            entry.knowers += 1
            usage[entry.source] += cost  # _charge_mark, inlined
            bucket = entry._bucket
            assert bucket is not None
            if bucket.rank != PINNED:
                rank_bytes[bucket.rank] += cost
            added += 1
        self.bytes_used += added * cost
        return added

    def unmark_known(self, envelope_hash: EnvelopeHash) -> None:
        """A peer that knew the envelope is gone."""
        entry = self._entries.get(envelope_hash)
        if entry is not None and entry.knowers:
            entry.knowers -= 1
            self._charge_mark(entry, -KNOWN_MARK_COST)

    def _charge_mark(self, entry: PooledEnvelope, amount: int) -> None:
        """`_charge` for a known mark: called once per peer per envelope, so kept short. The
        entry's own cost stays charged, so neither its source's nor its rank's total can reach
        zero here."""
        self.bytes_used += amount
        usage = self._usage
        usage[entry.source] += amount
        bucket = entry._bucket
        assert bucket is not None
        rank = bucket.rank
        if rank != PINNED:
            self._rank_bytes[rank] += amount

    # -- time ----------------------------------------------------------------------------------

    def expire(self, now: int, limit: int | None = None) -> list[EnvelopeHash]:
        """Drop envelopes with expiry < now, at most `limit` of them; returns their hashes."""
        gone: list[EnvelopeHash] = []
        heap = self._expiry_heap
        while heap and heap[0][0] < now:
            expiry, rank = heap[0]
            bucket = self._buckets.get((rank, expiry))
            if bucket is None:
                heapq.heappop(heap)
                continue
            while bucket.entries:
                if limit is not None and len(gone) >= limit:
                    return gone
                _, entry = bucket.entries.popitem()
                self._remove(entry)
                gone.append(entry.hash)
        return gone

    def next_expiry(self) -> int | None:
        """When `expire` next has work: the smallest expiry + 1, or None when empty."""
        heap = self._expiry_heap
        while heap and (heap[0][1], heap[0][0]) not in self._buckets:
            heapq.heappop(heap)
        return heap[0][0] + 1 if heap else None

    def select_for(
        self,
        pow_requirement: float,
        bloom: Bloom | None,
        known: Container[EnvelopeHash],
    ) -> list[PooledEnvelope]:
        """Pooled envelopes a peer should get: unknown to it, meeting its PoW and bloom (§3.7)."""
        return [
            entry
            for entry_hash, entry in self._entries.items()
            if entry_hash not in known
            and entry.pow >= pow_requirement
            and bloom_matches(bloom, entry.bloom)
        ]
