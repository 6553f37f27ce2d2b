"""The per-peer shh session: status exchange, read dispatch, rate limits, and the write loop
under the relay policy (whisper-v6.md §3.3–3.7, hardening.md §2.3).

`Sessions` holds what every session shares (the pool keeper, delivery, the relay policy, the rate
limiter, the clock, the observers) and drives one `LivePeer` per connected peer: `serve` sends our
status, waits for the peer's under the deadline `ShhPeer.get_timer()` gives (armed here, on the
injected clock), then reads and dispatches packets while a write loop sends what the relay
policy picks (on geth's fixed tick, a writer with nothing pending does not wake: it parks
until something is offered, and the offer itself arms the timer for the tick that falls on,
`relay.next_tick`, through `LivePeer.on_pending`). It also
keeps what we ask of peers (our PoW requirement, bloom, light flag and maximum message size)
and tells them when it changes. Every packet goes out through `ShhPeer`'s
output queue (`flush`): this module never encodes an shh packet. A session's writer and its
status read are its own sub-tasks, awaited before `serve` returns; `serve` runs in the task that
owns the link (the node's task group for a dialled peer, the transport's handler for an inbound
one). It knows nothing of admission or dialling (the registry) nor the facade.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Container, Mapping

from hush.clock import Clock
from hush.enode import short_id
from hush.errors import DisconnectReason, HushError, PeerError, UsageError
from hush.net.transport import PeerLink
from hush.node.delivery import Delivery
from hush.node.fanout import Observers
from hush.node.hooks import NodeObserver
from hush.node.live_peer import LivePeer
from hush.node.pool_keeper import PoolKeeper
from hush.node.ratelimit import Action, RateLimiter, Verdict
from hush.node.relay import RelayPolicy, next_tick
from hush.node.stem_hops import STEM_NAME
from hush.shh.envelope import Envelope
from hush.shh.filters import Filter
from hush.shh.packets import PROTOCOL_NAME, PacketCode, Status
from hush.shh.peer import (
    BloomChanged,
    DirectMessage,
    Envelopes,
    MailPacket,
    MailRequest,
    PeerEvent,
    PowRequirementChanged,
    ShhPeer,
)
from hush.shh.pool import MAX_MESSAGE_SIZE, PooledEnvelope
from hush.shh.topic import BLOOM_SIZE, aggregate_blooms, bloom_matches, topic_to_bloom
from hush.types import Bloom, EnvelopeHash, NodeID

__all__ = ["MailCallback", "Sessions"]

log = logging.getLogger(__name__)

MailCallback = Callable[[NodeID, Envelope | MailPacket], Awaitable[None]]
"""Handles one archive packet from a peer: a 126 envelope, or a `MailPacket` (126 raw, 123/124)."""

_SCAN_SLICE = 2048  # candidates the relay policy sees before the loop is given back
_PASS = Verdict()


def _wire_size(batch: list[PooledEnvelope]) -> int:
    return sum([len(entry.raw) for entry in batch])


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def _sleep_until(loop: asyncio.AbstractEventLoop, when: float) -> None:
    """`asyncio.sleep` to the loop time `when` exactly (`sleep(when - time())` can round off)."""
    future = loop.create_future()
    timer = loop.call_at(when, _wake, future)
    try:
        await future
    except BaseException:
        timer.cancel()  # a timer that fired needs no cancelling
        raise


class _Waker:
    """A parked write loop's wake-up, armed by the very offer that makes its peer pending
    (`LivePeer.on_pending`): on arrival, the loop's future is resolved at once; on geth's tick,
    the timer for the tick that offer falls on (`relay.next_tick`) is armed there and then. The
    loop's turn starts where it did when it waited on an event and armed its tick after waking
    (the same virtual instant, the timers in the same order), one event-loop turn sooner."""

    __slots__ = ("_interval", "_loop", "_ticking", "due", "future", "timer", "wake")

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float, ticking: bool) -> None:
        self._loop = loop
        self._interval = interval
        self._ticking = ticking
        self.due = 0.0
        """The tick the loop was due at when it parked."""
        self.future: asyncio.Future[None] = loop.create_future()
        self.timer: asyncio.TimerHandle | None = None
        self.wake = self._arm  # bound once: `on_pending` is set to it at every park

    def _arm(self) -> None:
        if self._ticking:
            loop = self._loop
            when = next_tick(self.due, loop.time(), self._interval)
            self.timer = loop.call_at(when, _wake, self.future)
        else:
            _wake(self.future)

    async def park(self, peer: LivePeer, due: float) -> None:
        """Wait until something is offered to `peer` (and, ticking, for its tick)."""
        self.due = due
        future = self.future = self._loop.create_future()
        self.timer = None
        peer.on_pending = self.wake
        try:
            await future
        except BaseException:
            peer.on_pending = None
            if self.timer is not None:
                self.timer.cancel()
            raise


class Sessions:
    def __init__(
        self,
        *,
        keeper: PoolKeeper,
        delivery: Delivery,
        policy: RelayPolicy,
        limiter: RateLimiter,
        observers: NodeObserver,
        clock: Clock,
        light: bool = False,
        restrict_light: bool = True,
        peers: Mapping[NodeID, LivePeer],
    ) -> None:
        self.keeper = keeper
        self.delivery = delivery
        self.policy = policy
        self.limiter = limiter
        self._observers = observers
        self._timed_turns = not isinstance(observers, Observers) or observers.observes(
            "broadcast_turn"
        )  # the clock is read around a turn only for an observer that times it
        self.clock = clock
        self.light = light
        self.restrict_light = restrict_light
        self._peers = peers
        self.on_mail: MailCallback | None = None
        """The archive server's handler; None: code 126 is ignored."""
        self.held: Container[EnvelopeHash] = ()
        """Own envelopes under the stem's embargo: relayed to nobody yet (`hush.node.stem`)."""
        self.on_stem_hop: Callable[[LivePeer, int, bytes], Awaitable[None]] | None = None
        """Handles a `hushstem` message (the opt-in multi-hop stem); None: ignored."""
        self.on_leave: Callable[[NodeID], None] | None = None
        """Told when an active session ends (the stem loses its peer)."""

    def status(self) -> Status:
        pool = self.keeper.pool
        return Status(pow_requirement=pool.min_pow, bloom=pool.bloom, light=self.light)

    def open(self, connection: PeerLink, *, trusted: bool, static: bool) -> LivePeer:
        """The session state for a newly admitted peer."""
        shh = ShhPeer(
            local_light=self.light,
            restrict_light=self.restrict_light,
            max_message_size=self.keeper.pool.max_message_size,
            trusted=trusted,
            accept_mail_requests=self.on_mail is not None,
        )
        return LivePeer(connection, shh, static=static)

    # -- output ----------------------------------------------------------------------------------

    async def flush(self, peer: LivePeer) -> None:
        """Hand what the peer's shh state queued to its link, in order."""
        for code, payload in peer.shh.data_to_send():
            await peer.connection.send_message(PROTOCOL_NAME, code, payload)
            self._observers.packet_sent(peer.node_id, code, len(payload))

    async def tell_all(self, queue: Callable[[ShhPeer], None]) -> None:
        """Queue a packet for every active peer (`queue` does it) and send it; a peer that has
        gone meanwhile is skipped."""
        for peer in list(self._peers.values()):
            if peer.shh.active:
                queue(peer.shh)
                with contextlib.suppress(HushError, OSError):
                    await self.flush(peer)

    async def send_direct(self, peer: LivePeer, envelope: Envelope) -> None:
        """A direct message (code 127) to this peer."""
        peer.shh.send_direct(envelope)
        await self.flush(peer)

    # -- what we ask of peers (whisper-v6.md §3.4: PoW requirement, bloom) -----------------------

    async def set_min_pow(self, value: float) -> None:
        if not value >= 0 or value == float("inf"):
            raise UsageError(f"invalid PoW: {value}")
        self.keeper.pool.set_min_pow(value, self.keeper.now())
        await self.tell_all(lambda shh: shh.send_pow_requirement(value))

    async def set_bloom(self, bloom: bytes) -> None:
        if len(bloom) != BLOOM_SIZE:
            raise UsageError(f"invalid bloom filter size: {len(bloom)}")
        value = Bloom(bytes(bloom))
        self.keeper.pool.set_bloom(value, self.keeper.now())
        await self.tell_all(lambda shh: shh.send_bloom(value))

    def widen_bloom(self, flt: Filter) -> Bloom | None:
        """geth: a node with a bloom widens it to a new filter's topics (a full node stays full);
        the widened bloom, for the caller to `tell_all`, or None when it did not change."""
        pool = self.keeper.pool
        current = pool.bloom
        if current is None or not flt.topics:
            return None
        wanted = aggregate_blooms(*map(topic_to_bloom, flt.topics))
        if bloom_matches(current, wanted):
            return None
        merged = aggregate_blooms(current, wanted)
        pool.set_bloom(merged, self.keeper.now())
        return merged

    def set_max_message_size(self, size: int) -> None:
        if size > MAX_MESSAGE_SIZE:
            raise UsageError(f"message size too large [{size}>{MAX_MESSAGE_SIZE}]")
        self.keeper.pool.max_message_size = size
        for peer in self._peers.values():
            peer.shh.max_message_size = size

    # -- one session -----------------------------------------------------------------------------

    async def serve(self, peer: LivePeer) -> None:
        """Run the session until the peer fails or leaves (raises why)."""
        peer.shh.send_status(self.status(), self.clock.monotonic())
        await self.flush(peer)
        await self._await_status(peer)
        writer = asyncio.ensure_future(self._write_loop(peer))
        peer.rescan_pool()
        try:
            await self._read_loop(peer)
        finally:
            writer.cancel()
            if self.on_leave is not None:
                self.on_leave(peer.node_id)
            with contextlib.suppress(asyncio.CancelledError, HushError, OSError):
                await writer

    async def _await_status(self, peer: LivePeer) -> None:
        """Read until the peer's status arrived, failing it when `ShhPeer`'s timer is due. The
        read is never cancelled by an early wake-up: only a due timer ends it."""
        shh = peer.shh
        while not shh.active:
            read = asyncio.ensure_future(self._read_one(peer))
            try:
                while not read.done():
                    timer = shh.get_timer()
                    delay = None if timer is None else max(0.0, timer - self.clock.monotonic())
                    await asyncio.wait((read,), timeout=delay)
                    if not read.done():
                        shh.handle_timer(self.clock.monotonic())  # raises once due
                read.result()
            finally:
                if not read.done():
                    read.cancel()
                    with contextlib.suppress(asyncio.CancelledError, HushError, OSError):
                        await read

    async def _read_one(self, peer: LivePeer) -> None:
        capability, code, payload = await peer.connection.read_message()
        if capability != PROTOCOL_NAME:
            await self._other_capability(peer, capability, code, payload)
            return
        self._observers.packet_received(peer.node_id, code, len(payload))
        if self.limiter.enabled and self._rate_limited(peer, code, len(payload)):
            return  # enforce mode: an excess `messages` packet is dropped unread
        await self._handle(peer, peer.shh.receive(code, payload))

    async def _read_loop(self, peer: LivePeer) -> None:
        """`_read_one` for ever, what it looks up once per packet bound once per session."""
        read_message = peer.connection.read_message
        node_id = peer.node_id
        received = self._observers.packet_received
        limited = self.limiter.enabled
        check = self.limiter.check
        host = peer.connection.remote_address[0] if limited else ""  # a link's, for good
        monotonic = self.clock.monotonic
        shh = peer.shh
        receive = shh.receive
        ingest = self.keeper.ingest
        while True:
            capability, code, payload = await read_message()
            if capability != PROTOCOL_NAME:
                await self._other_capability(peer, capability, code, payload)
            else:
                size = len(payload)
                received(node_id, code, size)
                # enforce mode: an excess `messages` packet is dropped unread (`_rate_limited`,
                # inlined up to a verdict that is not a pass)
                verdict = (
                    check(
                        node_id,
                        host,
                        size,
                        monotonic(),
                        droppable=code == PacketCode.MESSAGES and shh.active,
                        exempt=peer.static or shh.trusted,
                    )
                    if limited
                    else _PASS
                )
                if verdict.action is None or not self._verdict(peer, verdict):
                    event = receive(code, payload)
                    if type(event) is Envelopes:
                        await ingest(peer, event)
                    else:
                        await self._handle(peer, event)
                    del event
            del payload  # a packet is not kept alive while the next one is awaited

    async def _other_capability(
        self, peer: LivePeer, capability: str, code: int, payload: bytes
    ) -> None:
        hop = capability == STEM_NAME and self.on_stem_hop is not None and peer.shh.active
        if hop and not (self.limiter.enabled and self._rate_limited(peer, code, len(payload))):
            assert self.on_stem_hop is not None
            await self.on_stem_hop(peer, code, payload)

    async def _handle(self, peer: LivePeer, event: PeerEvent) -> None:
        match event:
            case Envelopes() as batch:
                await self.keeper.ingest(peer, batch)
            case DirectMessage(envelope):
                self.delivery.deliver(envelope, envelope.pow(), envelope.hash, p2p=True)
            case MailRequest(envelope):
                if self.on_mail is not None:
                    await self.on_mail(peer.node_id, envelope)
            case PowRequirementChanged() | BloomChanged():
                peer.rescan_pool()
            case _:
                pass

    def _rate_limited(self, peer: LivePeer, code: int, size: int) -> bool:
        """Account one incoming shh packet; True: drop it. Raises PeerError past the tolerance."""
        verdict = self.limiter.check(
            peer.node_id,
            peer.connection.remote_address[0],
            size,
            self.clock.monotonic(),
            droppable=code == PacketCode.MESSAGES and peer.shh.active,
            exempt=peer.static or peer.shh.trusted,
        )
        return not verdict.passed and self._verdict(peer, verdict)

    def _verdict(self, peer: LivePeer, verdict: Verdict) -> bool:
        """Act on a verdict that is not a pass: report it, True to drop the packet, or raise
        PeerError past the tolerance."""
        limiter = self.limiter
        if verdict.report:  # observe mode's lines are information, enforce's a warning
            log.log(
                logging.INFO if verdict.action is Action.OBSERVED else logging.WARNING,
                "rate limit (%s): %d packet(s) over the limit since the last report, latest "
                "from %s at %s over %s",
                limiter.config.mode.value,
                verdict.report,
                short_id(peer.node_id),
                peer.connection.remote_address[0],
                ", ".join(f"{scope.value} {unit.value}/s" for scope, unit in verdict.exceeded),
            )
        if verdict.action is Action.DISCONNECTED:
            raise PeerError(
                f"rate limit exceeded {verdict.strikes} times in {limiter.config.window:g} s",
                DisconnectReason.SUBPROTOCOL_ERROR,
            )
        return verdict.action is Action.DROPPED

    async def _write_loop(self, peer: LivePeer) -> None:
        keeper = self.keeper
        pool = keeper.pool
        max_batch = pool.max_message_size
        policy = self.policy
        on_arrival = policy.on_arrival
        interval = policy.interval
        loop = asyncio.get_running_loop()
        waker = _Waker(loop, interval, not on_arrival)
        timed = self._timed_turns
        local = pool.local
        due = loop.time() + interval  # a ticking loop sleeps before its first turn
        try:
            while True:
                # geth's fixed tick, without idle wake-ups: a turn with nothing pending does
                # nothing, so a loop with nothing pending parks until something is, then sleeps
                # until the tick that falls on (the offer arms it: `_Waker`).
                if not peer.pending:
                    await waker.park(peer, due)
                elif not on_arrival:
                    await _sleep_until(loop, due)
                peer.pending = False
                began = self.clock.monotonic() if timed else 0.0
                candidates: list[PooledEnvelope]
                if peer.rescan:
                    candidates = list(pool)
                    peer.rescan = False
                else:
                    candidates = pool.pooled(peer.fresh)  # those still pooled
                peer.fresh = []
                if candidates:
                    # The policy sees the candidates a slice at a time (the loop is given back
                    # between slices); consecutive small batches are joined so packets stay full.
                    pending: list[PooledEnvelope] = []
                    pending_size = -1  # not summed until a second batch comes
                    whole = len(candidates) <= _SCAN_SLICE
                    for start in range(0, len(candidates), _SCAN_SLICE):
                        chunk = candidates if whole else candidates[start : start + _SCAN_SLICE]
                        if start:  # the loop was given back since `candidates` was read
                            chunk = [e for e in chunk if e.hash in pool]
                        if self.held:  # own envelopes under the stem's embargo: to nobody yet
                            chunk = [e for e in chunk if e.hash not in self.held]
                        for batch in policy.batches(peer.shh, chunk, local, self.light, max_batch):
                            if not pending:
                                pending, pending_size = batch, -1  # the policy's: ours now
                                continue
                            if pending_size < 0:
                                pending_size = _wire_size(pending)
                            size = _wire_size(batch)
                            if pending_size + size > max_batch:
                                await self.send_batch(peer, pending)
                                pending, pending_size = batch, size
                            else:
                                pending.extend(batch)
                                pending_size += size
                        if not whole and start + _SCAN_SLICE < len(candidates):
                            await asyncio.sleep(0)
                    if pending:
                        await self.send_batch(peer, pending)
                    if timed:
                        turn = self.clock.monotonic() - began
                        self._observers.broadcast_turn(peer.node_id, turn, len(candidates))
                if on_arrival:
                    await asyncio.sleep(interval)
                else:
                    due = loop.time() + interval  # as `asyncio.sleep(interval)` would arm it
        finally:
            peer.on_pending = None

    async def send_batch(self, peer: LivePeer, batch: list[PooledEnvelope]) -> None:
        """One `messages` packet to this peer now, its envelopes marked known."""
        keeper = self.keeper
        shh = peer.shh
        keeper.pool.mark_known_by(shh.known, batch)  # note_known for the whole batch
        keeper.settle()
        shh.send_messages([entry.raw for entry in batch])
        observers = self._observers
        connection = peer.connection
        for code, payload in shh.data_to_send():  # `flush`, inlined: one coroutine less
            await connection.send_message(PROTOCOL_NAME, code, payload)
            observers.packet_sent(peer.node_id, code, len(payload))
        observers.bundle_sent(peer.node_id, len(batch))
