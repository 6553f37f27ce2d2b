"""The dialer: connect to an enode and establish a peer within one deadline (devp2p.md §3).

One deadline (`handshake_timeout`) covers connect + RLPx handshake + Hello exchange: the connect
is bounded here, the rest by the core's handshake timer, counted from the same start. With a
`ConnectionGate`, a dial takes one of its slots (outbound ones keep the last part of the budget)
for exactly the socket's lifetime, and is refused before connecting when the budget is spent.
"""

from __future__ import annotations

import asyncio
import logging
import os

from hush.crypto import PrivateKey
from hush.enode import Enode, short_id
from hush.errors import DisconnectReason
from hush.net.config import P2PConfig
from hush.net.connection import PeerConnection, PeerDisconnected
from hush.net.handshake import Admit, establish
from hush.net.limits import ConnectionGate
from hush.net.slots import SlotStream
from hush.types import RandomBytes

__all__ = ["dial"]

log = logging.getLogger(__name__)


async def _open(
    host: str, port: int, gate: ConnectionGate | None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    if gate is None:
        return await asyncio.open_connection(host, port)
    slot = gate.outbound()
    if slot is None:
        raise OSError(f"connection budget reached ({gate.max_connections}, open-file limit)")
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(loop=loop)
    protocol = SlotStream(reader, gate, slot)
    try:
        transport, _ = await loop.create_connection(lambda: protocol, host, port)
    except BaseException:
        gate.release(slot)  # never connected: the protocol will not see connection_lost
        raise
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)


async def dial(
    node_key: PrivateKey,
    enode: Enode,
    config: P2PConfig,
    admit: Admit | None = None,
    gate: ConnectionGate | None = None,
    random_bytes: RandomBytes = os.urandom,
) -> PeerConnection:
    """Connect to `enode`; returns once both Hellos are exchanged. Raises PeerDisconnected.

    With a `gate`, the connection holds one of its slots (refused when the budget is spent)."""
    started = asyncio.get_running_loop().time()
    try:
        async with asyncio.timeout_at(started + config.handshake_timeout):
            try:
                reader, writer = await _open(enode.ip, enode.tcp_port, gate)
            except OSError as exc:
                raise PeerDisconnected(
                    DisconnectReason.NETWORK_ERROR, False, f"connect: {exc}"
                ) from exc
    except TimeoutError as exc:
        raise PeerDisconnected(DisconnectReason.READ_TIMEOUT, False, "handshake timed out") from exc
    # The rest of the same deadline is the core's handshake timer.
    peer = await establish(
        node_key, reader, writer, config, admit, enode.node_id, random_bytes, started=started
    )
    log.info("dialed peer %s at %s (%s)", short_id(peer.node_id), enode.ip, peer.client_id)
    return peer
