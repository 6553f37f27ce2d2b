"""The transport seam: where a node gets its peers from (issue "A whole network in one process").

The node never opens a socket itself. It asks its `Transport` to listen and to dial, and gets
`PeerLink`s back: established peers (after RLPx and the Hello exchange, or an equivalent) that
carry sub-protocol messages. `TcpTransport` is today's behaviour over real sockets, with the
connection gate of `hush.net.limits`; `hush.net.memory` carries links inside one process (with
latency, bandwidth and loss, with or without real RLPx) for simulations and tests.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from hush.crypto import PrivateKey
from hush.enode import Enode
from hush.errors import DisconnectReason
from hush.net.config import P2PConfig
from hush.net.connection import PeerConnection
from hush.net.dialer import dial
from hush.net.handshake import Admit
from hush.net.limits import ConnectionGate
from hush.net.listener import Listener, serve
from hush.net.slots import gate_for
from hush.types import NodeID, RandomBytes

__all__ = ["InboundStats", "Listening", "OnLink", "PeerLink", "TcpTransport", "Transport"]


class PeerLink(Protocol):
    """An established peer, as the node sees it (`hush.net.PeerConnection` is one).

    Every way the link ends surfaces as `hush.net.PeerDisconnected` from `read_message` and
    `send_message`."""

    @property
    def node_id(self) -> NodeID: ...

    @property
    def client_id(self) -> str: ...

    @property
    def remote_capabilities(self) -> tuple[tuple[str, int], ...]: ...

    @property
    def inbound(self) -> bool: ...

    @property
    def remote_address(self) -> tuple[str, int]: ...

    @property
    def local_address(self) -> tuple[str, int]: ...

    @property
    def closed(self) -> bool: ...

    async def read_message(self) -> tuple[str, int, bytes]:
        """The next (capability, code, payload) of a sub-protocol."""
        ...

    async def send_message(self, capability: str, code: int, payload: bytes) -> None:
        """Send one sub-protocol message; returns once the link took it (backpressure)."""
        ...

    async def disconnect(self, reason: DisconnectReason) -> None:
        """Tell the peer why, then close."""
        ...

    def close(self) -> None:
        """Drop the link at once."""
        ...


OnLink = Callable[[PeerLink], Awaitable[None]]
"""Called with each admitted inbound peer; the link is closed when it returns."""


class Listening(Protocol):
    """A transport's listener."""

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) it listens on (the port chosen, when 0 was asked for)."""
        ...

    def close(self) -> None: ...

    async def wait_closed(self) -> None: ...


class Transport(Protocol):
    """Listening and dialling for one node."""

    async def listen(
        self,
        node_key: PrivateKey,
        host: str,
        port: int,
        config: P2PConfig,
        on_link: OnLink,
        admit: Admit,
        random_bytes: RandomBytes,
    ) -> Listening:
        """Start accepting peers on host:port; raises OSError when it cannot."""
        ...

    async def dial(
        self,
        node_key: PrivateKey,
        enode: Enode,
        config: P2PConfig,
        admit: Admit,
        random_bytes: RandomBytes,
    ) -> PeerLink:
        """Connect and establish; raises `PeerDisconnected` (or OSError, TimeoutError)."""
        ...


@dataclass(frozen=True, slots=True)
class InboundStats:
    """What the connection gate counted of inbound connections (`TcpTransport.inbound_stats`)."""

    refused: Mapping[str, int] = field(default_factory=dict)
    """Closed at accept, by `Refusal` name (lower case: budget, pending, per_ip, ...)."""
    handshake_failures: Mapping[str, int] = field(default_factory=dict)
    """Past the gate but failed or timed out in the handshake, by `local_<reason>` or
    `remote_<reason>` (`local_read_timeout`: the handshake deadline)."""
    pending: int = 0
    """Inbound connections in the handshake now."""
    connections: int = 0
    """p2p sockets open now (pending or established, inbound or outbound)."""


class _TcpListening:
    __slots__ = ("_listener",)

    def __init__(self, listener: Listener) -> None:
        self._listener = listener

    @property
    def address(self) -> tuple[str, int]:
        name = self._listener.sockets[0].getsockname()
        return str(name[0]), int(name[1])

    def close(self) -> None:
        self._listener.close()

    async def wait_closed(self) -> None:
        await self._listener.wait_closed()


class TcpTransport:
    """Real sockets: today's listener and dialer, sharing one connection gate (budgeted from
    the open-file limit when first used)."""

    def __init__(self, gate: ConnectionGate | None = None) -> None:
        self.gate = gate

    def _gate(self, config: P2PConfig) -> ConnectionGate:
        if self.gate is None:
            self.gate = gate_for(config)
        return self.gate

    def inbound_stats(self) -> InboundStats:
        """The gate's counts so far (cumulative), read when asked (metrics scrapes)."""
        gate = self.gate
        if gate is None:
            return InboundStats()
        return InboundStats(
            refused={why.name.lower(): count for why, count in gate.refused.items()},
            handshake_failures=dict(gate.handshake_failures),
            pending=gate.pending,
            connections=gate.total,
        )

    async def listen(
        self,
        node_key: PrivateKey,
        host: str,
        port: int,
        config: P2PConfig,
        on_link: OnLink,
        admit: Admit,
        random_bytes: RandomBytes,
    ) -> Listening:
        async def on_connection(connection: PeerConnection) -> None:
            await on_link(connection)

        listener = await serve(
            node_key,
            host,
            port,
            config,
            on_connection,
            admit=admit,
            gate=self._gate(config),
            random_bytes=random_bytes,
        )
        return _TcpListening(listener)

    async def dial(
        self,
        node_key: PrivateKey,
        enode: Enode,
        config: P2PConfig,
        admit: Admit,
        random_bytes: RandomBytes,
    ) -> PeerLink:
        return await dial(node_key, enode, config, admit, self._gate(config), random_bytes)
