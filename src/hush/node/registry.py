"""The peer registry: who is connected, who may connect, and whom to dial (devp2p.md §4).

It owns the table of live peers (filled here, read by the pool keeper and the sessions), the
static and trusted sets, admission (geth's rules: no self, no duplicate, `max_peers` regular
peers while static and trusted ones always get in), a dial loop with backoff per static peer,
and the loop that keeps `target_peers` peers from a `PeerSource`. Each admitted link gets a
session (`Sessions.open` / `serve`); when it ends, the registry drops the peer, tells the
observers and hands the peer's known marks back to the pool keeper. Links come from the injected
transport; tasks go to the facade's task group through `spawn`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from hush.crypto.keys import PrivateKey
from hush.enode import Enode, host_port, short_id
from hush.errors import DisconnectReason, HushError, PeerError, UsageError
from hush.net import P2PConfig, PeerDisconnected
from hush.net.transport import PeerLink, Transport
from hush.node.config import NodeConfig
from hush.node.hooks import DialOutcome, NodeObserver, PeerSource
from hush.node.live_peer import LivePeer
from hush.node.pool_keeper import PoolKeeper
from hush.node.session import Sessions
from hush.node.stem_hops import STEM_CAPABILITY
from hush.shh.packets import PROTOCOL_LENGTH, PROTOCOL_NAME, PROTOCOL_VERSION
from hush.shh.pool import MAX_MESSAGE_SIZE
from hush.types import Bloom, NodeID, RandomBytes

__all__ = ["PeerInfo", "PeerRegistry", "p2p_config"]

log = logging.getLogger(__name__)

MAX_BACKOFF = 30.0
"""Most seconds between two dials of a static peer."""
_SOURCE_DIALS = 3  # candidates of the peer source dialled at once

Spawn = Callable[[Coroutine[Any, Any, None]], "asyncio.Task[None] | None"]


def p2p_config(config: NodeConfig) -> P2PConfig:
    """The devp2p settings of a node with this config: shh/6 its one capability."""
    return P2PConfig(
        client_id=config.client_id,
        capabilities=((PROTOCOL_NAME, PROTOCOL_VERSION, PROTOCOL_LENGTH),)
        + ((STEM_CAPABILITY,) if config.stem_hops else ()),
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


class PeerRegistry:
    def __init__(
        self,
        *,
        node_key: PrivateKey,
        transport: Transport,
        p2p_config: Callable[[], P2PConfig],
        random_bytes: RandomBytes,
        sessions: Sessions,
        keeper: PoolKeeper,
        observers: NodeObserver,
        spawn: Spawn,
        max_peers: int,
        target_peers: int,
        live: dict[NodeID, LivePeer],
        source_interval: float = 5.0,
        source_gap: float = 0.5,
    ) -> None:
        self._node_key = node_key
        self._transport = transport
        self._p2p_config = p2p_config
        self._random_bytes = random_bytes
        self._sessions = sessions
        self._keeper = keeper
        self._observers = observers
        self._spawn = spawn
        self.max_peers = max_peers
        self.target_peers = target_peers
        self.source_interval = source_interval
        """Seconds between two looks at the peer count, unless a peer comes or goes…"""
        self.source_gap = source_gap
        """…and at least this long: a source's dials are bounded per gap."""
        self.live = live
        """The connected peers by node id (the pool keeper reads the same table)."""
        self._static: dict[NodeID, Enode] = {}
        self._trusted: set[NodeID] = set()
        self._dialers: dict[NodeID, asyncio.Task[None]] = {}
        self._source_wake = asyncio.Event()
        self.running = False

    @property
    def node_id(self) -> NodeID:
        return self._node_key.node_id

    # -- the static and trusted sets -------------------------------------------------------------

    def add_peer(self, url: str | Enode) -> None:
        """Dial a peer now and keep redialling it with backoff (a static peer)."""
        enode = url if isinstance(url, Enode) else Enode.parse(url)
        if enode.node_id == self.node_id:
            raise UsageError("cannot add this node as its own peer")
        self._static[enode.node_id] = enode
        self.dial_static()

    def dial_static(self) -> None:
        """Start a dial loop for every static peer that has none (once running)."""
        if not self.running:
            return
        for node_id, enode in self._static.items():
            if node_id not in self._dialers:
                task = self._spawn(self._dial_loop(enode))
                if task is not None:
                    self._dialers[node_id] = task
                    task.add_done_callback(self._dial_ended)

    def _dial_ended(self, task: asyncio.Task[None]) -> None:
        for node_id, dialer in list(self._dialers.items()):
            if dialer is task:
                del self._dialers[node_id]

    async def remove_peer(self, url: str | Enode) -> bool:
        enode = url if isinstance(url, Enode) else Enode.parse(url)
        self._static.pop(enode.node_id, None)
        dialer = self._dialers.pop(enode.node_id, None)
        if dialer is not None:
            dialer.cancel()
        peer = self.live.get(enode.node_id)
        if peer is not None:
            with contextlib.suppress(HushError, OSError):
                await peer.connection.disconnect(DisconnectReason.REQUESTED)
        return peer is not None or dialer is not None

    def add_trusted_peer(self, url: str | Enode) -> None:
        enode = url if isinstance(url, Enode) else Enode.parse(url)
        self._trusted.add(enode.node_id)
        peer = self.live.get(enode.node_id)
        if peer is not None:
            peer.shh.trusted = True

    def mark_trusted_peer(self, url: str) -> None:
        """geth's shh_markTrustedPeer: the peer must be connected."""
        enode = Enode.parse(url)
        peer = self.live.get(enode.node_id)
        if peer is None:
            raise UsageError(f"could not find peer with ID: {enode.node_id.hex()}")
        self._trusted.add(enode.node_id)
        peer.shh.trusted = True

    def find(self, target_peer: str) -> LivePeer:
        """The connected peer an enode URL names (UsageError with geth's words if none)."""
        try:
            node_id = Enode.parse(target_peer).node_id
        except HushError as exc:
            raise UsageError(f"failed to parse target peer: {exc}") from exc
        peer = self.live.get(node_id)
        if peer is None:
            raise UsageError(f"could not find peer with ID: {node_id.hex()}")
        return peer

    def infos(self) -> list[PeerInfo]:
        infos = []
        for peer in self.live.values():
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

    # -- admission -------------------------------------------------------------------------------

    def admit(self, node_id: NodeID, inbound: bool) -> DisconnectReason | None:
        if node_id == self.node_id:
            return DisconnectReason.SELF_CONNECTION
        if node_id in self.live:
            return DisconnectReason.ALREADY_CONNECTED
        privileged = node_id in self._trusted or node_id in self._static
        regular = sum(1 for p in self.live if p not in self._trusted and p not in self._static)
        if not privileged and regular >= self.max_peers:
            return DisconnectReason.TOO_MANY_PEERS
        return None

    async def on_link(self, connection: PeerLink) -> None:
        """An established link (inbound or dialled): admit it and run its session to the end."""
        node_id = connection.node_id
        # Admitted after the RLPx handshake, but others may have joined during the Hello exchange.
        reason = self.admit(node_id, connection.inbound) if self.running else None
        if not self.running or reason is not None:
            with contextlib.suppress(HushError, OSError):
                await connection.disconnect(reason or DisconnectReason.QUITTING)
            return
        peer = self._sessions.open(
            connection, trusted=node_id in self._trusted, static=node_id in self._static
        )
        self.live[node_id] = peer
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
            await self._sessions.serve(peer)
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
            self.live.pop(node_id, None)
            self._source_wake.set()
            self._observers.peer_disconnected(node_id, label)
            if self.running:  # (at shutdown the pool's accounting no longer matters)
                self._spawn(self._keeper.release_known(peer.shh.known))
            log.info("peer left: %s: %s", short_id(node_id), why)
            if refusal is not None:
                with contextlib.suppress(HushError, OSError):
                    await connection.disconnect(refusal)
            connection.close()

    async def disconnect_all(self, reason: DisconnectReason, timeout: float) -> None:
        await asyncio.gather(
            *(
                asyncio.wait_for(peer.connection.disconnect(reason), timeout)
                for peer in self.live.values()
            ),
            return_exceptions=True,  # a peer that's gone already is fine
        )

    # -- dialling --------------------------------------------------------------------------------

    async def _dial(self, enode: Enode) -> PeerLink:
        return await self._transport.dial(
            self._node_key, enode, self._p2p_config(), self.admit, self._random_bytes
        )

    async def _dial_loop(self, enode: Enode) -> None:
        backoff = 1.0
        while self.running and enode.node_id in self._static:
            if enode.node_id not in self.live:
                try:
                    connection = await self._dial(enode)
                except (HushError, OSError, TimeoutError) as exc:
                    self._observers.dial_failed(enode.node_id, exc)
                    log.info(
                        "dial %s failed: %s; retry in %.0f s", short_id(enode.node_id), exc, backoff
                    )
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF)
                    continue
                backoff = 1.0
                await self.on_link(connection)
            await asyncio.sleep(backoff)

    async def source_loop(self, source: PeerSource) -> None:
        """Keep `target_peers` peers: dial the source's candidates (a few at a time)."""
        dialing: set[NodeID] = set()
        while True:
            want = self.target_peers - len(self.live) - len(dialing)
            if want > 0:
                exclude = {*self.live, *dialing, *self._dialers, self.node_id}
                for enode in source.candidates(min(want, _SOURCE_DIALS), exclude):
                    if enode.node_id in exclude:
                        continue
                    exclude.add(enode.node_id)
                    dialing.add(enode.node_id)
                    self._spawn(self._dial_candidate(source, enode, dialing))
            await asyncio.sleep(self.source_gap)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.source_interval - self.source_gap):
                    await self._source_wake.wait()
            self._source_wake.clear()

    async def _dial_candidate(self, source: PeerSource, enode: Enode, dialing: set[NodeID]) -> None:
        try:
            connection = await self._dial(enode)
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
        await self.on_link(connection)


def _address(address: tuple[str, int] | tuple[str, int, int, int] | None) -> str:
    if not address:
        return ""
    return host_port(address[0], address[1])
