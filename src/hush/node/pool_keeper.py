"""The pool keeper: every envelope into the node's pool goes through here, and every one out.

It owns what the pool's bookkeeping asks of the node (whisper-v6.md §3.6–3.7, hardening.md §2.1):
- adding (a peer's `messages` packet, sliced; a local post): the pool's verdict, the observers'
  accounting points, delivery to the filters and the offer to every live peer's relay queue;
- known marks: a peer's known set is a subset of the pool, each mark accounted to the pool
  (`note_known`), released when the peer leaves, dropped from every peer when the pool drops the
  envelope (`forget`), and the cheapest envelopes evicted when marks take the pool past its cap
  (`settle`);
- the expiry sweep, armed from `EnvelopePool.next_expiry()` on the injected clock's wall time
  (the pool's envelopes expire on wall seconds, as on the wire), at most geth's 1 s cycle apart
  while the pool holds envelopes, not at all while it is empty, in slices that yield.

It reads the live peers from the table the registry fills; it imports neither the registry nor
the sessions nor the facade.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping

from hush.clock import Clock
from hush.errors import EnvelopeRejected
from hush.node.delivery import Delivery
from hush.node.hooks import NodeObserver
from hush.node.live_peer import LivePeer
from hush.shh.envelope import Envelope
from hush.shh.packets import messages_bounds
from hush.shh.peer import Envelopes
from hush.shh.pool import AddOutcome, AddStatus, EnvelopePool, PooledEnvelope
from hush.types import EnvelopeHash, NodeID

__all__ = ["EXPIRY_CYCLE", "PoolKeeper"]

EXPIRY_CYCLE = 1.0
"""geth's expirationCycle: the sweep re-reads the wall clock at least this often while the pool
holds envelopes (the wall clock may jump), and never wakes while it is empty."""
# Fair event loop: a peer's big packet, an expiry sweep or a leaving peer's known marks give the
# loop back after this many envelopes (each slice is a few milliseconds at most).
INGEST_SLICE = 256
_EXPIRE_SLICE = 4096
_RELEASE_SLICE = 8192
_ACCEPTED, _DUPLICATE, _REJECTED = AddStatus.ACCEPTED, AddStatus.DUPLICATE, AddStatus.REJECTED


class PoolKeeper:
    def __init__(
        self,
        pool: EnvelopePool,
        clock: Clock,
        observers: NodeObserver,
        delivery: Delivery,
        peers: Mapping[NodeID, LivePeer],
    ) -> None:
        self.pool = pool
        self.clock = clock
        self._observers = observers
        self._delivery = delivery
        self._peers = peers
        self._rearm = asyncio.Event()
        self._armed: int | None = None  # the expiry the sweep waits for now
        self.on_echo: Callable[[EnvelopeHash], None] | None = None
        """Told when a peer sends an own envelope back (the stem's echo)."""

    def now(self) -> int:
        """Wall seconds, as envelopes count them."""
        return int(self.clock.time())

    # -- adding ----------------------------------------------------------------------------------

    def add(
        self, envelope: Envelope, local: bool = False, source: NodeID | None = None
    ) -> AddOutcome:
        outcome = self._pool_one(envelope, local, source)
        if outcome.status is AddStatus.ACCEPTED and outcome.entry is not None:
            for peer in self._peers.values():
                peer.offer(outcome.entry)
        return outcome

    def _pool_one(self, envelope: Envelope, local: bool, source: NodeID | None) -> AddOutcome:
        """`add` but for the offer to the live peers (`ingest` offers a slice at once)."""
        outcome = self.pool.add(envelope, self.now(), source=source, local=local)
        if outcome.evicted:
            self.forget(outcome.evicted)
        observers = self._observers
        observers.envelope_received(outcome, source, local)
        status, entry = outcome.status, outcome.entry
        if status is _ACCEPTED and entry is not None:
            observers.envelope_accepted(entry, envelope, source, local)
            self._delivery.deliver(envelope, entry.pow, entry.hash)
            armed = self._armed
            if armed is None or entry.expiry + 1 < armed:
                self._rearm.set()  # the sweep waits for a later expiry (or none)
        elif (
            status is _DUPLICATE
            and source is not None
            and outcome.entry is not None
            and outcome.entry.local
            and self.on_echo is not None
        ):
            self.on_echo(outcome.entry.hash)
        return outcome

    async def ingest(self, peer: LivePeer, batch: Envelopes) -> None:
        """geth: decode the whole batch (any malformed envelope drops the peer before any is
        added), add every envelope, then drop the peer if any was bad. Both passes go in slices
        that give the event loop back, so one peer's 40,000-envelope packet doesn't stall the
        others, nor RPC; each slice's newly pooled envelopes are offered to the live peers at
        its end (no await in between: no later than one by one). Envelopes over the peer's
        share of the pool or refused for lack of room are not marked known: the peer can't
        grow its known set with them.

        The first pass only checks the envelopes (the C part hashes none). The second takes
        them in runs (`EnvelopePool.copies_run`): a plain copy of a pooled envelope costs a
        look-up by its bytes (no keccak), and the run's copies are told to the observers, echoed
        and marked known at once (`_copies`), in order with the envelopes between them, which go through
        `_pool_one` as before. An item the C part leaves to the reference decoder (or every
        item, without the C part) is decoded and judged by `pooled_copy`, as before."""
        shh = peer.shh
        count = 0
        decoded: dict[int, tuple[Envelope, int]] = {}  # pass one's reference decodes, by offset
        for checked, reference in shh.check_slices(batch, INGEST_SLICE):
            count += checked
            if count <= INGEST_SLICE:
                decoded.update(reference)
            if checked == INGEST_SLICE:
                await asyncio.sleep(0)
        whole = count <= INGEST_SLICE  # one slice: no await in the second pass
        if not whole:
            decoded.clear()  # bounded: kept only for a packet of one slice
        payload = bytes(batch.payload)
        pos, stop = messages_bounds(payload)  # checked by the first pass
        failure = ""
        source = peer.node_id
        peers = self._peers
        pool = self.pool
        while count:
            pooled: list[PooledEnvelope] = []
            now = self.now()
            left = min(count, INGEST_SLICE)
            count -= left
            while left:
                copies, pos, envelope = pool.copies_run(payload, pos, stop, left, now)
                if copies:
                    left -= len(copies)
                    self._copies(peer, copies)
                if envelope is None:
                    if not left:
                        break
                    envelope, pos = decoded.get(pos) or shh.envelope_at(batch, pos, stop)
                    left -= 1
                    entry = pool.pooled_copy(envelope, now)
                    if entry is not None:
                        self._copies(peer, [entry])
                        continue
                else:
                    left -= 1
                outcome = self._pool_one(envelope, False, source)
                status, entry = outcome.status, outcome.entry
                if status is _ACCEPTED or status is _DUPLICATE:  # outcome.known
                    if entry is not None:
                        if status is _ACCEPTED:
                            pooled.append(entry)
                        self.note_known(peer, entry.hash)
                elif status is _REJECTED and not failure:
                    failure = outcome.reason
            if pooled:  # (offer_all of nothing is nothing)
                hashes = [entry.hash for entry in pooled]  # once for every peer
                for live in peers.values():
                    live.offer_hashes(hashes)
            self.settle()
            if not whole:
                await asyncio.sleep(0)
        if failure:
            raise EnvelopeRejected(f"invalid envelope: {failure}")

    def _copies(self, peer: LivePeer, entries: list[PooledEnvelope]) -> None:
        """Copies of pooled envelopes from a peer, in order: what `_pool_one` and `note_known`
        do for a DUPLICATE, for the run at once and without the general path."""
        self._observers.duplicates_received(entries, peer.node_id)
        echo = self.on_echo
        if echo is not None:
            for entry in entries:
                if entry.local:
                    echo(entry.hash)
        self.pool.mark_known_by(peer.shh.known, entries)

    # -- known marks -----------------------------------------------------------------------------

    def forget(self, hashes: list[EnvelopeHash] | tuple[EnvelopeHash, ...]) -> None:
        """The pool dropped these: no peer's known set keeps them (known ⊆ pool)."""
        for peer in self._peers.values():
            peer.shh.forget(hashes)

    def note_known(self, peer: LivePeer, envelope_hash: EnvelopeHash) -> None:
        """The peer has a pooled envelope; its known-set slot is accounted to the pool."""
        if envelope_hash in self.pool and peer.shh.mark_known(envelope_hash):
            self.pool.mark_known(envelope_hash)

    def settle(self) -> None:
        """Known marks can take the pool past its cap: evict the cheapest to get back within."""
        if self.pool.bytes_used > self.pool.max_bytes:
            self.forget(self.pool.shrink())

    async def release_known(self, known: dict[EnvelopeHash, None]) -> None:
        """A peer left: its known marks no longer cost anything (in slices: it may be large)."""
        for index, envelope_hash in enumerate(list(known)):
            self.pool.unmark_known(envelope_hash)
            if index % _RELEASE_SLICE == _RELEASE_SLICE - 1:
                await asyncio.sleep(0)

    # -- expiry ----------------------------------------------------------------------------------

    def expiry_wait(self) -> float | None:
        """Seconds until the sweep has work (None: the pool is empty), as the timer to arm."""
        due = self._armed = self.pool.next_expiry()
        if due is None:
            return None
        return min(max(0.0, due - self.clock.time()), EXPIRY_CYCLE)

    def sweep(self, limit: int = _EXPIRE_SLICE) -> int:
        """Drop up to `limit` expired envelopes now; how many went."""
        gone = self.pool.expire(self.now(), limit)
        if gone:
            self.forget(gone)  # O(expired × peers), never O(pool)
            self._observers.envelopes_expired(len(gone))
        return len(gone)

    async def run_expiry(self) -> None:
        """The sweep, forever: wait for the next expiry (or an earlier one to be pooled)."""
        while True:
            self._rearm.clear()
            wait = self.expiry_wait()
            if wait is None or wait > 0:
                # asyncio.timeout, not wait_for: 3.11's wait_for loses a cancellation that
                # arrives as the event is set (the node's stop would then wait for ever).
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._rearm.wait()
                if self._rearm.is_set():
                    continue  # an envelope that expires sooner: arm again
            swept = 0
            while (count := self.sweep()) == _EXPIRE_SLICE:
                swept += count
                await asyncio.sleep(0)
            if not swept + count and wait == 0:
                await asyncio.sleep(EXPIRY_CYCLE)  # due by the pool, not by the clock: wait
