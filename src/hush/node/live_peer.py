"""A connected peer as the node keeps it: its link, its shh protocol state (`hush.shh.peer`)
and what the relay considers sending it next.

The registry holds these by node id; the session drives one; the pool keeper offers each newly
pooled envelope to every one of them and makes them forget what the pool drops. No part here does
I/O and nothing here is asyncio: `pending` says the write loop has something to consider, and
`on_pending` is how a parked write loop asks to be told, once, when that becomes so (the session
arms its wake-up there, in the offering call: no event to wait on, no task hop in between).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from hush.net.transport import PeerLink
from hush.shh.peer import ShhPeer
from hush.shh.pool import PooledEnvelope
from hush.types import EnvelopeHash, NodeID

__all__ = ["FRESH_LIMIT", "LivePeer"]

FRESH_LIMIT = 16384
"""Envelopes queued for one peer's next turn; beyond, it rescans the pool."""


@dataclass(eq=False, slots=True)
class LivePeer:
    connection: PeerLink
    shh: ShhPeer
    static: bool
    fresh: list[EnvelopeHash] = field(default_factory=list)
    """Envelopes pooled since this peer's last turn: what the relay policy considers next.
    Bounded: a peer that falls this far behind gets a rescan of the pool instead."""
    rescan: bool = True
    """Consider the whole pool next turn: the peer is new or changed its PoW or bloom."""
    pending: bool = False
    """Something was offered (or a rescan asked for) since the write loop's last turn began."""
    on_pending: Callable[[], None] | None = None
    """Set by a parked write loop: called (and cleared) when `pending` next becomes true."""

    def offer(self, entry: PooledEnvelope) -> None:
        if not self.rescan:
            if len(self.fresh) >= FRESH_LIMIT:
                self.rescan_pool()
                return
            self.fresh.append(entry.hash)
        self.pending = True
        waiter = self.on_pending
        if waiter is not None:
            self.on_pending = None
            waiter()

    def offer_all(self, entries: list[PooledEnvelope]) -> None:
        """`offer` each of them, in order (one ingest slice's newly pooled envelopes)."""
        self.offer_hashes([entry.hash for entry in entries])

    def offer_hashes(self, hashes: list[EnvelopeHash]) -> None:
        """`offer_all` of the entries with these hashes: the list built once per slice for
        every peer (each peer's queue copies it in one C call)."""
        if not hashes:
            return
        if not self.rescan:
            fresh = self.fresh
            if len(fresh) + len(hashes) > FRESH_LIMIT:
                self.rescan_pool()
                return
            fresh.extend(hashes)
        self.pending = True
        waiter = self.on_pending
        if waiter is not None:
            self.on_pending = None
            waiter()

    def rescan_pool(self) -> None:
        self.rescan = True
        self.fresh.clear()
        self.pending = True
        waiter = self.on_pending
        if waiter is not None:
            self.on_pending = None
            waiter()

    @property
    def node_id(self) -> NodeID:
        return self.connection.node_id
