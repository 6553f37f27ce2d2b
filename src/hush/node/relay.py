"""The relay policy: which pooled envelope goes to which peer, and when (whisper-v6.md §3.7).

Kept apart from the protocol code so privacy policies (a stem peer for a node's own envelopes,
say) can replace it without touching anything else. The default is geth's: every envelope the
peer doesn't know and would accept (PoW requirement, bloom) goes to it, also the ones this node
could open itself — that blanket relaying is what hides who the recipient is. Unlike geth, batches
are capped below the peer's maximum message size (geth's unbounded bundles get senders dropped),
and a light node really does not relay: it sends only its own envelopes. No random per-hop
delays: measured, they add latency and make the sender easier to find, not harder.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from dataclasses import dataclass
from typing import Protocol

from hush.shh.peer import ShhPeer
from hush.shh.pool import PooledEnvelope
from hush.shh.topic import bloom_matches
from hush.types import EnvelopeHash

__all__ = ["GETH_TICK", "BroadcastPolicy", "RelayPolicy", "next_tick"]

_LIST_HEADER = 9  # the most an RLP list header can take
_TICKS_ADDED = 64  # idle ticks counted one by one (as a ticking loop adds them); beyond, multiplied


class RelayPolicy(Protocol):
    @property
    def interval(self) -> float:
        """Least seconds between two turns for the same peer."""
        ...

    @property
    def on_arrival(self) -> bool:
        """A peer's turn starts as soon as an envelope is pooled (else on the interval's tick)."""
        ...

    def batches(
        self,
        peer: ShhPeer,
        candidates: Iterable[PooledEnvelope],
        local: Container[EnvelopeHash],
        light: bool,
        max_batch_bytes: int,
    ) -> list[list[PooledEnvelope]]:
        """The `messages` packets to send `peer` now, each list one packet.

        `candidates` are the pooled envelopes that arrived since the peer's last turn, or the
        whole pool after the peer's PoW requirement or bloom changed; `local` holds the hashes
        of envelopes posted on this node.
        """
        ...


@dataclass(frozen=True, slots=True)
class BroadcastPolicy:
    """geth's flooding, with capped batches and a light mode that does not relay.

    By default a peer's turn starts when an envelope arrives, at most every `interval` seconds:
    an idle link forwards at once and a busy one batches. `GETH_TICK` is geth's timing (a fixed
    300 ms tick), kept as the baseline benchmarks compare against.
    """

    interval: float = 0.02
    on_arrival: bool = True

    def batches(
        self,
        peer: ShhPeer,
        candidates: Iterable[PooledEnvelope],
        local: Container[EnvelopeHash],
        light: bool,
        max_batch_bytes: int,
    ) -> list[list[PooledEnvelope]]:
        # The tests in one comprehension (in the loop below they cost as much again), and no
        # running size when the whole of it fits in one packet, as it mostly does.
        known, requirement, bloom = peer.known, peer.pow_requirement, peer.bloom
        kept = [
            entry
            for entry in candidates
            if not (
                entry.hash in known
                or entry.pow < requirement
                or (bloom is not None and not bloom_matches(bloom, entry.bloom))
                or (light and entry.hash not in local)
            )
        ]
        if not kept:
            return []
        sizes = [len(entry.raw) for entry in kept]
        if _LIST_HEADER + sum(sizes) <= max_batch_bytes:
            return [kept]  # no prefix of it goes over: one packet
        batches: list[list[PooledEnvelope]] = []
        current: list[PooledEnvelope] = []
        size = _LIST_HEADER
        for entry, wire_size in zip(kept, sizes, strict=True):
            if current and size + wire_size > max_batch_bytes:
                batches.append(current)
                current, size = [], _LIST_HEADER
            current.append(entry)
            size += wire_size
        batches.append(current)
        return batches


GETH_TICK = BroadcastPolicy(interval=0.3, on_arrival=False)
"""geth 1.9's transmissionCycle: every peer gets its batch on a fixed 300 ms tick."""


def next_tick(due: float, now: float, interval: float) -> float:
    """The first tick at or after `now` of a loop that ticks every `interval` seconds and was due
    at `due`: the turn a ticking loop would take next, had it woken on every tick between (each
    idle turn does nothing and sleeps `interval` from its tick). Timers as data: a ticking writer
    sleeps only until something is pending, then until this tick, and its turns fall on the same
    instants. Ticks are added one by one as the ticking loop adds them (same floats); after a
    long idle spell the count is multiplied, within a few ulps of the sum."""
    if due >= now:
        return due
    if interval <= 0:
        return now
    skipped = int((now - due) // interval)
    if skipped > _TICKS_ADDED:
        due += (skipped - _TICKS_ADDED) * interval
    while due < now:
        due += interval
    return due
