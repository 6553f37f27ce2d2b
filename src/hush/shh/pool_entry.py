"""One pooled envelope and what adding one can come to: the pool's entries, stored compactly and
accounted in memory (`ENTRY_OVERHEAD`, `KNOWN_MARK_COST`), their PoW rank and bucket, and
`AddStatus` / `AddOutcome`. Pure; the pool itself is `hush.shh.pool`."""

from __future__ import annotations

import enum
import math
from collections.abc import Hashable
from dataclasses import dataclass

from hush.shh.envelope import Envelope
from hush.shh.topic import topic_to_bloom
from hush.types import Bloom, EnvelopeHash, Topic

__all__ = [
    "ENTRY_OVERHEAD",
    "KNOWN_MARK_COST",
    "PINNED",
    "AddOutcome",
    "AddStatus",
    "Bucket",
    "PooledEnvelope",
    "pow_rank",
]

ENTRY_OVERHEAD = 384
"""Bytes one pooled entry costs beyond its encoded size: the entry object, the encoding's bytes
header, its hash and PoW, its slots in the two indices (by hash; by encoding, the C CopyIndex's
16-byte slot) and in its bucket. Measured at 326-372 B (`benchmarks/hostile_pool_memory.py`:
tracemalloc, 33k-100k inserts per size class, tables just before and after a resize, CPython
3.11; 326-376 B with a dict by encoding, 279-308 B before the index by encoding;
geth-era hush took 608-725 B, and 1,650 B at 1 KB payloads, storing the data twice)."""
KNOWN_MARK_COST = 64
"""Bytes one "peer knows this envelope" mark costs (a slot in that peer's known dict), measured
at 31-60 B across resize points, rounded up."""

_RANK_STEPS = 8  # PoW ranks per doubling: entries within 9 % of each other's PoW rank the same
PINNED = 1 << 40  # the rank of local entries: above every PoW, never evicted
_MIN_RANK = -(1 << 20)  # PoW 0 (accepted when the minimum PoW is 0)


class AddStatus(enum.Enum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    EXPIRED = "expired"
    """Expired, but within the 20 s tolerance: dropped silently, not the sender's fault."""
    POOL_FULL = "pool full"
    """Full of envelopes at least as costly (or posted here): not the sender's fault."""
    OVER_BUDGET = "over budget"
    """The sender's share of the pool is full: not pooled, nobody is disconnected."""
    REJECTED = "rejected"
    """geth would disconnect the sender; `reason` is geth's error string."""


_INF = math.inf
_floor, _log2 = math.floor, math.log2  # bound: pow_rank runs once per pooled envelope


def pow_rank(pow_value: float) -> int:
    if pow_value <= 0:
        return _MIN_RANK
    if pow_value == _INF:  # (positive here: isinf)
        return PINNED - 1
    return _floor(_log2(pow_value) * _RANK_STEPS)


class Bucket:
    """The entries sharing one (rank, expiry): the unit that expiry and eviction take from."""

    __slots__ = ("entries", "expiry", "rank")

    def __init__(self, rank: int, expiry: int):
        self.rank = rank
        self.expiry = expiry
        self.entries: dict[EnvelopeHash, PooledEnvelope] = {}


class PooledEnvelope:
    """One pooled envelope, stored compactly: its encoding, hash and PoW.

    Eight slots and no per-entry copies of expiry, topic or bloom (the bucket holds the expiry, the
    topic is read from the encoding at an offset found once: relaying asks for every entry's
    bloom once per peer); `envelope` decodes afresh each time it is asked for. `_home` is the
    pool's dict by hash while the entry is in it, None before and after (set by the pool's
    `_insert` and `_remove`): "still pooled?" without a look-up. (The eighth slot is free:
    CPython allocates this object in 16-byte steps, 96 B with seven slots or eight.)
    """

    __slots__ = ("_bucket", "_home", "_topic_at", "hash", "knowers", "pow", "raw", "source")

    def __init__(self, raw: bytes, envelope_hash: EnvelopeHash, pow_value: float, source: Hashable):
        self.raw = raw
        self.hash = envelope_hash
        self.pow = pow_value
        self.source = source
        self.knowers = 0
        self._bucket: Bucket | None = None
        self._home: dict[EnvelopeHash, PooledEnvelope] | None = None
        # canonical (it was decoded): list header, expiry, ttl, then 84 + topic; < 256, so the
        # offset is one of CPython's shared small ints, not an object per entry
        pos = 1 if raw[0] <= 0xF7 else raw[0] - 0xF6
        marker = raw[pos]  # expiry
        pos += 1 if marker < 0x80 else marker - 0x7F
        marker = raw[pos]  # ttl
        pos += 1 if marker < 0x80 else marker - 0x7F
        self._topic_at = pos + 1

    @property
    def expiry(self) -> int:
        assert self._bucket is not None
        return self._bucket.expiry

    @property
    def local(self) -> bool:
        """Posted on this node: never evicted before it expires."""
        return self._bucket is not None and self._bucket.rank == PINNED

    @property
    def cost(self) -> int:
        """Bytes this entry is accounted for."""
        return ENTRY_OVERHEAD + len(self.raw) + self.knowers * KNOWN_MARK_COST

    @property
    def wire_size(self) -> int:
        return len(self.raw)

    @property
    def envelope(self) -> Envelope:
        return Envelope.decode(self.raw)

    @property
    def topic(self) -> Topic:
        at = self._topic_at
        return Topic(self.raw[at : at + 4])

    @property
    def bloom(self) -> Bloom:
        at = self._topic_at
        return topic_to_bloom(self.raw[at : at + 4])  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"PooledEnvelope({self.hash.hex()[:16]}…, pow={self.pow}, {len(self.raw)} B)"


@dataclass(frozen=True, slots=True)
class AddOutcome:
    status: AddStatus
    reason: str = ""
    entry: PooledEnvelope | None = None
    evicted: tuple[EnvelopeHash, ...] = ()
    """Hashes evicted to make room for this one (forget them wherever they are remembered)."""

    @property
    def known(self) -> bool:
        """Accepted now or before: the sender evidently has it (geth marks it known)."""
        return self.status in (AddStatus.ACCEPTED, AddStatus.DUPLICATE)
