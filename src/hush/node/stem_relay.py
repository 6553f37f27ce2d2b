"""The stem's shell: sends an own envelope to the stem peer at once and relays it after its
echo or embargo (`hush.node.stem` holds the rules; simulation.md §5 item 1).

Flow: the poster pools a post (the pool keeper offers it to every peer's relay queue as usual),
then hands it here (`send`): the `Stem` core puts it under embargo — the sessions' write loops
skip what `held` contains — and it goes to the one stem peer in a normal `messages` packet,
immediately, not on a tick. The envelope is released by the pool keeper's echo callback (`echo`:
a peer sent it back), by the session's end (`peer_left`: the stem peer is gone) or by the
embargo timer (`run`, armed from `Stem.get_timer()` on the injected clock); released envelopes
are offered again to every peer, and the relay policy sends them like any relayed envelope, to
the peers that don't know them yet. Nothing new on the wire: the stem changes when and to whom,
never what. An envelope the stem peer would not accept (its PoW requirement or bloom) is not
held: it floods at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Mapping

from hush.clock import Clock
from hush.errors import HushError
from hush.node.live_peer import LivePeer
from hush.node.pool_keeper import PoolKeeper
from hush.node.stem import Stem
from hush.shh.pool import PooledEnvelope
from hush.shh.topic import bloom_matches
from hush.types import EnvelopeHash, NodeID

__all__ = ["StemRelay"]

SendBatch = Callable[[LivePeer, list[PooledEnvelope]], Awaitable[None]]


class StemRelay:
    def __init__(
        self,
        *,
        stem: Stem,
        keeper: PoolKeeper,
        clock: Clock,
        peers: Mapping[NodeID, LivePeer],
        send_batch: SendBatch,
    ) -> None:
        self.stem = stem
        self._keeper = keeper
        self.clock = clock
        self._peers = peers
        self._send_batch = send_batch
        self._rearm = asyncio.Event()

    def __contains__(self, envelope_hash: object) -> bool:
        """`hash in relay`: under embargo, not to be relayed to anyone yet."""
        return envelope_hash in self.stem

    async def send(self, entry: PooledEnvelope) -> NodeID | None:
        """Stem a freshly pooled own envelope: the stem peer it went to, or None (flooded)."""
        active = sorted(node_id for node_id, peer in self._peers.items() if peer.shh.active)
        stem = self.stem
        node_id = stem.stem_peer(active, self.clock.monotonic())
        peer = self._peers.get(node_id) if node_id is not None else None
        if peer is None:
            return None
        shh = peer.shh
        if entry.pow < shh.pow_requirement or not bloom_matches(shh.bloom, entry.bloom):
            return None  # it would not take it: relay as usual, now
        self._offer(stem.post(entry.hash, peer.node_id, self.clock.monotonic()))
        self._rearm.set()
        try:
            await self._send_batch(peer, [entry])
        except (HushError, OSError):
            self.peer_left(peer.node_id)
            return None
        return peer.node_id

    def echo(self, envelope_hash: EnvelopeHash) -> None:
        """A peer sent us this envelope: if we hold it, it is out; relay it."""
        if self.stem.echo(envelope_hash):
            self._offer((envelope_hash,))

    def peer_left(self, node_id: NodeID) -> None:
        self._offer(self.stem.peer_lost(node_id))

    def _offer(self, hashes: Iterable[EnvelopeHash]) -> None:
        pool = self._keeper.pool
        for envelope_hash in hashes:
            entry = pool.get(envelope_hash)
            if entry is None:
                continue
            for peer in self._peers.values():
                peer.offer(entry)

    async def run(self) -> None:
        """The embargo timer, forever: wait for the next deadline (or a new embargo)."""
        while True:
            self._rearm.clear()
            due = self.stem.get_timer()
            wait = None if due is None else max(0.0, due - self.clock.monotonic())
            if wait is None or wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._rearm.wait(), wait)
                continue
            self._offer(self.stem.handle_timer(self.clock.monotonic()))
