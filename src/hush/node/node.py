"""The hush node: a Whisper v6 node on devp2p, and the facade applications use.

This is the asyncio shell around the pure cores: it owns the clock, the randomness, the sockets
(through `hush.net`), the sealer's workers and the timers. The shh protocol state per peer is
`hush.shh.peer.ShhPeer`; which envelope goes to which peer is the relay policy's decision
(`hush.node.relay`). Applications (JSON-RPC, CLI, archive) use the public methods only.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field

from hush.clock import SYSTEM_CLOCK, Clock
from hush.crypto.keys import PrivateKey, public_key_from_bytes
from hush.enode import Enode, host_port, load_or_create_node_key, short_id
from hush.errors import (
    DisconnectReason,
    EnvelopeRejected,
    HushError,
    InvalidKeyError,
    PeerError,
    UsageError,
)
from hush.net import P2PConfig, PeerDisconnected
from hush.net.transport import Listening, PeerLink, TcpTransport, Transport
from hush.node.config import NodeConfig
from hush.node.hooks import DialOutcome, NodeObserver, PeerSource
from hush.node.keystore import KeyStore, new_id
from hush.node.ratelimit import Action, RateLimiter, RateLimitStats
from hush.node.relay import BroadcastPolicy, RelayPolicy
from hush.sealer import Sealer
from hush.shh import packets
from hush.shh.envelope import Envelope
from hush.shh.errors import (
    ERR_HUGE,
    ERR_INVALID_PUBLIC_KEY,
    ERR_MISSING_TOPIC,
    ERR_POST_LOW_POW,
    ERR_SYM_ASYM,
)
from hush.shh.filters import DEFAULT_FILTER_BYTES, Filter, FilterSet, message_cost
from hush.shh.message import DEFAULT_TTL, OpenedMessage, wrap
from hush.shh.packets import PROTOCOL_LENGTH, PROTOCOL_NAME, PROTOCOL_VERSION, PacketCode
from hush.shh.peer import (
    BloomChanged,
    DirectMessage,
    Envelopes,
    MailRequest,
    PowRequirementChanged,
    ShhPeer,
)
from hush.shh.pool import MAX_MESSAGE_SIZE, AddOutcome, AddStatus, EnvelopePool, PooledEnvelope
from hush.shh.topic import BLOOM_SIZE, aggregate_blooms, bloom_matches, topic_to_bloom
from hush.types import Bloom, EnvelopeHash, KeyID, NodeID, RandomBytes, Topic

__all__ = ["MailHandler", "Node", "PeerInfo", "PostRequest", "Subscription"]

log = logging.getLogger(__name__)

MailHandler = Callable[["Node", NodeID, Envelope], Awaitable[None]]
"""Called for each archive request (code 126) a peer sends; the archive server plugs in here."""

_EXPIRY_CYCLE = 1.0  # geth's expirationCycle
_STATUS_TIMEOUT = 5.0
_SUBSCRIPTION_QUEUE = 1024  # geth's messageQueueLimit
_MAX_BACKOFF = 30.0
_SOURCE_DIALS = 3  # candidates of the peer source dialled at once
_SOURCE_INTERVAL = 5.0  # seconds between two looks at the peer count, unless a peer comes or goes
_SOURCE_GAP = 0.5  # …and at least this long: a source's dials are bounded (6 per second at most)
_ZERO_TOPIC = Topic(bytes(4))
# Fair event loop: a peer's big packet, a rescan of the pool or an expiry sweep gives the loop
# back after this many envelopes (each slice is a few milliseconds at most).
_INGEST_SLICE = 256
_SCAN_SLICE = 2048
_EXPIRE_SLICE = 4096
_RELEASE_SLICE = 8192
_FRESH_LIMIT = 16384  # envelopes queued for one peer's next turn; beyond, it rescans the pool


@dataclass(frozen=True, slots=True)
class PostRequest:
    """A message to post: geth's NewMessage (shh_post), in Python types."""

    payload: bytes = b""
    topic: Topic = _ZERO_TOPIC
    sym_key_id: str | None = None
    public_key: bytes | None = None
    """The recipient's 65-byte public key (asymmetric encryption)."""
    signer_id: str | None = None
    """Id of a local key pair that signs the message."""
    ttl: int = DEFAULT_TTL
    padding: bytes | None = None
    """None or empty: random padding to a multiple of 256 bytes."""
    pow_time: float = 5.0
    pow_target: float = 0.2
    target_peer: str | None = None
    """enode URL of a connected peer: send directly (code 127) instead of into the pool."""


@dataclass(frozen=True, slots=True)
class PeerInfo:
    node_id: NodeID
    enode: str
    name: str
    capabilities: tuple[str, ...]
    local_address: str
    remote_address: str
    inbound: bool
    trusted: bool
    static: bool
    pow_requirement: float
    bloom: Bloom | None
    light: bool


class Subscription:
    """Messages matching one filter, as an async iterator, pushed the moment they arrive."""

    def __init__(self, node: Node, filter_id: KeyID):
        self.id = filter_id
        self._node = node
        self._queue: asyncio.Queue[OpenedMessage | None] = asyncio.Queue(_SUBSCRIPTION_QUEUE)
        self.dropped = 0
        self._bytes = 0

    def _push(self, message: OpenedMessage) -> None:
        # A slow consumer loses the oldest, never blocks the node; the queue is bounded in
        # messages (geth's 1024) and in bytes (1024 x 1 MiB would be 1 GiB).
        cost = message_cost(message)
        while not self._queue.empty() and (
            self._queue.full() or self._bytes + cost > DEFAULT_FILTER_BYTES
        ):
            self._taken(self._queue.get_nowait())
            self.dropped += 1
        self._bytes += cost
        self._queue.put_nowait(message)

    def _taken(self, message: OpenedMessage | None) -> OpenedMessage | None:
        if message is not None:
            self._bytes -= message_cost(message)
        return message

    def close(self) -> None:
        if self._node._subscriptions.pop(self.id, None) is not None:
            self._node.uninstall_filter(self.id)
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(None)

    async def get(self) -> OpenedMessage | None:
        """The next message, or None once closed."""
        return self._taken(await self._queue.get())

    def __aiter__(self) -> AsyncIterator[OpenedMessage]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[OpenedMessage]:
        while (message := self._taken(await self._queue.get())) is not None:
            yield message


class _Observers(NodeObserver):
    """Fans each accounting point out to the node's observers; one that raises is logged."""

    def __init__(self, observers: Sequence[NodeObserver]) -> None:
        self.observers = tuple(observers)

    def _each(self, name: str, *args: object) -> None:
        for observer in self.observers:
            try:
                getattr(observer, name)(*args)
            except Exception:
                log.exception("observer %r failed in %s", observer, name)

    def peer_connected(self, node_id: NodeID, inbound: bool, client_id: str) -> None:
        self._each("peer_connected", node_id, inbound, client_id)

    def peer_disconnected(self, node_id: NodeID, why: str) -> None:
        self._each("peer_disconnected", node_id, why)

    def packet_received(self, node_id: NodeID, code: int, size: int) -> None:
        if self.observers:
            self._each("packet_received", node_id, code, size)

    def packet_sent(self, node_id: NodeID, code: int, size: int) -> None:
        if self.observers:
            self._each("packet_sent", node_id, code, size)

    def envelope_received(self, outcome: AddOutcome, source: NodeID | None, local: bool) -> None:
        if self.observers:
            self._each("envelope_received", outcome, source, local)

    def envelope_accepted(
        self, entry: PooledEnvelope, envelope: Envelope, source: NodeID | None, local: bool
    ) -> None:
        if self.observers:
            self._each("envelope_accepted", entry, envelope, source, local)

    def envelopes_expired(self, count: int) -> None:
        self._each("envelopes_expired", count)

    def message_delivered(self, count: int, direct: bool) -> None:
        self._each("message_delivered", count, direct)

    def envelope_sealed(self, seconds: float, pow_target: float) -> None:
        self._each("envelope_sealed", seconds, pow_target)


@dataclass(eq=False, slots=True)
class _Peer:
    connection: PeerLink
    shh: ShhPeer
    static: bool
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    fresh: list[EnvelopeHash] = field(default_factory=list)
    """Envelopes pooled since this peer's last turn: what the relay policy considers next.
    Bounded: a peer that falls this far behind gets a rescan of the pool instead."""
    rescan: bool = True
    """Consider the whole pool next turn: the peer is new or changed its PoW or bloom."""

    def offer(self, entry: PooledEnvelope) -> None:
        if not self.rescan:
            if len(self.fresh) >= _FRESH_LIMIT:
                self.rescan_pool()
            else:
                self.fresh.append(entry.hash)
        self.wake.set()

    def rescan_pool(self) -> None:
        self.rescan = True
        self.fresh.clear()
        self.wake.set()

    @property
    def node_id(self) -> NodeID:
        return self.connection.node_id


class Node:
    """A Whisper v6 node. `async with Node(config) as node:` starts and stops it."""

    def __init__(
        self,
        config: NodeConfig | None = None,
        *,
        node_key: PrivateKey | None = None,
        relay_policy: RelayPolicy | None = None,
        mail_handler: MailHandler | None = None,
        random_bytes: RandomBytes = os.urandom,
        clock: Clock = SYSTEM_CLOCK,
        transport: Transport | None = None,
        observers: Sequence[NodeObserver] = (),
        peer_source: PeerSource | None = None,
    ):
        self.config = config or NodeConfig()
        self._random_bytes = random_bytes
        self.clock = clock
        self._transport: Transport = transport if transport is not None else TcpTransport()
        self._observers = _Observers(observers)
        self.peer_source = peer_source
        self._source_wake = asyncio.Event()
        self.relay_policy: RelayPolicy = relay_policy or BroadcastPolicy(self.config.send_interval)
        self.mail_handler = mail_handler
        if node_key is None:
            node_key = (
                load_or_create_node_key(self.config.datadir, random_bytes)
                if self.config.datadir is not None
                else PrivateKey.generate(random_bytes)
            )
        self.node_key = node_key
        self.keys = KeyStore(random_bytes)
        self.pool = EnvelopePool(
            min_pow=self.config.min_pow,
            max_message_size=self.config.max_message_size,
            max_bytes=self.config.pool_bytes,
            source_budget=int(self.config.pool_bytes * self.config.pool_peer_share),
        )
        self.filters = FilterSet()
        self.light = self.config.light
        self._limiter = RateLimiter(self.config.rate_limit_config())
        self._subscriptions: dict[KeyID, Subscription] = {}
        self._peers: dict[NodeID, _Peer] = {}
        self._static: dict[NodeID, Enode] = {}
        self._trusted: set[NodeID] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._dialers: dict[NodeID, asyncio.Task[None]] = {}
        self._server: Listening | None = None
        self._sealer = Sealer(
            self.config.pow_processes,
            clock=clock.monotonic,
            random_bytes=random_bytes,
            max_work_time=self.config.max_pow_time,
            queue_limit=self.config.seal_queue,
        )
        self.listen_port: int | None = None
        self._running = False

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def p2p_config(self) -> P2PConfig:
        return P2PConfig(
            client_id=self.config.client_id,
            capabilities=((PROTOCOL_NAME, PROTOCOL_VERSION, PROTOCOL_LENGTH),),
            # The shh layer checks packets against the node's current limit (geth drops an
            # oversized packet as a subprotocol error); the transport only enforces the hard cap.
            max_message_size=MAX_MESSAGE_SIZE + 1024,
            max_pending_inbound=self.config.max_pending_peers,
            max_inbound_per_ip=self.config.max_peers_per_ip,
            handshake_timeout=self.config.handshake_timeout,
            read_timeout=self.config.read_timeout,
            write_timeout=self.config.write_timeout,
            ping_interval=self.config.ping_interval,
        )

    async def start(self) -> None:
        if self._running:
            return
        self._running = True
        if self.config.listen:
            try:
                self._server = await self._transport.listen(
                    self.node_key,
                    self.config.listen_host,
                    self.config.listen_port,
                    self.p2p_config,
                    self._on_connection,
                    self._admit,
                    self._random_bytes,
                )
            except BaseException:
                self._running = False
                raise
            self.listen_port = self._server.address[1]
        self._spawn(self._expiry_loop())
        if self.peer_source is not None:
            self._spawn(self._source_loop(self.peer_source))
        for url in self.config.trusted_peers:
            self.add_trusted_peer(url)
        for url in self.config.static_peers:
            self.add_peer(url)
        log.info("node started: %s", self.enode)

    async def stop(self) -> None:
        if not self._running:
            return
        self._running = False
        sealer_stopped = self._sealer.shutdown()  # seals fail now; workers leave within a slice
        if self._server is not None:
            self._server.close()
        await asyncio.gather(
            *(
                asyncio.wait_for(peer.connection.disconnect(DisconnectReason.QUITTING), 1)
                for peer in self._peers.values()
            ),
            return_exceptions=True,  # a peer that's gone already is fine
        )
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for subscription in list(self._subscriptions.values()):
            subscription.close()
        if self._server is not None:
            await self._server.wait_closed()
        try:
            await asyncio.wait_for(asyncio.wrap_future(sealer_stopped), 1.0)
        except TimeoutError:  # daemon threads: they can't keep the process alive
            log.warning("PoW workers still busy; not waiting for them")
        log.info("node stopped")

    async def __aenter__(self) -> Node:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _spawn(self, coroutine: Awaitable[None]) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _now(self) -> int:
        return int(self.clock.time())

    @property
    def enode(self) -> str:
        host = self.config.advertise_host or self.config.listen_host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        return str(Enode(self.node_key.node_id, host, self.listen_port or 0))

    # -- settings --------------------------------------------------------------------------------

    @property
    def min_pow(self) -> float:
        return self.pool.min_pow

    @property
    def max_message_size(self) -> int:
        return self.pool.max_message_size

    @property
    def bloom(self) -> Bloom | None:
        return self.pool.bloom

    async def set_min_pow(self, value: float) -> None:
        if not value >= 0 or value == float("inf"):
            raise UsageError(f"invalid PoW: {value}")
        self.pool.set_min_pow(value, self._now())
        await self._tell_peers(PacketCode.POW_REQUIREMENT, packets.encode_pow_requirement(value))

    async def set_bloom(self, bloom: bytes) -> None:
        if len(bloom) != BLOOM_SIZE:
            raise UsageError(f"invalid bloom filter size: {len(bloom)}")
        self.pool.set_bloom(Bloom(bytes(bloom)), self._now())
        await self._tell_peers(PacketCode.BLOOM_FILTER, packets.encode_bloom(Bloom(bytes(bloom))))

    def set_max_message_size(self, size: int) -> None:
        if size > MAX_MESSAGE_SIZE:
            raise UsageError(f"message size too large [{size}>{MAX_MESSAGE_SIZE}]")
        self.pool.max_message_size = size
        for peer in self._peers.values():
            peer.shh.max_message_size = size

    async def _tell_peers(self, code: PacketCode, payload: bytes) -> None:
        for peer in list(self._peers.values()):
            if peer.shh.active:
                with contextlib.suppress(HushError, OSError):
                    await peer.connection.send_message(PROTOCOL_NAME, code, payload)
                    self._observers.packet_sent(peer.node_id, code, len(payload))

    def _status(self) -> packets.Status:
        return packets.Status(
            pow_requirement=self.pool.min_pow, bloom=self.pool.bloom, light=self.light
        )

    # -- rate limits (hardening.md §2.3) ---------------------------------------------------------

    def rate_limit_stats(self) -> RateLimitStats:
        """The ingress rate limiter's counters since start (for metrics)."""
        return self._limiter.stats()

    def _rate_limited(self, peer: _Peer, code: int, size: int) -> bool:
        """Account one incoming shh packet; True: drop it. Raises PeerError past the tolerance."""
        verdict = self._limiter.check(
            peer.node_id,
            peer.connection.remote_address[0],
            size,
            self.clock.monotonic(),
            droppable=code == PacketCode.MESSAGES and peer.shh.active,
            exempt=peer.static or peer.shh.trusted,
        )
        if verdict.passed:
            return False
        if verdict.report:  # observe mode's lines are information, enforce's a warning
            log.log(
                logging.INFO if verdict.action is Action.OBSERVED else logging.WARNING,
                "rate limit (%s): %d packet(s) over the limit since the last report, latest "
                "from %s at %s over %s",
                self._limiter.config.mode.value,
                verdict.report,
                short_id(peer.node_id),
                peer.connection.remote_address[0],
                ", ".join(f"{scope.value} {unit.value}/s" for scope, unit in verdict.exceeded),
            )
        if verdict.action is Action.DISCONNECTED:
            raise PeerError(
                f"rate limit exceeded {verdict.strikes} times in {self._limiter.config.window:g} s",
                DisconnectReason.SUBPROTOCOL_ERROR,
            )
        return verdict.action is Action.DROPPED

    # -- filters and subscriptions ---------------------------------------------------------------

    def install_filter(self, flt: Filter) -> KeyID:
        filter_id = new_id(self._random_bytes, self.filters)
        self.filters.install(filter_id, flt)
        self._grow_bloom(flt)
        return filter_id

    def _grow_bloom(self, flt: Filter) -> None:
        """geth: a node with a bloom widens it to the new filter's topics; a full node stays full."""
        current = self.pool.bloom
        if current is None or not flt.topics:
            return
        wanted = aggregate_blooms(*map(topic_to_bloom, flt.topics))
        if not bloom_matches(current, wanted):
            merged = aggregate_blooms(current, wanted)
            self.pool.set_bloom(merged, self._now())
            self._spawn(self._tell_peers(PacketCode.BLOOM_FILTER, packets.encode_bloom(merged)))

    def uninstall_filter(self, filter_id: str) -> bool:
        return self.filters.uninstall(KeyID(filter_id))

    def envelope(self, envelope_hash: bytes) -> Envelope | None:
        """The pooled envelope with this hash, while it lives (raw traffic for inspection)."""
        entry = self.pool.get(EnvelopeHash(envelope_hash))
        return None if entry is None else entry.envelope

    def filter_messages(
        self,
        filter_id: str,
        budget: int | None = None,
        size: Callable[[OpenedMessage], int] | None = None,
    ) -> list[OpenedMessage]:
        """What the filter kept since the last call; with a budget, the oldest that fit in it
        (`size` per message, memory cost by default) and the rest stay for the next call."""
        if budget is None or size is None:
            return self.filters.retrieve(KeyID(filter_id), budget)
        return self.filters.retrieve(KeyID(filter_id), budget, size)

    def subscribe(self, flt: Filter) -> Subscription:
        filter_id = self.install_filter(flt)
        subscription = Subscription(self, filter_id)
        self._subscriptions[filter_id] = subscription
        return subscription

    def _deliver(
        self, envelope: Envelope, pow_value: float, envelope_hash: EnvelopeHash, p2p: bool = False
    ) -> None:
        matches = self.filters.notify(envelope, pow_value, envelope_hash, p2p)
        for match in matches:
            subscription = self._subscriptions.get(match.filter_id)
            if subscription is not None:
                self.filters.retrieve(match.filter_id)
                subscription._push(match.message)
        if matches:
            self._observers.message_delivered(len(matches), p2p)

    def queued_messages(self) -> int:
        return sum(s._queue.qsize() for s in self._subscriptions.values())

    # -- posting ---------------------------------------------------------------------------------

    async def post(self, request: PostRequest, *, requester: Hashable = None) -> EnvelopeHash:
        """Encrypt, sign, seal and send a message; returns the envelope hash (geth's shh_post).

        geth's checks and errors, in its order, except that what geth would refuse only after
        mining is refused before: a pool post below the node's min PoW (negative targets included),
        a message over the max message size, and a target that can't be reached in `pow_time`;
        `pow_time` itself is capped by `NodeConfig.max_pow_time`. Posts of one `requester` (an RPC
        connection, say) share one turn of the sealer's round-robin. Cancelling stops the sealing.
        """
        if (request.sym_key_id is None) == (request.public_key is None):
            raise UsageError(ERR_SYM_ASYM)
        signer = self.keys.private_key(request.signer_id) if request.signer_id else None
        sym_key = None
        if request.sym_key_id is not None:
            if not any(request.topic):
                raise UsageError(ERR_MISSING_TOPIC)
            sym_key = self.keys.sym_key(request.sym_key_id)
        else:
            try:
                public_key_from_bytes(request.public_key or b"")
            except InvalidKeyError as exc:
                raise UsageError(ERR_INVALID_PUBLIC_KEY) from exc
            if len(request.public_key or b"") != 65:
                raise UsageError(ERR_INVALID_PUBLIC_KEY)
        self._sealer.check(request.pow_target, request.pow_time)
        to_pool = not request.target_peer
        if request.target_peer:
            self._direct_peer(request.target_peer)  # its errors before the work, not after
        elif request.pow_target < self.pool.min_pow:
            raise UsageError(ERR_POST_LOW_POW)  # geth says so after mining
        plain_size = len(request.payload) + len(request.padding or b"")
        if plain_size > (self.pool.max_message_size if to_pool else MAX_MESSAGE_SIZE):
            raise UsageError(ERR_HUGE)
        envelope = wrap(
            request.payload,
            request.topic,
            self._now(),
            self._random_bytes,
            ttl=request.ttl,
            sym_key=sym_key,
            public_key=request.public_key,
            padding=request.padding or None,
            signer=signer,
        )
        if to_pool and envelope.size() > self.pool.max_message_size:
            raise UsageError(ERR_HUGE)
        sealed = await self._seal(envelope, request.pow_target, request.pow_time, requester)
        if request.target_peer:
            await self.send_direct(request.target_peer, sealed)
            return sealed.hash
        outcome = self._add(sealed, local=True)
        if outcome.status is AddStatus.EXPIRED:
            raise UsageError("failed to add envelope")
        if not outcome.known:
            raise UsageError(outcome.reason)
        return sealed.hash

    async def _seal(
        self, envelope: Envelope, pow_target: float, work_time: float, requester: Hashable
    ) -> Envelope:
        """Seal on the sealer's workers (never the default executor); cancelling stops it."""
        started = self.clock.monotonic()
        future = self._sealer.submit(envelope, pow_target, work_time, requester)
        sealed = await asyncio.wrap_future(future)
        self._observers.envelope_sealed(self.clock.monotonic() - started, pow_target)
        return sealed

    async def send_direct(self, target_peer: str, envelope: Envelope) -> None:
        """Send an envelope to one connected peer as a direct message (code 127)."""
        peer = self._direct_peer(target_peer)
        payload = packets.encode_envelope_packet(envelope)
        await peer.connection.send_message(PROTOCOL_NAME, PacketCode.P2P_MESSAGE, payload)
        self._observers.packet_sent(peer.node_id, PacketCode.P2P_MESSAGE, len(payload))

    def _direct_peer(self, target_peer: str) -> _Peer:
        try:
            node_id = Enode.parse(target_peer).node_id
        except HushError as exc:
            raise UsageError(f"failed to parse target peer: {exc}") from exc
        peer = self._peers.get(node_id)
        if peer is None:
            raise UsageError(f"could not find peer with ID: {node_id.hex()}")
        return peer

    async def inject(self, envelope: Envelope) -> AddStatus:
        """Add an already-sealed envelope as if posted here (benchmarks, archive replays)."""
        return self._add(envelope, local=True).status

    def _add(
        self, envelope: Envelope, local: bool = False, source: NodeID | None = None
    ) -> AddOutcome:
        outcome = self.pool.add(envelope, self._now(), source=source, local=local)
        if outcome.evicted:
            self._forget(outcome.evicted)
        observers = self._observers
        observers.envelope_received(outcome, source, local)
        if outcome.status is AddStatus.ACCEPTED and outcome.entry is not None:
            entry = outcome.entry
            observers.envelope_accepted(entry, envelope, source, local)
            self._deliver(envelope, entry.pow, entry.hash)
            for peer in self._peers.values():
                peer.offer(entry)
        return outcome

    def _forget(self, hashes: list[EnvelopeHash] | tuple[EnvelopeHash, ...]) -> None:
        """The pool dropped these: no peer's known set keeps them (known ⊆ pool)."""
        for peer in self._peers.values():
            peer.shh.forget(hashes)

    def _note_known(self, peer: _Peer, envelope_hash: EnvelopeHash) -> None:
        """The peer has a pooled envelope; its known-set slot is accounted to the pool."""
        if envelope_hash in self.pool and peer.shh.mark_known(envelope_hash):
            self.pool.mark_known(envelope_hash)

    def _settle(self) -> None:
        """Known marks can take the pool past its cap: evict the cheapest to get back within."""
        if self.pool.bytes_used > self.pool.max_bytes:
            self._forget(self.pool.shrink())

    async def _release_known(self, known: dict[EnvelopeHash, None]) -> None:
        """A peer left: its known marks no longer cost anything (in slices: it may be large)."""
        for index, envelope_hash in enumerate(list(known)):
            self.pool.unmark_known(envelope_hash)
            if index % _RELEASE_SLICE == _RELEASE_SLICE - 1:
                await asyncio.sleep(0)

    # -- peers -----------------------------------------------------------------------------------

    def add_peer(self, url: str | Enode) -> None:
        """Dial a peer now and keep redialling it with backoff (a static peer)."""
        enode = url if isinstance(url, Enode) else Enode.parse(url)
        if enode.node_id == self.node_key.node_id:
            raise UsageError("cannot add this node as its own peer")
        self._static[enode.node_id] = enode
        if self._running and enode.node_id not in self._dialers:
            self._dialers[enode.node_id] = self._spawn(self._dial_loop(enode))

    async def remove_peer(self, url: str | Enode) -> bool:
        enode = url if isinstance(url, Enode) else Enode.parse(url)
        self._static.pop(enode.node_id, None)
        dialer = self._dialers.pop(enode.node_id, None)
        if dialer is not None:
            dialer.cancel()
        peer = self._peers.get(enode.node_id)
        if peer is not None:
            with contextlib.suppress(HushError, OSError):
                await peer.connection.disconnect(DisconnectReason.REQUESTED)
        return peer is not None or dialer is not None

    def add_trusted_peer(self, url: str | Enode) -> None:
        enode = url if isinstance(url, Enode) else Enode.parse(url)
        self._trusted.add(enode.node_id)
        peer = self._peers.get(enode.node_id)
        if peer is not None:
            peer.shh.trusted = True

    def mark_trusted_peer(self, url: str) -> None:
        """geth's shh_markTrustedPeer: the peer must be connected."""
        enode = Enode.parse(url)
        peer = self._peers.get(enode.node_id)
        if peer is None:
            raise UsageError(f"could not find peer with ID: {enode.node_id.hex()}")
        self._trusted.add(enode.node_id)
        peer.shh.trusted = True

    def peers(self) -> list[PeerInfo]:
        infos = []
        for peer in self._peers.values():
            connection = peer.connection
            host, port = connection.remote_address[:2]
            infos.append(
                PeerInfo(
                    node_id=peer.node_id,
                    enode=str(Enode(peer.node_id, host, port)),
                    name=connection.client_id,
                    capabilities=tuple(f"{n}/{v}" for n, v in connection.remote_capabilities),
                    local_address=_address(connection.local_address),
                    remote_address=_address(connection.remote_address),
                    inbound=connection.inbound,
                    trusted=peer.shh.trusted,
                    static=peer.static,
                    pow_requirement=peer.shh.pow_requirement,
                    bloom=peer.shh.bloom,
                    light=peer.shh.light,
                )
            )
        return infos

    def _admit(self, node_id: NodeID, inbound: bool) -> DisconnectReason | None:
        if node_id == self.node_key.node_id:
            return DisconnectReason.SELF_CONNECTION
        if node_id in self._peers:
            return DisconnectReason.ALREADY_CONNECTED
        privileged = node_id in self._trusted or node_id in self._static
        regular = sum(1 for p in self._peers if p not in self._trusted and p not in self._static)
        if not privileged and regular >= self.config.max_peers:
            return DisconnectReason.TOO_MANY_PEERS
        return None

    async def _dial_loop(self, enode: Enode) -> None:
        backoff = 1.0
        while self._running and enode.node_id in self._static:
            if enode.node_id not in self._peers:
                try:
                    connection = await self._transport.dial(
                        self.node_key, enode, self.p2p_config, self._admit, self._random_bytes
                    )
                except (HushError, OSError, TimeoutError) as exc:
                    self._observers._each("dial_failed", enode.node_id, exc)
                    log.info(
                        "dial %s failed: %s; retry in %.0f s", short_id(enode.node_id), exc, backoff
                    )
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, _MAX_BACKOFF)
                    continue
                backoff = 1.0
                await self._on_connection(connection)
            await asyncio.sleep(backoff)

    async def _source_loop(self, source: PeerSource) -> None:
        """Keep `config.target_peers` peers: dial the source's candidates (a few at a time)."""
        dialing: set[NodeID] = set()
        while True:
            want = self.config.target_peers - len(self._peers) - len(dialing)
            if want > 0:
                exclude = {*self._peers, *dialing, *self._dialers, self.node_key.node_id}
                for enode in source.candidates(min(want, _SOURCE_DIALS), exclude):
                    if enode.node_id in exclude:
                        continue
                    exclude.add(enode.node_id)
                    dialing.add(enode.node_id)
                    self._spawn(self._dial_candidate(source, enode, dialing))
            await asyncio.sleep(_SOURCE_GAP)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_SOURCE_INTERVAL - _SOURCE_GAP):
                    await self._source_wake.wait()
            self._source_wake.clear()

    async def _dial_candidate(self, source: PeerSource, enode: Enode, dialing: set[NodeID]) -> None:
        try:
            connection = await self._transport.dial(
                self.node_key, enode, self.p2p_config, self._admit, self._random_bytes
            )
        except PeerDisconnected as exc:
            useless = exc.reason is DisconnectReason.USELESS_PEER
            refused = exc.reason in (
                DisconnectReason.TOO_MANY_PEERS,
                DisconnectReason.ALREADY_CONNECTED,
                DisconnectReason.SELF_CONNECTION,
            )
            outcome = (
                DialOutcome.USELESS
                if useless
                else (DialOutcome.REFUSED if refused else DialOutcome.FAILED)
            )
            source.dialed(enode.node_id, outcome)
            return
        except (HushError, OSError, TimeoutError):
            source.dialed(enode.node_id, DialOutcome.FAILED)
            return
        finally:
            dialing.discard(enode.node_id)
            self._source_wake.set()
        source.dialed(enode.node_id, DialOutcome.CONNECTED)
        await self._on_connection(connection)

    async def _on_connection(self, connection: PeerLink) -> None:
        node_id = connection.node_id
        # Admitted after the RLPx handshake, but others may have joined during the Hello exchange.
        reason = self._admit(node_id, connection.inbound) if self._running else None
        if not self._running or reason is not None:
            with contextlib.suppress(HushError, OSError):
                await connection.disconnect(reason or DisconnectReason.QUITTING)
            return
        peer = _Peer(
            connection,
            ShhPeer(
                local_light=self.light,
                restrict_light=self.config.restrict_light,
                max_message_size=self.pool.max_message_size,
                trusted=node_id in self._trusted,
                accept_mail_requests=self.mail_handler is not None,
            ),
            static=node_id in self._static,
        )
        self._peers[node_id] = peer
        self._observers.peer_connected(node_id, connection.inbound, connection.client_id)
        log.info(
            "peer joined: %s %s (%s)",
            short_id(node_id),
            connection.client_id,
            "inbound" if connection.inbound else "outbound",
        )
        why = "closed"
        label = "closed"
        refusal: DisconnectReason | None = None
        try:
            await self._serve_peer(peer)
        except PeerError as exc:
            why, refusal = f"{exc} ({exc.reason.name.lower()})", exc.reason
            label = exc.reason.name.lower()
        except PeerDisconnected as exc:
            why = f"{'remote' if exc.by_remote else 'local'}: {exc}"
            label = f"{'remote' if exc.by_remote else 'local'}_{exc.reason.name.lower()}"
        except (OSError, HushError) as exc:
            why, label = str(exc), "error"
        except Exception:  # a bug here, or in a mail handler, must not take the node down
            log.exception("peer %s: unexpected error", short_id(node_id))
            why = label = "internal_error"
        finally:
            self._peers.pop(node_id, None)
            self._source_wake.set()
            self._observers.peer_disconnected(node_id, label)
            if self._running:  # (at shutdown the pool's accounting no longer matters)
                self._spawn(self._release_known(peer.shh.known))
            log.info("peer left: %s: %s", short_id(node_id), why)
            if refusal is not None:
                with contextlib.suppress(HushError, OSError):
                    await connection.disconnect(refusal)
            connection.close()

    async def _serve_peer(self, peer: _Peer) -> None:
        connection = peer.connection
        status = packets.encode_status(self._status())
        await connection.send_message(PROTOCOL_NAME, PacketCode.STATUS, status)
        self._observers.packet_sent(peer.node_id, PacketCode.STATUS, len(status))
        try:
            async with asyncio.timeout(_STATUS_TIMEOUT):
                await self._read_one(peer)  # must be status, or ShhPeer raises
        except TimeoutError:
            raise PeerError("no status packet in time", DisconnectReason.READ_TIMEOUT) from None
        writer = asyncio.ensure_future(self._write_loop(peer))
        peer.rescan_pool()
        try:
            while True:
                await self._read_one(peer)
        finally:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, HushError, OSError):
                await writer

    async def _read_one(self, peer: _Peer) -> None:
        capability, code, payload = await peer.connection.read_message()
        if capability != PROTOCOL_NAME:
            return
        self._observers.packet_received(peer.node_id, code, len(payload))
        if self._limiter.enabled and self._rate_limited(peer, code, len(payload)):
            return  # enforce mode: an excess `messages` packet is dropped unread
        event = peer.shh.receive(code, payload)
        match event:
            case Envelopes() as batch:
                await self._receive_envelopes(peer, batch)
            case DirectMessage(envelope):
                self._deliver(envelope, envelope.pow(), envelope.hash, p2p=True)
            case MailRequest(envelope):
                if self.mail_handler is not None:
                    await self.mail_handler(self, peer.node_id, envelope)
            case PowRequirementChanged() | BloomChanged():
                peer.rescan_pool()
            case _:
                pass

    async def _receive_envelopes(self, peer: _Peer, batch: Envelopes) -> None:
        """geth: decode the whole batch (any malformed envelope drops the peer before any is
        added), add every envelope, then drop the peer if any was bad. Both passes go in slices
        that give the event loop back, so one peer's 40,000-envelope packet doesn't stall the
        others, nor RPC. Envelopes over the peer's share of the pool or refused for lack of
        room are not marked known: the peer can't grow its known set with them."""
        shh = peer.shh
        encoded = shh.encoded_envelopes(batch)
        first: list[Envelope] = []
        count = 0
        while chunk := list(itertools.islice(encoded, _INGEST_SLICE)):
            decoded = [shh.decode_envelope(raw) for raw in chunk]
            first = first or decoded
            count += len(chunk)
            if len(chunk) == _INGEST_SLICE:
                await asyncio.sleep(0)
        whole = count <= _INGEST_SLICE  # one slice: added as decoded, else decoded again
        envelopes = iter(first) if whole else map(Envelope.decode, shh.encoded_envelopes(batch))
        failure = ""
        source = peer.node_id
        while chunk_of := list(itertools.islice(envelopes, _INGEST_SLICE)):
            for envelope in chunk_of:
                outcome = self._add(envelope, source=source)
                if outcome.known and outcome.entry is not None:
                    self._note_known(peer, outcome.entry.hash)
                elif outcome.status is AddStatus.REJECTED and not failure:
                    failure = outcome.reason
            self._settle()
            if not whole:
                await asyncio.sleep(0)
        if failure:
            raise EnvelopeRejected(f"invalid envelope: {failure}")

    async def _write_loop(self, peer: _Peer) -> None:
        max_batch = self.pool.max_message_size
        policy = self.relay_policy
        while True:
            if policy.on_arrival:
                await peer.wake.wait()
            else:
                await asyncio.sleep(policy.interval)
            peer.wake.clear()
            pool = self.pool
            candidates: list[PooledEnvelope]
            if peer.rescan:
                candidates = list(pool)
                peer.rescan = False
            else:
                candidates = [e for h in peer.fresh if (e := pool.get(h)) is not None]
            peer.fresh = []
            # The policy sees the candidates a slice at a time (the loop is given back between
            # slices); consecutive small batches are joined so packets stay full.
            pending: list[PooledEnvelope] = []
            pending_size = 0
            for start in range(0, len(candidates), _SCAN_SLICE):
                chunk = [e for e in candidates[start : start + _SCAN_SLICE] if e.hash in pool]
                for batch in policy.batches(peer.shh, chunk, pool.local, self.light, max_batch):
                    size = sum(entry.wire_size for entry in batch)
                    if pending and pending_size + size > max_batch:
                        await self._send_batch(peer, pending)
                        pending, pending_size = [], 0
                    pending.extend(batch)
                    pending_size += size
                if start + _SCAN_SLICE < len(candidates):
                    await asyncio.sleep(0)
            if pending:
                await self._send_batch(peer, pending)
            if policy.on_arrival:
                await asyncio.sleep(policy.interval)

    async def _send_batch(self, peer: _Peer, batch: list[PooledEnvelope]) -> None:
        for entry in batch:
            self._note_known(peer, entry.hash)
        self._settle()
        payload = packets.encode_messages([entry.raw for entry in batch])
        await peer.connection.send_message(PROTOCOL_NAME, PacketCode.MESSAGES, payload)
        self._observers.packet_sent(peer.node_id, PacketCode.MESSAGES, len(payload))
        self._observers._each("bundle_sent", peer.node_id, len(batch))

    async def _expiry_loop(self) -> None:
        while True:
            await asyncio.sleep(_EXPIRY_CYCLE)
            now = self._now()
            while gone := self.pool.expire(now, _EXPIRE_SLICE):
                self._forget(gone)  # O(expired × peers), never O(pool)
                self._observers.envelopes_expired(len(gone))
                if len(gone) < _EXPIRE_SLICE:
                    break
                await asyncio.sleep(0)


def _address(address: tuple[str, int] | tuple[str, int, int, int] | None) -> str:
    if not address:
        return ""
    return host_port(address[0], address[1])
