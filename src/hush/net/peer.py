"""The asyncio shell around `hush.rlpx.Connection`: dialing, listening and one live peer.

This is where sockets, deadlines and `os.urandom` live; every protocol decision is made by the
sans-IO core. Per connection (devp2p.md §3, §4):

* one deadline (`handshake_timeout`) covers connect + RLPx handshake + Hello exchange, and our
  Hello goes out before we wait for theirs;
* `admit(node_id, inbound)` runs right after the RLPx handshake; a reason it returns is sent as
  an uncompressed Disconnect instead of Hello. Connecting to ourselves is refused the same way;
* one reader task feeds the core (answering Pings) and queues sub-protocol messages; reads have
  `read_timeout`; a ping task keeps the remote's deadline satisfied;
* all writes go through one lock-serialised flush of the core's output, each with
  `write_timeout`;
* on our Disconnect we half-close and give the peer a moment to read it before closing, so that
  unread input of ours does not turn the close into a reset that destroys the message.

Every way a connection ends surfaces as `PeerDisconnected(reason, by_remote)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable

from hush.crypto import PrivateKey
from hush.enode import Enode, short_id
from hush.errors import DisconnectReason, HushError, PeerError
from hush.net.config import P2PConfig
from hush.rlpx import (
    Authenticated,
    Capability,
    Connection,
    DisconnectReceived,
    Event,
    HelloReceived,
    MessageReceived,
    State,
)
from hush.types import NodeID

__all__ = ["Admit", "PeerConnection", "PeerDisconnected", "dial", "serve"]

log = logging.getLogger(__name__)

Admit = Callable[[NodeID, bool], DisconnectReason | None]
"""Called as `admit(node_id, inbound)` after the RLPx handshake; a reason refuses the peer."""

_READ_CHUNK = 64 * 1024
_DISCONNECT_LINGER = 1.0  # geth's write deadline for a Disconnect (devp2p.md §4.4)
# Messages read ahead of the application before TCP backpressure applies: bounded in count and
# in bytes, so a peer can't park 64 maximum-size messages in our memory.
_QUEUE_SIZE = 64
_QUEUE_BYTES = 4 * 1024 * 1024


class PeerDisconnected(HushError):
    """The connection is over; `reason` says why and `by_remote` who ended it."""

    def __init__(self, reason: DisconnectReason, by_remote: bool, detail: str = "") -> None:
        who = "remote" if by_remote else "local"
        text = f"{who} disconnect: {reason.name.lower()}"
        super().__init__(f"{text} ({detail})" if detail else text)
        self.reason = reason
        self.by_remote = by_remote
        self.detail = detail
        self.lingering = False
        """Set when a background task owns closing the transport (after our Disconnect)."""

    def copy(self) -> PeerDisconnected:
        return PeerDisconnected(self.reason, self.by_remote, self.detail)


def _short(node_id: bytes) -> str:
    return short_id(node_id)  # one format everywhere (hush.enode)


def _capabilities(config: P2PConfig) -> tuple[Capability, ...]:
    return tuple(Capability(name, version, length) for name, version, length in config.capabilities)


async def _linger_close(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, linger: float
) -> None:
    """Flush, half-close, drain the peer's input for up to `linger` seconds, then close."""
    with contextlib.suppress(OSError, RuntimeError, TimeoutError):
        async with asyncio.timeout(linger):
            await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
            while await reader.read(_READ_CHUNK):
                pass
    writer.close()


_lingering: set[asyncio.Task[None]] = set()


def _close_later(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Linger-close in the background, so that a refusal during the handshake is reported at
    once and no deadline can cancel the Disconnect's delivery (or mask its reason)."""
    task = asyncio.create_task(_linger_close(reader, writer, _DISCONNECT_LINGER))
    _lingering.add(task)
    task.add_done_callback(_lingering.discard)


class PeerConnection:
    """A connected peer after the Hello exchange.

    `read_message` yields sub-protocol messages; everything of the base protocol (Ping, Pong,
    Disconnect) is handled here. Use `disconnect` to end politely, `close` to drop.
    """

    def __init__(
        self,
        connection: Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        config: P2PConfig,
        inbound: bool,
    ) -> None:
        hello = connection.remote_hello
        assert hello is not None and connection.remote_node_id is not None
        self._conn = connection
        self._reader = reader
        self._writer = writer
        self._config = config
        self.node_id: NodeID = connection.remote_node_id
        """The remote's 64-byte public key, authenticated by RLPx."""
        self.client_id = hello.client_id
        self.remote_capabilities: tuple[tuple[str, int], ...] = hello.capabilities
        self.inbound = inbound
        peername = writer.get_extra_info("peername") or ("", 0)
        sockname = writer.get_extra_info("sockname") or ("", 0)
        self.remote_address: tuple[str, int] = (str(peername[0]), int(peername[1]))
        self.local_address: tuple[str, int] = (str(sockname[0]), int(sockname[1]))
        self._queue: asyncio.Queue[tuple[str, int, bytes] | None] = asyncio.Queue(_QUEUE_SIZE)
        self._queued_bytes = 0
        self._room = asyncio.Event()
        self._closed: PeerDisconnected | None = None
        self._write_lock = asyncio.Lock()
        self._read_task = asyncio.create_task(self._read_loop())
        self._ping_task = asyncio.create_task(self._ping_loop())

    def __repr__(self) -> str:
        direction = "in" if self.inbound else "out"
        return f"PeerConnection({_short(self.node_id)} {direction} {self.remote_address})"

    @property
    def shared_capabilities(self) -> tuple[tuple[str, int], ...]:
        return tuple((cap.name, cap.version) for cap in self._conn.shared_capabilities)

    @property
    def closed(self) -> bool:
        return self._closed is not None

    # -- application API ------------------------------------------------------------------------

    async def read_message(self) -> tuple[str, int, bytes]:
        """The next (capability, code, payload); raises PeerDisconnected once the peer is gone."""
        if self._closed is not None and self._queue.empty():
            raise self._closed.copy()
        item = await self._queue.get()
        if item is not None:
            self._queued_bytes -= len(item[2])
            self._room.set()
        if item is None:
            assert self._closed is not None
            # Leave the sentinel for any other reader, then report.
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(None)
            raise self._closed.copy()
        return item

    async def send_message(self, capability: str, code: int, payload: bytes) -> None:
        """Send one sub-protocol message (compressed if negotiated) and wait for it to drain."""
        if self._closed is not None:
            raise self._closed.copy()
        self._conn.send_message(capability, code, payload)
        await self._flush()

    async def disconnect(self, reason: DisconnectReason) -> None:
        """Send Disconnect `[reason]`, give the peer a moment to read it, and close."""
        if self._closed is not None:
            return
        self._send_disconnect(reason)
        self._finish(PeerDisconnected(reason, by_remote=False))
        await self._stop_tasks()
        await _linger_close(self._reader, self._writer, _DISCONNECT_LINGER)

    def close(self) -> None:
        """Drop the connection at once, without a Disconnect."""
        self._finish(PeerDisconnected(DisconnectReason.REQUESTED, by_remote=False, detail="closed"))
        for task in (self._read_task, self._ping_task):
            if task is not asyncio.current_task():
                task.cancel()
        self._writer.close()

    # -- internals ------------------------------------------------------------------------------

    def _finish(self, outcome: PeerDisconnected) -> None:
        if self._closed is not None:
            return
        self._closed = outcome
        log.info("peer %s gone: %s", _short(self.node_id), outcome)
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)

    async def _stop_tasks(self) -> None:
        current = asyncio.current_task()
        tasks = [t for t in (self._read_task, self._ping_task) if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _flush(self) -> None:
        try:
            async with self._write_lock:
                data = self._conn.data_to_send()
                if data:
                    self._writer.write(data)
                    async with asyncio.timeout(self._config.write_timeout):
                        await self._writer.drain()
        except (OSError, TimeoutError) as exc:
            outcome = PeerDisconnected(DisconnectReason.NETWORK_ERROR, False, f"write: {exc!r}")
            self._abort(outcome)
            raise outcome.copy() from exc

    def _abort(self, outcome: PeerDisconnected) -> None:
        self._finish(outcome)
        for task in (self._read_task, self._ping_task):
            if task is not asyncio.current_task():
                task.cancel()
        self._writer.close()

    def _send_disconnect(self, reason: DisconnectReason) -> None:
        # Written at once, before any await, so that nothing (a concurrent close() included) can
        # get between the decision and the bytes. Bypassing the lock keeps order: a flush in
        # progress has already written what it took from the core.
        self._conn.disconnect(reason)
        with contextlib.suppress(OSError, RuntimeError):
            self._writer.write(self._conn.data_to_send())

    async def _fail(self, error: PeerError) -> None:
        """A protocol violation: tell the peer why (our egress still works), then close."""
        log.info("peer %s violated the protocol: %s", _short(self.node_id), error)
        self._send_disconnect(error.reason)
        self._finish(PeerDisconnected(error.reason, by_remote=False, detail=str(error)))
        ping = self._ping_task
        ping.cancel()
        await asyncio.gather(ping, return_exceptions=True)
        await _linger_close(self._reader, self._writer, _DISCONNECT_LINGER)

    async def _drain_events(self) -> bool:
        """Hand queued core events on; False once the connection is over."""
        while True:
            try:
                event = self._conn.next_event()
            except PeerError as error:
                await self._fail(error)
                return False
            if event is None:
                break
            if isinstance(event, MessageReceived):
                await self._enqueue((event.capability, event.code, event.payload))
            elif isinstance(event, DisconnectReceived):
                self._abort(PeerDisconnected(event.reason, by_remote=True))
                return False
        await self._flush()  # automatic Pongs
        return True

    async def _enqueue(self, item: tuple[str, int, bytes]) -> None:
        size = len(item[2])
        while self._queued_bytes and self._queued_bytes + size > _QUEUE_BYTES:
            self._room.clear()
            await self._room.wait()
        self._queued_bytes += size
        await self._queue.put(item)

    async def _read_loop(self) -> None:
        try:
            # Frames that arrived together with the Hello are already in the core.
            if not await self._drain_events():
                return
            while True:
                try:
                    async with asyncio.timeout(self._config.read_timeout):
                        data = await self._reader.read(_READ_CHUNK)
                except TimeoutError:
                    await self._fail(PeerError("read timeout", DisconnectReason.READ_TIMEOUT))
                    return
                if not data:
                    self._abort(PeerDisconnected(DisconnectReason.NETWORK_ERROR, True, "EOF"))
                    return
                self._conn.receive_data(data)
                if not await self._drain_events():
                    return
        except PeerDisconnected:
            return  # a failed flush already closed the connection
        except OSError as exc:
            self._abort(PeerDisconnected(DisconnectReason.NETWORK_ERROR, True, repr(exc)))

    async def _ping_loop(self) -> None:
        try:
            while True:
                await asyncio.sleep(self._config.ping_interval)
                if self._conn.state is not State.ESTABLISHED:
                    return
                self._conn.ping()
                await self._flush()
        except PeerDisconnected:
            return


async def _next_event(connection: Connection, reader: asyncio.StreamReader) -> Event:
    while True:
        event = connection.next_event()
        if event is not None:
            return event
        data = await reader.read(_READ_CHUNK)
        if not data:
            raise PeerDisconnected(DisconnectReason.NETWORK_ERROR, True, "EOF during handshake")
        connection.receive_data(data)


async def _establish(
    node_key: PrivateKey,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    config: P2PConfig,
    admit: Admit | None,
    remote_node_id: NodeID | None,
) -> PeerConnection:
    """RLPx handshake, admission and Hello exchange; the caller holds the deadline."""
    inbound = remote_node_id is None
    connection = Connection(
        node_key,
        os.urandom,
        remote_node_id=remote_node_id,
        client_id=config.client_id,
        capabilities=_capabilities(config),
        max_message_size=config.max_message_size,
    )
    try:
        writer.write(connection.data_to_send())  # the auth, when we dial
        event = await _next_event(connection, reader)
        assert isinstance(event, Authenticated)
        node_id = event.node_id
        if node_id == node_key.node_id:
            refusal: DisconnectReason | None = DisconnectReason.SELF_CONNECTION
        else:
            refusal = admit(node_id, inbound) if admit is not None else None
        if refusal is not None:
            connection.disconnect(refusal)
            writer.write(connection.data_to_send())
            _close_later(reader, writer)
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
            _close_later(reader, writer)
        failed = PeerDisconnected(error.reason, by_remote=False, detail=str(error))
        failed.lingering = connection.authenticated
        raise failed from error
    return PeerConnection(connection, reader, writer, config, inbound)


async def _guarded_establish(
    node_key: PrivateKey,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    config: P2PConfig,
    admit: Admit | None,
    remote_node_id: NodeID | None,
) -> PeerConnection:
    try:
        return await _establish(node_key, reader, writer, config, admit, remote_node_id)
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


async def dial(
    node_key: PrivateKey,
    enode: Enode,
    config: P2PConfig,
    admit: Admit | None = None,
) -> PeerConnection:
    """Connect to `enode`; returns once both Hellos are exchanged. Raises PeerDisconnected."""
    try:
        async with asyncio.timeout(config.handshake_timeout):
            try:
                reader, writer = await asyncio.open_connection(enode.ip, enode.tcp_port)
            except OSError as exc:
                raise PeerDisconnected(
                    DisconnectReason.NETWORK_ERROR, False, f"connect: {exc}"
                ) from exc
            peer = await _guarded_establish(node_key, reader, writer, config, admit, enode.node_id)
    except TimeoutError as exc:
        raise PeerDisconnected(DisconnectReason.READ_TIMEOUT, False, "handshake timed out") from exc
    log.info("dialed peer %s at %s (%s)", _short(peer.node_id), enode.ip, peer.client_id)
    return peer


async def serve(
    node_key: PrivateKey,
    host: str,
    port: int,
    config: P2PConfig,
    on_connection: Callable[[PeerConnection], Awaitable[None]],
    admit: Admit | None = None,
) -> asyncio.Server:
    """Listen on host:port (0 picks a free port); each admitted peer goes to `on_connection`.

    The connection is closed when `on_connection` returns.
    """

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        address = writer.get_extra_info("peername")
        try:
            async with asyncio.timeout(config.handshake_timeout):
                peer = await _guarded_establish(node_key, reader, writer, config, admit, None)
        except PeerDisconnected as exc:
            log.info("inbound connection from %s failed: %s", address, exc)
            return
        except TimeoutError:
            writer.close()
            log.info("inbound connection from %s: handshake timed out", address)
            return
        log.info("accepted peer %s from %s (%s)", _short(peer.node_id), address, peer.client_id)
        try:
            await on_connection(peer)
        except Exception:
            log.exception("connection handler for peer %s failed", _short(peer.node_id))
        finally:
            peer.close()

    return await asyncio.start_server(handle, host, port)
