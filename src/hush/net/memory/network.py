"""The switchboard: addresses to listeners, one seeded RNG, and each node's `MemoryTransport`.

* `MemoryNetwork(seed=, model=, rlpx=)` — one per simulated network. It maps (host, port) to
  listeners, picks ports (30303 up for listeners, 49152 up for dialled connections, per host)
  and gives every new link two random streams drawn from its one seeded RNG, so a run replays
  exactly. `rlpx=True` runs real RLPx on every link (fidelity), `False` plain links (speed).
  `set_model(a, b, model)` gives the link between two hosts its own `LinkModel`.
* `MemoryTransport(network, host)` — one node's `hush.net.transport.Transport`. A dial costs
  one round trip (the TCP handshake) before the devp2p handshake; a dial to an address nobody
  listens on fails with "connection refused" after that round trip. Both modes hold
  `handshake_timeout` on both sides and pass `admit` as the TCP transport does.
* `network.bridge` (None unless a parallel simulation sets one): hosts another process runs; a
  dial to one of them goes through it (`hush.net.memory.remote`).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import random
from collections.abc import Coroutine
from typing import Any, Protocol

from hush.crypto import PrivateKey
from hush.enode import Enode, short_id
from hush.errors import DisconnectReason, UsageError
from hush.net.config import P2PConfig
from hush.net.connection import PeerConnection, PeerDisconnected
from hush.net.handshake import Admit, establish
from hush.net.memory.model import LinkModel
from hush.net.memory.pipe import Traffic
from hush.net.memory.plain import PlainLink, plain_pair
from hush.net.memory.streams import MemoryStream, open_streams, stream_pair
from hush.net.transport import OnLink, PeerLink
from hush.types import RandomBytes

__all__ = ["LISTEN_PORT", "Elsewhere", "MemoryNetwork", "MemoryTransport", "host_address"]

log = logging.getLogger(__name__)

LISTEN_PORT = 30303
"""The port of a host's first listener."""
_LISTEN_PORT = LISTEN_PORT
_EPHEMERAL_PORT = 49152
_ANY = ("", "0.0.0.0", "::")


class Elsewhere(Protocol):
    """The hosts of this network that another process runs, and how to dial them (plain
    links only: `hush.net.memory.remote.Bridge`)."""

    def holds(self, host: str) -> bool: ...

    async def dial(
        self,
        node_key: PrivateKey,
        enode: Enode,
        config: P2PConfig,
        admit: Admit,
        local: tuple[str, int],
        model: LinkModel,
        rng_out: random.Random,
        seed_back: int,
    ) -> PlainLink: ...


class MemoryNetwork:
    """Addresses, listeners and randomness of one in-memory network."""

    def __init__(self, *, seed: int = 0, model: LinkModel | None = None, rlpx: bool = False):
        self.model = model or LinkModel()
        self.rlpx = rlpx
        self._rng = random.Random(seed)
        self._models: dict[tuple[str, str], LinkModel] = {}
        self._listeners: dict[tuple[str, int], _MemoryListening] = {}
        self._next_port: dict[str, int] = {}
        self._hosts = 0
        self.traffic = Traffic()
        """Bytes and segments sent over every link so far, both directions (frames as RLPx
        would write them, on plain links)."""
        self.bridge: Elsewhere | None = None
        """Hosts that live in another process (`hush.net.memory.remote`), None: all here."""

    def host(self) -> str:
        """A fresh host address (10.0.0.1, 10.0.0.2, …)."""
        self._hosts += 1
        return host_address(self._hosts)

    def transport(self, host: str | None = None) -> MemoryTransport:
        """A node's transport at `host` (a fresh address by default)."""
        return MemoryTransport(self, host or self.host())

    def set_model(self, a: str, b: str, model: LinkModel) -> None:
        """The model of links between hosts `a` and `b` (both directions)."""
        self._models[_pair(a, b)] = model

    def model_between(self, a: str, b: str) -> LinkModel:
        return self._models.get(_pair(a, b), self.model)

    @property
    def bytes_carried(self) -> int:
        """Bytes sent over every link so far, both directions."""
        return self.traffic.bytes

    def _link_seeds(self) -> tuple[int, int]:
        """Seeds of a new link's two random streams (dialler → listener, back)."""
        return self._rng.getrandbits(64), self._rng.getrandbits(64)

    def _port(self, host: str, first: int) -> int:
        port = self._next_port.get(f"{host}/{first}", first)
        while (host, port) in self._listeners:
            port += 1
        if port > 0xFFFF:
            raise OSError(errno.EADDRNOTAVAIL, f"no free port left on {host}")
        self._next_port[f"{host}/{first}"] = port + 1
        return port


def host_address(n: int) -> str:
    """The n-th host address a network hands out (1: 10.0.0.1)."""
    if not 0 < n < 1 << 24:
        raise UsageError("no host addresses left")
    return f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


class _MemoryListening:
    """A listener on the switchboard; its inbound handshakes run in tasks of their own."""

    def __init__(
        self,
        network: MemoryNetwork,
        address: tuple[str, int],
        node_key: PrivateKey,
        config: P2PConfig,
        on_link: OnLink,
        admit: Admit,
        random_bytes: RandomBytes,
    ) -> None:
        self._network = network
        self._address = address
        self.node_key = node_key
        self.config = config
        self._on_link = on_link
        self._admit = admit
        self._random_bytes = random_bytes
        self._handlers: set[asyncio.Task[None]] = set()
        self.open = True

    @property
    def address(self) -> tuple[str, int]:
        return self._address

    def close(self) -> None:
        """Stop accepting; live links are their owners' to close."""
        if self.open:
            self.open = False
            self._network._listeners.pop(self._address, None)

    async def wait_closed(self) -> None:
        pass

    def _spawn(self, handler: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(handler)
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)

    def accept_stream(self, side: MemoryStream) -> None:
        self._spawn(self._handle_stream(side))

    def accept_plain(self, link: PlainLink) -> None:
        self._spawn(self._handle_plain(link))

    async def _handle_stream(self, side: MemoryStream) -> None:
        reader, writer = open_streams(side)
        try:
            # establish holds the handshake deadline (and aborts the stream at it).
            peer = await establish(
                self.node_key, reader, writer, self.config, self._admit, None, self._random_bytes
            )
        except PeerDisconnected as exc:
            log.debug("inbound memory connection failed: %s", exc)
            return
        await self._serve(peer)

    async def _handle_plain(self, link: PlainLink) -> None:
        try:
            async with asyncio.timeout(self.config.handshake_timeout):
                await link.accept_handshake(self.node_key.node_id, self._admit)
        except PeerDisconnected as exc:
            log.debug("inbound memory link failed: %s", exc)
            return
        except TimeoutError:
            link.close()
            return
        except BaseException:
            link.close()
            raise
        await self._serve(link)

    async def _serve(self, peer: PeerConnection | PlainLink) -> None:
        try:
            await self._on_link(peer)
        except Exception:
            log.exception("link handler for peer %s failed", short_id(peer.node_id))
        finally:
            peer.close()


class MemoryTransport:
    """One node's `Transport` on a `MemoryNetwork`, at address `host`."""

    def __init__(self, network: MemoryNetwork, host: str) -> None:
        self.network = network
        self.host = host

    async def listen(
        self,
        node_key: PrivateKey,
        host: str,
        port: int,
        config: P2PConfig,
        on_link: OnLink,
        admit: Admit,
        random_bytes: RandomBytes,
    ) -> _MemoryListening:
        if host not in (self.host, *_ANY):
            raise OSError(errno.EADDRNOTAVAIL, f"cannot listen on {host}: this node is {self.host}")
        network = self.network
        if port == 0:
            port = network._port(self.host, _LISTEN_PORT)
        elif (self.host, port) in network._listeners:
            raise OSError(errno.EADDRINUSE, f"{self.host}:{port} is in use")
        listening = _MemoryListening(
            network, (self.host, port), node_key, config, on_link, admit, random_bytes
        )
        network._listeners[(self.host, port)] = listening
        return listening

    async def dial(
        self,
        node_key: PrivateKey,
        enode: Enode,
        config: P2PConfig,
        admit: Admit,
        random_bytes: RandomBytes,
    ) -> PeerLink:
        network = self.network
        model = network.model_between(self.host, enode.ip)
        seed_out, seed_back = network._link_seeds()
        rng_out, rng_back = random.Random(seed_out), random.Random(seed_back)
        remote = (enode.ip, enode.tcp_port)
        started = asyncio.get_running_loop().time()
        rngs = rng_out, rng_back
        try:
            # One deadline for connect, RLPx and Hello, as `hush.net.dialer.dial` holds it.
            async with asyncio.timeout_at(started + config.handshake_timeout):
                # The TCP handshake: one round trip before either side may send.
                rtt = model.latency.sample(rng_out) + model.latency.sample(rng_back)
                await asyncio.sleep(rtt)
                listener = network._listeners.get(remote)
                bridge = network.bridge
                if listener is None and bridge is not None and bridge.holds(enode.ip):
                    local = (self.host, network._port(self.host, _EPHEMERAL_PORT))
                    return await bridge.dial(
                        node_key, enode, config, admit, local, model, rng_out, seed_back
                    )
                if listener is None:
                    raise PeerDisconnected(
                        DisconnectReason.NETWORK_ERROR,
                        False,
                        f"connect: [Errno {errno.ECONNREFUSED}] connection refused",
                    )
                local = (self.host, network._port(self.host, _EPHEMERAL_PORT))
                if not network.rlpx:
                    return await self._dial_plain(
                        node_key, enode, config, admit, listener, local, model, rngs
                    )
        except TimeoutError as exc:
            raise PeerDisconnected(
                DisconnectReason.READ_TIMEOUT, False, "handshake timed out"
            ) from exc
        # RLPx: the rest of the same deadline is the core's handshake timer.
        return await self._dial_rlpx(
            node_key, enode, config, admit, random_bytes, listener, local, model, rngs, started
        )

    async def _dial_rlpx(
        self,
        node_key: PrivateKey,
        enode: Enode,
        config: P2PConfig,
        admit: Admit,
        random_bytes: RandomBytes,
        listener: _MemoryListening,
        local: tuple[str, int],
        model: LinkModel,
        rngs: tuple[random.Random, random.Random],
        started: float,
    ) -> PeerConnection:
        loop = asyncio.get_running_loop()
        ours, theirs = stream_pair(
            loop, local, listener.address, model, *rngs, self.network.traffic
        )
        listener.accept_stream(theirs)
        reader, writer = open_streams(ours)
        return await establish(
            node_key, reader, writer, config, admit, enode.node_id, random_bytes, started=started
        )

    async def _dial_plain(
        self,
        node_key: PrivateKey,
        enode: Enode,
        config: P2PConfig,
        admit: Admit,
        listener: _MemoryListening,
        local: tuple[str, int],
        model: LinkModel,
        rngs: tuple[random.Random, random.Random],
    ) -> PlainLink:
        loop = asyncio.get_running_loop()
        ours, theirs = plain_pair(
            loop,
            (local, config),
            (listener.address, listener.config),
            model,
            *rngs,
            self.network.traffic,
        )
        listener.accept_plain(theirs)
        return await ours.dial(node_key.node_id, enode.node_id, admit)
