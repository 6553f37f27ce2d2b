"""Message filters and geth's delivery order (whisper-v6.md §4).

A filter holds exactly one key (symmetric or private), optional topics, a minimum PoW, whether it
accepts direct (p2p) messages, and optionally the signer it expects. Delivery of one envelope:
candidates are the filters without topics and those listing the envelope's topic; p2p messages
skip filters without allowP2P; the first candidate whose PoW bound passes tries its key; once a
message is open, later candidates match only if they hold the same key and their PoW bound passes;
an expected signer must equal the recovered one. Each filter keeps what it matched until polled,
deduplicated by envelope hash and bounded in count.

The stores are bounded in memory, not only in count (10,000 messages of 1 MiB would be 10 GiB):
each message is charged `message_cost` (its byte strings plus `MESSAGE_OVERHEAD`, measured), a
filter keeps at most `filter_bytes`, and all filters together at most `store_bytes`. A filter
over its own bound loses its oldest messages; when the whole store is over, the filter holding
the most bytes loses its oldest. Dropped messages are counted per filter (`dropped`).
`retrieve` can take a budget: it hands out the oldest messages that fit (at least one) and keeps
the rest for the next call, so a large backlog drains over several polls and nothing handed out
is lost.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from itertools import chain

from hush.crypto.keys import PrivateKey
from hush.crypto.symmetric import SymmetricKey
from hush.errors import UsageError
from hush.shh.envelope import Envelope
from hush.shh.errors import ERR_SYM_ASYM
from hush.shh.message import OpenedMessage, open_asymmetric, open_symmetric, opened_message
from hush.shh.topic import EMPTY_BLOOM, aggregate_blooms, topic_to_bloom
from hush.types import Bloom, EnvelopeHash, KeyID, PublicKeyBytes, Topic

__all__ = [
    "DEFAULT_FILTER_BYTES",
    "DEFAULT_FILTER_CAPACITY",
    "DEFAULT_STORE_BYTES",
    "MESSAGE_OVERHEAD",
    "Filter",
    "FilterSet",
    "Match",
    "message_cost",
]

DEFAULT_FILTER_CAPACITY = 10_000
"""Messages a filter keeps until polled; the oldest go first (geth keeps them unbounded)."""
DEFAULT_FILTER_BYTES = 32 * 1024 * 1024
"""Bytes (as `message_cost` counts them) one filter keeps until polled: three messages of the
10 MiB hard cap, or ~30 of the 1 MiB default."""
DEFAULT_STORE_BYTES = 256 * 1024 * 1024
"""Bytes all filters together keep until polled (the envelope pool's default cap)."""
MESSAGE_OVERHEAD = 560
"""Bytes a stored message costs beyond its byte strings: the OpenedMessage, its bytes objects'
headers and the store's dict entry (tracemalloc: ~530 B on CPython 3.11)."""


def message_cost(message: OpenedMessage) -> int:
    """What keeping `message` costs in memory, in bytes."""
    return (
        len(message.payload)
        + len(message.padding)
        + len(message.signer or b"")
        + len(message.recipient_public_key or b"")
        + MESSAGE_OVERHEAD
    )


@dataclass(frozen=True, slots=True)
class Filter:
    sym_key: SymmetricKey | None = None
    private_key: PrivateKey | None = None
    topics: frozenset[Topic] = frozenset()
    min_pow: float = 0.0
    allow_p2p: bool = False
    signer: PublicKeyBytes | None = None
    """If set, only messages signed by this 65-byte public key match."""

    def __post_init__(self) -> None:
        if (self.sym_key is None) == (self.private_key is None):
            raise UsageError(ERR_SYM_ASYM)

    def pow_passes(self, pow_value: float) -> bool:
        return self.min_pow <= 0 or pow_value >= self.min_pow

    def holds_key_of(self, message: OpenedMessage) -> bool:
        if self.private_key is not None:
            return message.recipient_public_key == self.private_key.public_key
        assert self.sym_key is not None
        return message.sym_key_hash == self.sym_key.hash

    def open(
        self, envelope: Envelope, pow_value: float, envelope_hash: EnvelopeHash
    ) -> OpenedMessage | None:
        if self.sym_key is not None:
            return open_symmetric(envelope, self.sym_key, pow_value, envelope_hash)
        assert self.private_key is not None
        return open_asymmetric(envelope, self.private_key, pow_value, envelope_hash)


@dataclass(frozen=True, slots=True)
class Match:
    filter_id: KeyID
    message: OpenedMessage


@dataclass(slots=True)
class _Installed:
    filter: Filter
    messages: OrderedDict[EnvelopeHash, OpenedMessage] = field(default_factory=OrderedDict)
    dropped: int = 0
    bytes_used: int = 0


class FilterSet:
    """The installed filters, indexed by topic. Pure: ids are chosen by the caller."""

    def __init__(
        self,
        capacity: int = DEFAULT_FILTER_CAPACITY,
        *,
        filter_bytes: int = DEFAULT_FILTER_BYTES,
        store_bytes: int = DEFAULT_STORE_BYTES,
    ):
        if capacity < 1 or filter_bytes < 1 or store_bytes < 1:
            raise UsageError("filter store limits must be positive")
        self._capacity = capacity
        self._filter_bytes = filter_bytes
        self._store_bytes = store_bytes
        self.bytes_used = 0
        """What every filter's kept messages cost together (`message_cost`)."""
        self._filters: dict[KeyID, _Installed] = {}
        self._by_topic: dict[Topic, dict[KeyID, _Installed]] = {}
        self._all_topics: dict[KeyID, _Installed] = {}
        self.decrypt_attempts: dict[tuple[bool, bool], int] = {}
        """Trial decryptions by (symmetric key?, opened?), for metrics (hush_decrypt_attempts)."""
        self.dropped_total = 0
        """Kept messages dropped over a bound, all filters, ever (hush_delivery_queue_overflow)."""

    def __len__(self) -> int:
        return len(self._filters)

    def __contains__(self, filter_id: object) -> bool:
        return filter_id in self._filters

    def install(self, filter_id: KeyID, flt: Filter) -> None:
        if filter_id in self._filters:
            raise UsageError("filter id already in use")
        entry = _Installed(flt)
        self._filters[filter_id] = entry
        if not flt.topics:
            self._all_topics[filter_id] = entry
        for topic in flt.topics:
            self._by_topic.setdefault(topic, {})[filter_id] = entry

    def uninstall(self, filter_id: KeyID) -> bool:
        entry = self._filters.pop(filter_id, None)
        if entry is None:
            return False
        self.bytes_used -= entry.bytes_used
        self._all_topics.pop(filter_id, None)
        for topic in entry.filter.topics:
            bucket = self._by_topic.get(topic)
            if bucket is not None:
                bucket.pop(filter_id, None)
                if not bucket:
                    del self._by_topic[topic]
        return True

    def get(self, filter_id: KeyID) -> Filter | None:
        entry = self._filters.get(filter_id)
        return entry.filter if entry else None

    def kinds(self) -> tuple[int, int]:
        """(filters holding a symmetric key, filters holding a private key)."""
        symmetric = sum(1 for entry in self._filters.values() if entry.filter.sym_key is not None)
        return symmetric, len(self._filters) - symmetric

    def dropped(self, filter_id: KeyID) -> int:
        """Messages the filter lost to its bounds before they were retrieved."""
        entry = self._filters.get(filter_id)
        return entry.dropped if entry else 0

    def topics_bloom(self) -> Bloom:
        """The OR of every installed topic's bloom (empty when no filter names a topic)."""
        return aggregate_blooms(EMPTY_BLOOM, *(topic_to_bloom(t) for t in self._by_topic))

    def notify(
        self,
        envelope: Envelope,
        pow_value: float,
        envelope_hash: EnvelopeHash,
        p2p: bool = False,
    ) -> list[Match]:
        """Deliver one envelope to matching filters; returns the new matches (geth's order)."""
        bucket = self._by_topic.get(envelope.topic)
        if not bucket and not self._all_topics:
            return []  # no filter could match: most envelopes at most nodes
        candidates = (
            chain(self._all_topics.items(), bucket.items()) if bucket else self._all_topics.items()
        )
        # geth checks a filter's PoW bound against the envelope's cached PoW, which is 0 for
        # direct messages (they skip the pool): a filter with minPow > 0 never sees them.
        pow_seen = 0.0 if p2p else pow_value
        message: OpenedMessage | None = None
        matches: list[Match] = []
        data = envelope.data
        attempts = self.decrypt_attempts
        for filter_id, entry in candidates:  # (storing touches no filter dict: no copy needed)
            flt = entry.filter
            if p2p and not flt.allow_p2p:
                continue
            if flt.min_pow > 0 and pow_seen < flt.min_pow:  # flt.pow_passes, inlined
                continue
            if message is None:
                sym_key = flt.sym_key
                if sym_key is not None:  # open_symmetric, inlined: most tries are wrong keys
                    plain = sym_key.open(data)
                    message = (
                        None
                        if plain is None
                        else opened_message(
                            envelope, plain, pow_value, envelope_hash, None, sym_key.hash
                        )
                    )
                else:
                    message = flt.open(envelope, pow_value, envelope_hash)
                attempt = (sym_key is not None, message is not None)
                attempts[attempt] = attempts.get(attempt, 0) + 1
                if message is None:
                    continue
                if p2p:
                    message = replace(message, p2p=True)
            elif not flt.holds_key_of(message):
                continue
            if flt.signer is not None and message.signer != flt.signer:
                continue
            if self._store(entry, message):
                matches.append(Match(filter_id, message))
        return matches

    def _store(self, entry: _Installed, message: OpenedMessage) -> bool:
        if message.envelope_hash in entry.messages:
            return False
        entry.messages[message.envelope_hash] = message
        cost = message_cost(message)
        entry.bytes_used += cost
        self.bytes_used += cost
        while len(entry.messages) > self._capacity or entry.bytes_used > self._filter_bytes:
            self._drop_oldest(entry)
        while self.bytes_used > self._store_bytes:
            self._drop_oldest(max(self._filters.values(), key=lambda e: e.bytes_used))
        return message.envelope_hash in entry.messages

    def _drop_oldest(self, entry: _Installed) -> None:
        _, oldest = entry.messages.popitem(last=False)
        cost = message_cost(oldest)
        entry.bytes_used -= cost
        self.bytes_used -= cost
        entry.dropped += 1
        self.dropped_total += 1

    def retrieve(
        self,
        filter_id: KeyID,
        budget: int | None = None,
        size: Callable[[OpenedMessage], int] = message_cost,
    ) -> list[OpenedMessage]:
        """What the filter matched since the last call, oldest first, and forget it. With a
        `budget`, only the oldest messages whose `size` adds up to at most that much (always at
        least one); the rest stay for the next call."""
        entry = self._filters.get(filter_id)
        if entry is None:
            raise UsageError("filter not found")
        if budget is None:
            messages = list(entry.messages.values())
            entry.messages.clear()
            self.bytes_used -= entry.bytes_used
            entry.bytes_used = 0
            return messages
        messages = []
        spent = 0
        while entry.messages:
            oldest = next(iter(entry.messages.values()))
            spent += size(oldest)
            if messages and spent > budget:
                break
            entry.messages.popitem(last=False)
            cost = message_cost(oldest)
            entry.bytes_used -= cost
            self.bytes_used -= cost
            messages.append(oldest)
        return messages
