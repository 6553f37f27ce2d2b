"""The envelope pool: geth's acceptance rules, expiry and the queries relaying needs (§3.6, §3.7).

Pure: every call that depends on time takes `now` (unix seconds). `add` returns a typed outcome:
accepted (new), duplicate, dropped (expired within tolerance), refused because the pool is full
(not the sender's fault), or rejected with geth's own error string — the caller disconnects the
peer that sent a rejected envelope. The pool is bounded by bytes as well as by TTL.
"""

from __future__ import annotations

import enum
import heapq
from collections.abc import Container, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from hush.shh.envelope import Envelope
from hush.shh.topic import bloom_matches
from hush.types import Bloom, EnvelopeHash

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "DEFAULT_MIN_POW",
    "DEFAULT_POOL_BYTES",
    "MAX_MESSAGE_SIZE",
    "SYNC_ALLOWANCE",
    "AddOutcome",
    "AddStatus",
    "EnvelopePool",
    "PooledEnvelope",
]

SYNC_ALLOWANCE = 10  # seconds of clock skew tolerated; 2× for old envelopes (DefaultSyncAllowance)
DEFAULT_MIN_POW = 0.2
DEFAULT_MAX_MESSAGE_SIZE = 1024 * 1024
MAX_MESSAGE_SIZE = 10 * 1024 * 1024  # hard cap for set_max_message_size
DEFAULT_POOL_BYTES = 256 * 1024 * 1024


class AddStatus(enum.Enum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    EXPIRED = "expired"
    """Expired, but within the 20 s tolerance: dropped silently, not the sender's fault."""
    POOL_FULL = "pool full"
    REJECTED = "rejected"
    """geth would disconnect the sender; `reason` is geth's error string."""


@dataclass(frozen=True, slots=True)
class PooledEnvelope:
    envelope: Envelope
    hash: EnvelopeHash
    pow: float
    bloom: Bloom
    wire_size: int


@dataclass(frozen=True, slots=True)
class AddOutcome:
    status: AddStatus
    reason: str = ""
    entry: PooledEnvelope | None = None

    @property
    def known(self) -> bool:
        """Accepted now or before: the sender evidently has it (geth marks it known)."""
        return self.status in (AddStatus.ACCEPTED, AddStatus.DUPLICATE)


_T = TypeVar("_T")


class _Tolerant(Generic[_T]):
    """A setting whose previous value stays acceptable for SYNC_ALLOWANCE seconds after a change.

    geth applies a new minimum PoW or bloom at once, but keeps accepting what the old one allowed
    for 10 s, since peers learn of the change only when its packet reaches them.
    """

    __slots__ = ("current", "switch_at", "tolerance")

    def __init__(self, value: _T):
        self.current = value
        self.tolerance = value
        self.switch_at: int | None = None

    def set(self, value: _T, now: int) -> None:
        self.tolerance = self.tolerance_at(now)
        self.current = value
        self.switch_at = now + SYNC_ALLOWANCE

    def tolerance_at(self, now: int) -> _T:
        if self.switch_at is not None and now >= self.switch_at:
            self.tolerance = self.current
            self.switch_at = None
        return self.tolerance


class EnvelopePool:
    def __init__(
        self,
        min_pow: float = DEFAULT_MIN_POW,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        max_bytes: int = DEFAULT_POOL_BYTES,
        bloom: Bloom | None = None,
    ):
        self._min_pow = _Tolerant(min_pow)
        self._bloom: _Tolerant[Bloom | None] = _Tolerant(bloom)
        self.max_message_size = max_message_size
        self.max_bytes = max_bytes
        self.bytes_used = 0
        self._entries: dict[EnvelopeHash, PooledEnvelope] = {}
        self._expiry_heap: list[tuple[int, EnvelopeHash]] = []

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

    def add(self, envelope: Envelope, now: int) -> AddOutcome:
        """Validate and insert one envelope, received or posted locally (geth's `add`)."""
        sent = envelope.sent
        diff = 0
        if sent > now:
            if sent - SYNC_ALLOWANCE > now:
                return AddOutcome(AddStatus.REJECTED, "envelope created in the future")
            diff = sent - now + 1
        if envelope.expiry < now:
            if envelope.expiry + 2 * SYNC_ALLOWANCE < now:
                return AddOutcome(AddStatus.REJECTED, "very old message")
            return AddOutcome(AddStatus.EXPIRED)
        if envelope.size() > self.max_message_size:
            return AddOutcome(AddStatus.REJECTED, "huge messages are not allowed")
        pow_value = envelope.pow(diff)
        if pow_value < self._min_pow.current and pow_value < self._min_pow.tolerance_at(now):
            return AddOutcome(AddStatus.REJECTED, "envelope with low PoW received")
        bloom = envelope.bloom()
        if not bloom_matches(self._bloom.current, bloom) and not bloom_matches(
            self._bloom.tolerance_at(now), bloom
        ):
            return AddOutcome(AddStatus.REJECTED, "envelope does not match bloom filter")
        envelope_hash = envelope.hash
        existing = self._entries.get(envelope_hash)
        if existing is not None:
            return AddOutcome(AddStatus.DUPLICATE, entry=existing)
        wire_size = len(envelope.encode())
        if self.bytes_used + wire_size > self.max_bytes:
            return AddOutcome(AddStatus.POOL_FULL, "envelope pool is full")
        entry = PooledEnvelope(envelope, envelope_hash, pow_value, bloom, wire_size)
        self._entries[envelope_hash] = entry
        self.bytes_used += wire_size
        heapq.heappush(self._expiry_heap, (envelope.expiry, envelope_hash))
        return AddOutcome(AddStatus.ACCEPTED, entry=entry)

    def expire(self, now: int) -> list[EnvelopeHash]:
        """Drop every envelope with expiry < now; returns their hashes."""
        gone: list[EnvelopeHash] = []
        heap = self._expiry_heap
        while heap and heap[0][0] < now:
            _, envelope_hash = heapq.heappop(heap)
            entry = self._entries.pop(envelope_hash, None)
            if entry is not None:
                self.bytes_used -= entry.wire_size
                gone.append(envelope_hash)
        return gone

    def next_expiry(self) -> int | None:
        """When `expire` next has work: the smallest expiry + 1, or None when empty."""
        return self._expiry_heap[0][0] + 1 if self._expiry_heap else None

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
