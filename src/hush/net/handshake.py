"""Establishing a peer: RLPx handshake, admission and the Hello exchange (devp2p.md §2, §4.2).

Shared by the dialer and the listener (and in-memory transports):

* the core's handshake deadline (`handshake_timeout`, geth's 5 s, counted from `started` or
  from the call) is the shell's one timer here: when it passes the transport is aborted at once
  (no Disconnect, as geth sends none for a timeout), so nothing of the connection outlives it;
* `admit(node_id, inbound)` runs right after the RLPx handshake; a reason it returns is sent as
  an uncompressed Disconnect instead of Hello. Connecting to ourselves is refused the same way;
* our Hello goes out before we wait for theirs;
* a refusal or a protocol error after the RLPx handshake is told to the peer and its transport
  linger-closed in the background (`PeerDisconnected.lingering`), so that the caller's deadline
  can neither cancel the Disconnect's delivery nor mask its reason; any other failure closes the
  transport at once.

Every failure surfaces as `PeerDisconnected`; `random_bytes` (the OS's by default) is the core's
randomness.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable

from hush.crypto import PrivateKey
from hush.errors import DisconnectReason, PeerError
from hush.net.config import P2PConfig
from hush.net.connection import READ_CHUNK, PeerConnection, PeerDisconnected, close_later
from hush.rlpx import (
    Authenticated,
    Capability,
    Connection,
    DisconnectReceived,
    Event,
    HelloReceived,
)
from hush.types import NodeID, RandomBytes

__all__ = ["Admit", "establish"]

Admit = Callable[[NodeID, bool], DisconnectReason | None]
"""Called as `admit(node_id, inbound)` after the RLPx handshake; a reason refuses the peer."""


def _capabilities(config: P2PConfig) -> tuple[Capability, ...]:
    return tuple(Capability(name, version, length) for name, version, length in config.capabilities)


async def _next_event(connection: Connection, reader: asyncio.StreamReader) -> Event:
    loop = asyncio.get_running_loop()
    while True:
        event = connection.next_event()
        if event is not None:
            return event
        data = await reader.read(READ_CHUNK)
        if not data:
            raise PeerDisconnected(DisconnectReason.NETWORK_ERROR, True, "EOF during handshake")
        connection.receive_data(data, loop.time())


async def _exchange(
    connection: Connection,
    own_id: NodeID,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    admit: Admit | None,
    inbound: bool,
) -> None:
    """RLPx handshake, admission and Hello exchange on `connection`."""
    try:
        writer.write(connection.data_to_send())  # the auth, when we dial
        event = await _next_event(connection, reader)
        assert isinstance(event, Authenticated)
        node_id = event.node_id
        if node_id == own_id:
            refusal: DisconnectReason | None = DisconnectReason.SELF_CONNECTION
        else:
            refusal = admit(node_id, inbound) if admit is not None else None
        if refusal is not None:
            connection.disconnect(refusal)
            writer.write(connection.data_to_send())
            close_later(reader, writer)
            refused = PeerDisconnected(refusal, by_remote=False, detail="not admitted")
            refused.lingering = True
            raise refused
        # Our Hello goes out before we wait for theirs (devp2p.md §4.2).
        connection.send_hello()
        writer.write(connection.data_to_send())
        await writer.drain()
        event = await _next_event(connection, reader)
        if isinstance(event, DisconnectReceived):
            raise PeerDisconnected(event.reason, by_remote=True)
        assert isinstance(event, HelloReceived)
    except PeerError as error:
        if connection.authenticated:
            connection.disconnect(error.reason)
            with contextlib.suppress(OSError, RuntimeError):
                writer.write(connection.data_to_send())
            close_later(reader, writer)
        failed = PeerDisconnected(error.reason, by_remote=False, detail=str(error))
        failed.lingering = connection.authenticated
        raise failed from error


async def establish(
    node_key: PrivateKey,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    config: P2PConfig,
    admit: Admit | None,
    remote_node_id: NodeID | None,
    random_bytes: RandomBytes = os.urandom,
    *,
    started: float | None = None,
) -> PeerConnection:
    """RLPx handshake, admission and Hello exchange, within `config.handshake_timeout` from
    `started` (the loop's clock; by default now). When it fails the transport is closed (unless
    a background linger-close owns it); a passed deadline becomes
    `PeerDisconnected(READ_TIMEOUT)`, an OSError `PeerDisconnected(NETWORK_ERROR)`."""
    loop = asyncio.get_running_loop()
    inbound = remote_node_id is None
    try:
        connection = Connection(
            node_key,
            random_bytes,
            remote_node_id=remote_node_id,
            client_id=config.client_id,
            capabilities=_capabilities(config),
            max_message_size=config.max_message_size,
            now=loop.time() if started is None else started,
            handshake_timeout=config.handshake_timeout,
            read_timeout=config.read_timeout,
            ping_interval=config.ping_interval,
        )
        deadline = connection.get_timer()
        assert deadline is not None
        timeout = asyncio.timeout_at(deadline)
        try:
            async with timeout:
                await _exchange(connection, node_key.node_id, reader, writer, admit, inbound)
        except TimeoutError as exc:
            if not timeout.expired():
                raise  # the socket's own ETIMEDOUT: an OSError
            # A timer may fire a hair before its time (the loop's clock resolution).
            connection.handle_timer(max(deadline, loop.time()))
            error = connection.error
            assert error is not None
            writer.transport.abort()  # nothing of a connection outlives its handshake deadline
            raise PeerDisconnected(error.reason, by_remote=False, detail=str(error)) from exc
        return PeerConnection(connection, reader, writer, config, inbound)
    except PeerDisconnected as exc:
        if not exc.lingering:
            writer.close()
        raise
    except OSError as exc:
        writer.close()
        raise PeerDisconnected(DisconnectReason.NETWORK_ERROR, True, repr(exc)) from exc
    except BaseException:
        writer.close()
        raise
