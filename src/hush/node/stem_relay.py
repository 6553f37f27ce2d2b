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

With `hops` (`hush.node.stem_hops`, opt-in) a post whose node has peers sharing the `hushstem`
capability goes to a Dandelion++ stem relay among them instead, on that capability; stem
envelopes from such peers are forwarded at once (`on_hop`) or fluffed into the pool, and what
was forwarded is fluffed here too when its fail-safe fires. Without hush peers the one-hop stem
over shh is used.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Mapping

from hush.clock import Clock
from hush.errors import DecodeError, DisconnectReason, HushError, PeerError
from hush.node.live_peer import LivePeer
from hush.node.pool_keeper import PoolKeeper
from hush.node.stem import Stem
from hush.node.stem_hops import STEM_CODE, STEM_NAME, StemHops
from hush.shh import packets
from hush.shh.envelope import Envelope
from hush.shh.pool import PooledEnvelope
from hush.shh.timing import Timing, envelope_timing
from hush.shh.topic import bloom_matches
from hush.types import EnvelopeHash, NodeID

__all__ = ["StemRelay"]

_SLACK = 1e-6  # seconds: a timer this close is due (a float clock may never reach it exactly)

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
        hops: StemHops | None = None,
    ) -> None:
        self.stem = stem
        self._keeper = keeper
        self.clock = clock
        self._peers = peers
        self._send_batch = send_batch
        self.hops = hops
        self._rearm = asyncio.Event()

    def __contains__(self, envelope_hash: object) -> bool:
        """`hash in relay`: under embargo, not to be relayed to anyone yet."""
        return envelope_hash in self.stem

    def __len__(self) -> int:
        """Envelopes under embargo (0: the write loops need not look)."""
        return len(self.stem)

    async def send(self, entry: PooledEnvelope) -> NodeID | None:
        """Stem a freshly pooled own envelope: the stem peer it went to, or None (flooded)."""
        if self.hops is not None and (relay := self._hop_route(None)) is not None:
            config = self.hops.config
            now = self.clock.monotonic()
            self._offer(
                self.stem.post(
                    entry.hash,
                    relay,
                    now,
                    config.source_embargo,
                    config.source_floor,
                    config.echo_delay,
                )
            )
            self._rearm.set()
            if await self._send_hop(self._peers[relay], [entry.raw]):
                return relay
            self.peer_left(relay)
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
        if self.stem.echo(envelope_hash, self.clock.monotonic()):
            self._offer((envelope_hash,))
        else:
            self._rearm.set()  # a multi-hop post's release moved to just after its echo

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

    # -- the multi-hop stem (opt-in) ----------------------------------------------------------

    def _hush_peers(self) -> list[NodeID]:
        return sorted(
            node_id
            for node_id, peer in self._peers.items()
            if peer.shh.active
            and any(name == STEM_NAME for name, _ in peer.connection.remote_capabilities)
        )

    def _hop_route(self, inbound: NodeID | None) -> NodeID | None:
        assert self.hops is not None
        peers = self._hush_peers()
        if not peers:
            return None
        return self.hops.route(inbound, peers, self.clock.monotonic())

    async def _send_hop(self, peer: LivePeer, raws: list[bytes]) -> bool:
        try:
            await peer.connection.send_message(STEM_NAME, STEM_CODE, packets.encode_messages(raws))
        except (HushError, OSError):
            return False
        return True

    async def on_hop(self, peer: LivePeer, code: int, payload: bytes) -> None:
        """A `hushstem` message from a peer: forward each envelope along the stem at once (held
        for its fail-safe), or fluff it into the pool. Malformed: the peer is dropped."""
        if self.hops is None or code != STEM_CODE:
            return
        try:
            envelopes = packets.decode_messages(payload)
        except DecodeError as exc:
            raise PeerError(
                f"invalid stem message: {exc}", DisconnectReason.SUBPROTOCOL_ERROR
            ) from exc
        pool = self._keeper.pool
        now = self._keeper.now()
        for envelope in envelopes:
            timing, diff = envelope_timing(envelope, now)
            if (
                timing is not Timing.CURRENT
                or envelope.size() > pool.max_message_size
                or envelope.pow(diff) < pool.min_pow
            ):
                continue  # what the pool would refuse is not carried either
            if envelope.hash in pool:
                self.hops.seen(envelope.hash)
                continue
            relay = self._hop_route(peer.node_id)
            if relay is not None and await self._send_hop(self._peers[relay], [envelope.encode()]):
                self._fluff(self.hops.hold(envelope, peer.node_id, self.clock.monotonic()))
                self._rearm.set()
            else:
                self._fluff([(envelope, peer.node_id)])

    def _fluff(self, items: Iterable[tuple[Envelope, NodeID | None] | Envelope]) -> None:
        for item in items:
            envelope, source = item if isinstance(item, tuple) else (item, None)
            self._keeper.add(envelope, source=source)

    async def run(self) -> None:
        """The embargo and fail-safe timers, forever: wait for the next deadline (or a new
        embargo or hold)."""
        while True:
            self._rearm.clear()
            timers = [self.stem.get_timer()]
            if self.hops is not None:
                timers.append(self.hops.get_timer())
            due = min((t for t in timers if t is not None), default=None)
            wait = None if due is None else due - self.clock.monotonic()
            if wait is None or wait > _SLACK:
                # asyncio.timeout, not wait_for: 3.11's wait_for loses a cancellation that
                # arrives as the event is set (the node's stop would then wait for ever).
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._rearm.wait()
                continue
            # Due (or so nearly that a float clock could not wait for it): handle it now.
            assert due is not None
            now = max(self.clock.monotonic(), due)
            self._offer(self.stem.handle_timer(now))
            if self.hops is not None:
                self._fluff(self.hops.handle_timer(now))
