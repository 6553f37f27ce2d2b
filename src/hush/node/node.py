"""The hush node: a Whisper v6 node on devp2p, and the narrow facade applications use.

`Node` composes the parts and is the only module that knows all of them; none of them imports
it (tests/test_facade_parts.py checks):
- `registry` (`PeerRegistry`): admission, the static and trusted sets, dialling with backoff,
  the peer-source loop, and the table of live peers;
- `session` (`Sessions`): one shh session per peer — status exchange under `ShhPeer`'s timer,
  read dispatch, rate limits, the write loop under the relay policy;
- `pool_keeper` (`PoolKeeper`): adding envelopes, known marks, settling, the expiry sweep;
- `posting` (`Poster`): post, seal, direct send; `delivery` (`Delivery`): filters and
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
from collections.abc import Awaitable, Callable, Coroutine, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from hush.clock import SYSTEM_CLOCK, Clock
from hush.crypto.keys import PrivateKey
from hush.crypto.symmetric import SymmetricKey
from hush.enode import Enode, host_port, load_or_create_node_key
from hush.errors import DisconnectReason, UsageError
from hush.net import P2PConfig
from hush.net.transport import Listening, TcpTransport, Transport
from hush.node.config import NodeConfig
from hush.node.delivery import Delivery, Subscription
from hush.node.fanout import Observers
from hush.node.hooks import NodeObserver, PeerSource
from hush.node.keystore import KeyStore
from hush.node.live_peer import LivePeer
from hush.node.pool_keeper import PoolKeeper
from hush.node.posting import Poster, PostRequest
from hush.node.ratelimit import RateLimiter, RateLimitStats
from hush.node.registry import PeerInfo, PeerRegistry
from hush.node.relay import BroadcastPolicy, RelayPolicy
from hush.node.session import Sessions
from hush.sealer import EnvelopeSealer, Sealer
from hush.shh.envelope import Envelope
from hush.shh.filters import Filter
from hush.shh.message import OpenedMessage
from hush.shh.packets import PROTOCOL_LENGTH, PROTOCOL_NAME, PROTOCOL_VERSION
from hush.shh.pool import MAX_MESSAGE_SIZE, AddStatus, EnvelopePool
from hush.shh.topic import BLOOM_SIZE, aggregate_blooms, bloom_matches, topic_to_bloom
from hush.types import Bloom, EnvelopeHash, KeyID, NodeID, RandomBytes

__all__ = ["MailHandler", "Node", "NodeStatus", "PeerInfo", "PostRequest", "Subscription"]

log = logging.getLogger(__name__)

MailHandler = Callable[["Node", NodeID, Envelope], Awaitable[None]]
"""Called for each archive request (code 126) a peer sends; the archive server plugs in here."""


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """What the node says about itself (`Node.info()`), read-only, for RPC, CLI and metrics."""

    client_id: str
    node_id: NodeID
    enode: str
    listen_address: str
    """host:port it listens on (port 0 when not listening)."""
    memory: int
    """Bytes the envelope pool accounts for (geth's shh_info `memory`)."""
    pooled: int
    """Envelopes in the pool."""
    queued_messages: int
    min_pow: float
    max_message_size: int
    bloom: Bloom | None
    light: bool
    peers: int


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
        sealer: EnvelopeSealer | None = None,
        keys: KeyStore | None = None,
    ):
        config = self.config = config or NodeConfig()
        self._random_bytes = random_bytes
        self._clock = clock
        self._transport: Transport = transport if transport is not None else TcpTransport()
        self._observers = Observers(observers)
        self.peer_source = peer_source
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
        )
        self._registry = PeerRegistry(
            node_key=node_key,
            transport=self._transport,
            p2p_config=lambda: self.p2p_config,
            random_bytes=random_bytes,
            sessions=self._sessions,
            keeper=self._keeper,
            observers=self._observers,
            spawn=self._spawn,
            max_peers=config.max_peers,
            target_peers=config.target_peers,
            live=self._peers,
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
        )
        self.mail_handler = mail_handler
        self._server: Listening | None = None
        self._group: asyncio.TaskGroup | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self.listen_port: int | None = None
        self._running = False
        # Old private names some tests still read.
        self._sealer = self.sealer
        self._deliver = self._delivery.deliver

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def p2p_config(self) -> P2PConfig:
        config = self.config
        return P2PConfig(
            client_id=config.client_id,
            capabilities=((PROTOCOL_NAME, PROTOCOL_VERSION, PROTOCOL_LENGTH),),
            # The shh layer checks packets against the node's current limit (geth drops an
            # oversized packet as a subprotocol error); the transport only enforces the hard cap.
            max_message_size=MAX_MESSAGE_SIZE + 1024,
            max_pending_inbound=config.max_pending_peers,
            max_inbound_per_ip=config.max_peers_per_ip,
            handshake_timeout=config.handshake_timeout,
            read_timeout=config.read_timeout,
            write_timeout=config.write_timeout,
            ping_interval=config.ping_interval,
        )

    async def start(self) -> None:
        if self._running:
            return
        self._running = self._registry.running = True
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
                raise
            self.listen_port = self._server.address[1]
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._supervisor = asyncio.ensure_future(self._own_tasks(ready))
        await ready
        self._spawn(self._keeper.run_expiry())
        if self.peer_source is not None:
            self._spawn(self._registry.source_loop(self.peer_source))
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
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.cancel()  # the task group cancels every task of the node and waits
            await asyncio.gather(supervisor, return_exceptions=True)
        self._delivery.close_all()
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

    async def _own_tasks(self, ready: asyncio.Future[None]) -> None:
        """The node's task group, open from start to stop (cancelled by `stop`)."""
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                ready.set_result(None)
                await asyncio.get_running_loop().create_future()  # until cancelled
        finally:
            self._group = None

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None] | None:
        """Run a task in the node's task group; None (and not run) once the node stops."""
        group = self._group
        if group is None or not self._running:
            coroutine.close()
            return None
        try:
            return group.create_task(_logged(coroutine))
        except RuntimeError:  # the group is shutting down
            coroutine.close()
            return None

    @property
    def enode(self) -> str:
        host = self.config.advertise_host or self.config.listen_host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        return str(Enode(self.node_key.node_id, host, self.listen_port or 0))

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

    @property
    def mail_handler(self) -> MailHandler | None:
        return self._mail_handler

    @mail_handler.setter
    def mail_handler(self, handler: MailHandler | None) -> None:
        self._mail_handler = handler
        self._sessions.on_mail = None if handler is None else self._on_mail

    async def _on_mail(self, node_id: NodeID, envelope: Envelope) -> None:
        if self._mail_handler is not None:
            await self._mail_handler(self, node_id, envelope)

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
        if not value >= 0 or value == float("inf"):
            raise UsageError(f"invalid PoW: {value}")
        self.pool.set_min_pow(value, self._keeper.now())
        await self._tell_peers(lambda shh: shh.send_pow_requirement(value))

    async def set_bloom(self, bloom: bytes) -> None:
        if len(bloom) != BLOOM_SIZE:
            raise UsageError(f"invalid bloom filter size: {len(bloom)}")
        value = Bloom(bytes(bloom))
        self.pool.set_bloom(value, self._keeper.now())
        await self._tell_peers(lambda shh: shh.send_bloom(value))

    def set_max_message_size(self, size: int) -> None:
        if size > MAX_MESSAGE_SIZE:
            raise UsageError(f"message size too large [{size}>{MAX_MESSAGE_SIZE}]")
        self.pool.max_message_size = size
        for peer in self._peers.values():
            peer.shh.max_message_size = size

    async def _tell_peers(self, queue: Callable[[Any], None]) -> None:
        await self._sessions.tell_all(list(self._peers.values()), queue)

    def rate_limit_stats(self) -> RateLimitStats:
        """The ingress rate limiter's counters since start (for metrics)."""
        return self._sessions.limiter.stats()

    # -- keys ------------------------------------------------------------------------------------

    def key_count(self) -> int:
        """Key pairs and symmetric keys held."""
        return len(self.keys)

    def new_key_pair(self) -> KeyID:
        return self.keys.new_key_pair()

    def add_private_key(self, secret: bytes) -> KeyID:
        return self.keys.add_private_key(secret)

    def delete_key_pair(self, key_id: str) -> bool:
        return self.keys.delete_key_pair(key_id)

    def has_key_pair(self, key_id: str) -> bool:
        return self.keys.has_key_pair(key_id)

    def private_key(self, key_id: str) -> PrivateKey:
        """The key pair with this id (UsageError `invalid id` if none)."""
        return self.keys.private_key(key_id)

    def new_sym_key(self) -> KeyID:
        return self.keys.new_sym_key()

    def add_sym_key(self, secret: bytes) -> KeyID:
        return self.keys.add_sym_key(secret)

    def sym_key_from_password(self, password: str) -> KeyID:
        """PBKDF2 (65356 iterations): blocking, call it off the event loop."""
        return self.keys.sym_key_from_password(password)

    def has_sym_key(self, key_id: str) -> bool:
        return self.keys.has_sym_key(key_id)

    def sym_key(self, key_id: str) -> SymmetricKey:
        """The symmetric key with this id (UsageError `non-existent key ID` if none)."""
        return self.keys.sym_key(key_id)

    def delete_sym_key(self, key_id: str) -> bool:
        return self.keys.delete_sym_key(key_id)

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
        """geth: a node with a bloom widens it to the new filter's topics; a full node stays full."""
        current = self.pool.bloom
        if current is None or not flt.topics:
            return
        wanted = aggregate_blooms(*map(topic_to_bloom, flt.topics))
        if not bloom_matches(current, wanted):
            merged = aggregate_blooms(current, wanted)
            self.pool.set_bloom(merged, self._keeper.now())
            self._spawn(self._tell_peers(lambda shh: shh.send_bloom(merged)))

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


async def _logged(coroutine: Coroutine[Any, Any, None]) -> None:
    """A node task that fails is logged; it never takes the task group (the node) down."""
    try:
        await coroutine
    except Exception:
        log.exception("node task failed")
