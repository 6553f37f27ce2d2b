"""The hush node: a Whisper v6 node on devp2p, and the narrow facade applications use.

`Node` composes the parts and is the only module that knows all of them; none of them imports
it (tests/test_facade_parts.py checks):
- `registry` (`PeerRegistry`): admission, the static and trusted sets, dialling with backoff,
  the peer-source loop, and the table of live peers;
- `session` (`Sessions`): one shh session per peer — status exchange under `ShhPeer`'s timer,
  read dispatch, rate limits, the write loop under the relay policy;
- `pool_keeper` (`PoolKeeper`): adding envelopes, known marks, settling, the expiry sweep;
- `posting` (`Poster`): post, seal, direct send; `stem_relay` (`StemRelay`, on `stem`'s core):
  an own post to one stem peer first, relayed after its echo or embargo; `delivery` (`Delivery`): filters and
  subscriptions; `fanout` (`Observers`): the observers as one.
What comes in from outside is injected: the `Clock` (every time read of the node), the
`Transport` (TCP by default), the sealer (`Sealer` by default, `InlineSealer` in simulations),
the key store, randomness, observers and a peer source. One `asyncio.TaskGroup` owns the node's
tasks from `start` to `stop`. Applications (JSON-RPC, CLI, archive) use the public methods only.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Hashable, Sequence

from hush.clock import SYSTEM_CLOCK, Clock
from hush.crypto.keys import PrivateKey
from hush.enode import Enode, host_port, load_or_create_node_key
from hush.errors import DisconnectReason, UsageError
from hush.net import P2PConfig
from hush.net.transport import Listening, TcpTransport, Transport
from hush.node.config import NodeConfig
from hush.node.delivery import Delivery, Subscription
from hush.node.fanout import Observers
from hush.node.hooks import DiscoveryView, NodeObserver, PeerSource
from hush.node.keys_facade import KeyMethods
from hush.node.keystore import KeyStore
from hush.node.live_peer import LivePeer
from hush.node.pool_keeper import PoolKeeper
from hush.node.posting import Poster, PostRequest
from hush.node.ratelimit import RateLimiter, RateLimitStats
from hush.node.registry import PeerInfo, PeerRegistry, p2p_config
from hush.node.relay import BroadcastPolicy, RelayPolicy
from hush.node.session import Sessions
from hush.node.status import NodeStatus
from hush.node.stem import Stem, StemConfig
from hush.node.stem_hops import StemHops
from hush.node.stem_relay import StemRelay
from hush.node.tasks import NodeTasks
from hush.sealer import EnvelopeSealer, Sealer
from hush.shh.envelope import Envelope
from hush.shh.filters import Filter
from hush.shh.message import OpenedMessage
from hush.shh.packets import PROTOCOL_NAME
from hush.shh.peer import MailPacket
from hush.shh.pool import AddStatus, EnvelopePool
from hush.types import Bloom, EnvelopeHash, KeyID, NodeID, RandomBytes

__all__ = ["MailHandler", "Node", "NodeStatus", "PeerInfo", "PostRequest", "Subscription"]

log = logging.getLogger(__name__)

MailHandler = Callable[["Node", NodeID, Envelope | MailPacket], Awaitable[None]]
"""Called for each archive request (code 126) a peer sends; the archive server plugs in here.
It gets the request envelope, or a `MailPacket`: a 126 payload that is not an envelope (dialect
E), or server↔server sync (123/124) from a trusted peer."""


class Node(KeyMethods):
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
        sealer: EnvelopeSealer | None = None,
        keys: KeyStore | None = None,
    ):
        config = self.config = config or NodeConfig()
        self._random_bytes = random_bytes
        self._clock = clock
        self._transport: Transport = transport if transport is not None else TcpTransport()
        self._observers = Observers(observers)
        self.peer_source = peer_source
        self.discovery: DiscoveryView | None = None
        """The discovery running beside the node, set by whoever runs it (`hush node`)."""
        if node_key is None:
            node_key = (
                load_or_create_node_key(config.datadir, random_bytes)
                if config.datadir is not None
                else PrivateKey.generate(random_bytes)
            )
        self.node_key = node_key
        self.keys = keys if keys is not None else KeyStore(random_bytes)
        self.pool = EnvelopePool(
            min_pow=config.min_pow,
            max_message_size=config.max_message_size,
            max_bytes=config.pool_bytes,
            source_budget=int(config.pool_bytes * config.pool_peer_share),
        )
        self.sealer: EnvelopeSealer = (
            sealer
            if sealer is not None
            else Sealer(
                config.pow_processes,
                clock=clock.monotonic,
                random_bytes=random_bytes,
                max_work_time=config.max_pow_time,
                queue_limit=config.seal_queue,
            )
        )
        self._peers: dict[NodeID, LivePeer] = {}
        self._tasks = NodeTasks()
        self._delivery = Delivery(random_bytes, self._observers)
        self.filters = self._delivery.filters
        self._keeper = PoolKeeper(self.pool, clock, self._observers, self._delivery, self._peers)
        self._sessions = Sessions(
            keeper=self._keeper,
            delivery=self._delivery,
            policy=relay_policy or BroadcastPolicy(config.send_interval),
            limiter=RateLimiter(config.rate_limit_config()),
            observers=self._observers,
            clock=clock,
            light=config.light,
            restrict_light=config.restrict_light,
            peers=self._peers,
        )
        self._registry = PeerRegistry(
            node_key=node_key,
            transport=self._transport,
            p2p_config=lambda: self.p2p_config,
            random_bytes=random_bytes,
            sessions=self._sessions,
            keeper=self._keeper,
            observers=self._observers,
            spawn=self._tasks.spawn,
            max_peers=config.max_peers,
            target_peers=config.target_peers,
            live=self._peers,
            source_interval=config.source_interval,
            source_gap=config.source_gap,
        )
        self._poster = Poster(
            keys=lambda: self.keys,
            sealer=self.sealer,
            keeper=self._keeper,
            clock=clock,
            random_bytes=random_bytes,
            observers=self._observers,
            find_peer=self._registry.find,
            send_direct=self._sessions.send_direct,
            sent_spread=config.sent_spread,
            padding_bucket=config.padding_bucket,
        )
        self._stem: StemRelay | None = None
        if config.stem:
            self._stem = StemRelay(
                stem=Stem(random_bytes, StemConfig(mean_embargo=config.stem_embargo)),
                keeper=self._keeper,
                clock=clock,
                peers=self._peers,
                send_batch=self._sessions.send_batch,
                hops=StemHops(random_bytes) if config.stem_hops else None,
            )
            self._sessions.held = self._stem
            self._sessions.on_leave = self._stem.peer_left
            self._sessions.on_stem_hop = self._stem.on_hop
            self._keeper.on_echo = self._stem.echo
            self._poster.stem = self._stem.send
        self.mail_handler = mail_handler
        self._server: Listening | None = None
        self.listen_port: int | None = None
        self._running = False
        # Old private names some tests still read.
        self._sealer = self.sealer
        self._deliver = self._delivery.deliver

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def p2p_config(self) -> P2PConfig:
        return p2p_config(self.config)

    async def start(self) -> None:
        if self._running:
            return
        self._running = self._registry.running = True
        await self._tasks.open()
        if self.config.listen:
            try:
                self._server = await self._transport.listen(
                    self.node_key,
                    self.config.listen_host,
                    self.config.listen_port,
                    self.p2p_config,
                    self._registry.on_link,
                    self._registry.admit,
                    self._random_bytes,
                )
            except BaseException:
                self._running = self._registry.running = False
                await self._tasks.close()
                raise
            self.listen_port = self._server.address[1]
        self._tasks.spawn(self._keeper.run_expiry())
        if self._stem is not None:
            self._tasks.spawn(self._stem.run())
        if self.peer_source is not None:
            self._tasks.spawn(self._registry.source_loop(self.peer_source))
        for url in self.config.trusted_peers:
            self.add_trusted_peer(url)
        for url in self.config.static_peers:
            self.add_peer(url)
        self._registry.dial_static()
        log.info("node started: %s", self.enode)

    async def stop(self) -> None:
        if not self._running:
            return
        self._running = self._registry.running = False
        sealer_stopped = self.sealer.shutdown()  # seals fail now; workers leave within a slice
        if self._server is not None:
            self._server.close()
        await self._registry.disconnect_all(DisconnectReason.QUITTING, 1)
        await self._tasks.close()  # every task of the node cancelled, and ended
        self._delivery.close_all()
        if self._server is not None:
            await self._server.wait_closed()
        try:
            # Shielded: a timeout must not cancel the sealer's future (its last worker would
            # then fail to set it, an exception in that thread).
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(sealer_stopped)), 1.0)
        except TimeoutError:  # daemon threads: they can't keep the process alive
            log.warning("PoW workers still busy; not waiting for them")
        log.info("node stopped")

    async def __aenter__(self) -> Node:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def enode(self) -> str:
        host = self.config.advertise_host or self.config.listen_host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        tcp_port = self.listen_port or 0
        discovery = self.discovery
        udp_port = discovery.port if discovery is not None and discovery.running else None
        return str(Enode(self.node_key.node_id, host, tcp_port, udp_port))  # ?discport= if ≠

    def info(self) -> NodeStatus:
        """The node's identity, address and pool figures, read-only."""
        pool = self.pool
        return NodeStatus(
            client_id=self.config.client_id,
            node_id=self.node_key.node_id,
            enode=self.enode,
            listen_address=host_port(self.config.listen_host, self.listen_port or 0),
            memory=pool.bytes_used,
            pooled=len(pool),
            queued_messages=self.queued_messages(),
            min_pow=pool.min_pow,
            max_message_size=pool.max_message_size,
            bloom=pool.bloom,
            light=self.light,
            peers=len(self._peers),
        )

    # -- hooks and policies ----------------------------------------------------------------------

    @property
    def clock(self) -> Clock:
        """Every time read of the node (the sealer's budget keeps the clock it was built with)."""
        return self._clock

    @clock.setter
    def clock(self, clock: Clock) -> None:
        self._clock = self._keeper.clock = self._sessions.clock = self._poster.clock = clock
        if self._stem is not None:
            self._stem.clock = clock

    @property
    def mail_handler(self) -> MailHandler | None:
        return self._mail_handler

    @mail_handler.setter
    def mail_handler(self, handler: MailHandler | None) -> None:
        self._mail_handler = handler
        self._sessions.on_mail = None if handler is None else self._on_mail

    async def _on_mail(self, node_id: NodeID, request: Envelope | MailPacket) -> None:
        if self._mail_handler is not None:
            await self._mail_handler(self, node_id, request)

    @property
    def relay_policy(self) -> RelayPolicy:
        return self._sessions.policy

    @relay_policy.setter
    def relay_policy(self, policy: RelayPolicy) -> None:
        self._sessions.policy = policy

    # -- settings --------------------------------------------------------------------------------

    @property
    def light(self) -> bool:
        return self._sessions.light

    @light.setter
    def light(self, value: bool) -> None:
        self._sessions.light = value

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
        await self._sessions.set_min_pow(value)

    async def set_bloom(self, bloom: bytes) -> None:
        await self._sessions.set_bloom(bloom)

    def set_max_message_size(self, size: int) -> None:
        self._sessions.set_max_message_size(size)

    def rate_limit_stats(self) -> RateLimitStats:
        """The ingress rate limiter's counters since start (for metrics)."""
        return self._sessions.limiter.stats()

    # -- filters and subscriptions ---------------------------------------------------------------

    def install_filter(self, flt: Filter) -> KeyID:
        filter_id = self._delivery.install(flt)
        self._grow_bloom(flt)
        return filter_id

    def subscribe(self, flt: Filter) -> Subscription:
        subscription = self._delivery.subscribe(flt)
        self._grow_bloom(flt)
        return subscription

    def _grow_bloom(self, flt: Filter) -> None:
        merged = self._sessions.widen_bloom(flt)
        if merged is not None:
            self._tasks.spawn(self._sessions.tell_all(lambda shh: shh.send_bloom(merged)))

    def uninstall_filter(self, filter_id: str) -> bool:
        return self._delivery.uninstall(filter_id)

    def filter_messages(
        self,
        filter_id: str,
        budget: int | None = None,
        size: Callable[[OpenedMessage], int] | None = None,
    ) -> list[OpenedMessage]:
        """What the filter kept since the last call; with a budget, the oldest that fit in it
        (`size` per message, memory cost by default) and the rest stay for the next call."""
        return self._delivery.messages(filter_id, budget, size)

    def queued_messages(self) -> int:
        return self._delivery.queued_messages()

    def delivery_overflow(self) -> tuple[int, int]:
        """Messages lost to full queues so far: (subscriptions, polled filters), for metrics."""
        return self._delivery.overflow()

    @property
    def transport(self) -> Transport:
        """Where the node gets its peers (read-only; metrics read `TcpTransport.inbound_stats`)."""
        return self._transport

    def envelope(self, envelope_hash: bytes) -> Envelope | None:
        """The pooled envelope with this hash, while it lives (raw traffic for inspection)."""
        entry = self.pool.get(EnvelopeHash(envelope_hash))
        return None if entry is None else entry.envelope

    # -- posting ---------------------------------------------------------------------------------

    async def post(self, request: PostRequest, *, requester: Hashable = None) -> EnvelopeHash:
        """Encrypt, sign, seal and send a message; returns the envelope hash (geth's shh_post,
        see `hush.node.posting.Poster.post`). Cancelling stops the sealing."""
        return await self._poster.post(request, requester)

    async def send_direct(self, target_peer: str, envelope: Envelope) -> None:
        """Send an envelope to one connected peer as a direct message (code 127)."""
        await self._poster.send_direct(target_peer, envelope)

    async def send_packet(self, node_id: NodeID, code: int, payload: bytes) -> None:
        """Send one shh packet, as given, to a connected peer (the archive's 127 and 125 replies:
        raw stored envelopes, batches, completions). UsageError if the peer is not connected."""
        peer = self._peers.get(node_id)
        if peer is None:
            raise UsageError(f"could not find peer with ID: {node_id.hex()}")
        await peer.connection.send_message(PROTOCOL_NAME, code, payload)
        self._observers.packet_sent(node_id, code, len(payload))

    def deliver_archived(
        self, envelope: Envelope, envelope_hash: EnvelopeHash | None = None
    ) -> None:
        """Hand an envelope fetched from an archive server to the local filters and subscriptions
        as if the pool had taken it (so no allowP2P and minPow ≤ 0 needed, geth's gotcha), without
        pooling or relaying it. An envelope the pool holds was delivered already: skipped."""
        envelope_hash = envelope_hash or envelope.hash
        if self.pool.get(envelope_hash) is None:
            self._deliver(envelope, envelope.pow(), envelope_hash)

    async def inject(self, envelope: Envelope) -> AddStatus:
        """Add an already-sealed envelope as if posted here (benchmarks, archive replays)."""
        return self._keeper.add(envelope, local=True).status

    # -- peers -----------------------------------------------------------------------------------

    def add_peer(self, url: str | Enode) -> None:
        """Dial a peer now and keep redialling it with backoff (a static peer)."""
        self._registry.add_peer(url)

    async def remove_peer(self, url: str | Enode) -> bool:
        return await self._registry.remove_peer(url)

    def add_trusted_peer(self, url: str | Enode) -> None:
        self._registry.add_trusted_peer(url)

    def mark_trusted_peer(self, url: str) -> None:
        """geth's shh_markTrustedPeer: the peer must be connected."""
        self._registry.mark_trusted_peer(url)

    def peers(self) -> list[PeerInfo]:
        return self._registry.infos()
