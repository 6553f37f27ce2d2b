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
  unread input of ours does not turn the close into a reset that destroys the message;
* inbound connections pass a `ConnectionGate` (`hush.net.limits`) the moment they are accepted:
  over a limit they are closed at once, before any reader task exists; a slot is held for exactly
  the socket's lifetime, and a connection still in the handshake at its deadline is aborted, so
  nothing of it outlives the deadline. Dials take a slot of the same gate when given one.

Every way a connection ends surfaces as `PeerDisconnected(reason, by_remote)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections import Counter
from collections.abc import Awaitable, Callable

from hush.crypto import PrivateKey
from hush.enode import Enode, host_port, short_id
from hush.errors import DisconnectReason, HushError, PeerError
from hush.net.config import P2PConfig
from hush.net.limits import (
    ConnectionGate,
    Refusal,
    Slot,
    connection_budget,
    open_file_limit,
)
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

__all__ = ["Admit", "Listener", "PeerConnection", "PeerDisconnected", "dial", "gate_for", "serve"]

log = logging.getLogger(__name__)

Admit = Callable[[NodeID, bool], DisconnectReason | None]
"""Called as `admit(node_id, inbound)` after the RLPx handshake; a reason refuses the peer."""

_READ_CHUNK = 64 * 1024
_DISCONNECT_LINGER = 1.0  # geth's write deadline for a Disconnect (devp2p.md §4.4)
# Messages read ahead of the application before TCP backpressure applies: bounded in count and
# in bytes, so a peer can't park 64 maximum-size messages in our memory.
_QUEUE_SIZE = 64
_QUEUE_BYTES = 4 * 1024 * 1024
_BACKLOG = 128  # the kernel's queue of completed connections not yet accepted
_REPORT_INTERVAL = 60.0  # seconds between two summaries of refused and failed handshakes


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
    _drop(writer)


def _drop(writer: asyncio.StreamWriter) -> None:
    """Close now; data a peer isn't reading is discarded rather than keeping the socket open."""
    transport = writer.transport
    if transport.get_write_buffer_size():
        transport.abort()
    else:
        transport.close()


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
        return f"PeerConnection({short_id(self.node_id)} {direction} {self.remote_address})"

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
        _drop(self._writer)

    # -- internals ------------------------------------------------------------------------------

    def _finish(self, outcome: PeerDisconnected) -> None:
        if self._closed is not None:
            return
        self._closed = outcome
        log.info("peer %s gone: %s", short_id(self.node_id), outcome)
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
        _drop(self._writer)

    def _send_disconnect(self, reason: DisconnectReason) -> None:
        # Written at once, before any await, so that nothing (a concurrent close() included) can
        # get between the decision and the bytes. Bypassing the lock keeps order: a flush in
        # progress has already written what it took from the core.
        self._conn.disconnect(reason)
        with contextlib.suppress(OSError, RuntimeError):
            self._writer.write(self._conn.data_to_send())

    async def _fail(self, error: PeerError) -> None:
        """A protocol violation: tell the peer why (our egress still works), then close."""
        log.info("peer %s violated the protocol: %s", short_id(self.node_id), error)
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


class _Stream(asyncio.StreamReaderProtocol):
    """A stream protocol holding a gate slot for exactly the socket's lifetime."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        gate: ConnectionGate,
        slot: Slot,
        on_accept: Callable[[asyncio.StreamReader, asyncio.StreamWriter, Slot], None] | None = None,
    ) -> None:
        super().__init__(reader)
        self._reader = reader  # the base class keeps only a weak reference without a callback
        self._gate = gate
        self._slot = slot
        self._on_accept = on_accept

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._slot.abort = transport.abort  # type: ignore[attr-defined]
        if self._on_accept is not None:
            assert isinstance(transport, asyncio.Transport)
            loop = asyncio.get_running_loop()
            writer = asyncio.StreamWriter(transport, self, self._reader, loop)
            self._on_accept(self._reader, writer, self._slot)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._gate.release(self._slot)


def gate_for(config: P2PConfig) -> ConnectionGate:
    """The connection gate `config` asks for; the budget comes from the open-file limit now."""
    budget = config.max_connections
    if budget is None:
        budget = connection_budget(open_file_limit())
    return ConnectionGate(
        max_pending_inbound=config.max_pending_inbound,
        max_inbound_per_ip=config.max_inbound_per_ip,
        inbound_throttle=config.inbound_throttle,
        exempt_lan=config.exempt_lan,
        max_connections=budget,
        evict_pending_after=config.evict_pending_after,
    )


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
    protocol = _Stream(reader, gate, slot)
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
) -> PeerConnection:
    """Connect to `enode`; returns once both Hellos are exchanged. Raises PeerDisconnected.

    With a `gate`, the connection holds one of its slots (refused when the budget is spent)."""
    try:
        async with asyncio.timeout(config.handshake_timeout):
            try:
                reader, writer = await _open(enode.ip, enode.tcp_port, gate)
            except OSError as exc:
                raise PeerDisconnected(
                    DisconnectReason.NETWORK_ERROR, False, f"connect: {exc}"
                ) from exc
            peer = await _guarded_establish(node_key, reader, writer, config, admit, enode.node_id)
    except TimeoutError as exc:
        raise PeerDisconnected(DisconnectReason.READ_TIMEOUT, False, "handshake timed out") from exc
    log.info("dialed peer %s at %s (%s)", short_id(peer.node_id), enode.ip, peer.client_id)
    return peer


class _Report:
    """Refused and failed inbound handshakes, summarised in one line per interval at most."""

    def __init__(self, gate: ConnectionGate) -> None:
        self._gate = gate
        self.failed = 0
        self.accept_errors = 0
        self._next = float("-inf")
        self._seen: Counter[Refusal] = Counter()

    def note(self) -> None:
        now = asyncio.get_running_loop().time()
        if now < self._next:
            return
        self._next = now + _REPORT_INTERVAL
        refused = self._gate.refused - self._seen
        self._seen = self._gate.refused.copy()
        failed, self.failed = self.failed, 0
        errors, self.accept_errors = self.accept_errors, 0
        parts = [f"{count} refused: {why.value}" for why, count in refused.items()]
        if failed:
            parts.append(f"{failed} failed or timed out in the handshake")
        if errors:
            parts.append(f"{errors} accept() failed (open-file limit?)")
        gate = self._gate
        log.log(
            logging.WARNING if refused or errors else logging.INFO,
            "inbound connections: %s (now %d pending, %d open of %d)",
            "; ".join(parts),
            gate.pending,
            gate.total,
            gate.max_connections,
        )


def _listen_sockets(host: str, port: int) -> list[socket.socket]:
    """Bound, listening, non-blocking sockets for every address `host` resolves to (as asyncio's
    create_server does); with port 0 they share the port the first one got."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    seen: set[tuple[int, str]] = set()
    try:
        for family, _, _, _, address in infos:
            if (family, str(address[0])) in seen:
                continue
            seen.add((family, str(address[0])))
            bind_port = sockets[0].getsockname()[1] if sockets and port == 0 else port
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind((address[0], bind_port, *address[2:]))
            except OSError as exc:
                raise OSError(
                    exc.errno,
                    f"cannot bind {host_port(str(address[0]), bind_port)}: {exc.strerror}",
                ) from exc
            sock.listen(_BACKLOG)
            sock.setblocking(False)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class Listener:
    """The devp2p listener, with its own accept loop: a connection over a limit is accepted and
    closed in the same step, so refused descriptors never pile up (asyncio's loop accepts up to
    100 at once and closes them only later) and the kernel's queue drains at once."""

    def __init__(
        self,
        sockets: list[socket.socket],
        gate: ConnectionGate,
        accept: Callable[[asyncio.StreamReader, asyncio.StreamWriter, Slot], None],
    ) -> None:
        self.sockets = sockets
        self.gate = gate
        self._accept = accept
        self._report = _Report(gate)
        self._tasks = [asyncio.create_task(self._accept_loop(sock)) for sock in sockets]

    def close(self) -> None:
        """Stop accepting (the sockets close as the accept loops end, after their readers are
        unregistered); live connections are their owners' to close."""
        for task in self._tasks:
            task.cancel()

    async def wait_closed(self) -> None:
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept_loop(self, listener: socket.socket) -> None:
        try:
            await self._accept_all(listener)
        finally:
            listener.close()

    async def _accept_all(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        gate = self.gate
        while True:
            try:
                conn, address = await loop.sock_accept(listener)
            except OSError:
                self._report.accept_errors += 1
                self._report.note()
                await asyncio.sleep(1.0)  # asyncio's own retry delay for EMFILE and the like
                continue
            verdict = gate.inbound(str(address[0]), loop.time())
            if isinstance(verdict, Refusal):
                conn.close()
                self._report.note()
                # sock_accept returns at once while the kernel's queue is not empty: let the
                # rest of the node run between two refusals.
                await asyncio.sleep(0)
                continue
            reader = asyncio.StreamReader(loop=loop)
            protocol = _Stream(reader, gate, verdict, self._accept)
            try:
                await loop.connect_accepted_socket(lambda p=protocol: p, conn)  # type: ignore[misc]
            except OSError:
                conn.close()
                gate.release(verdict)
            except BaseException:  # cancelled: stopping
                conn.close()
                gate.release(verdict)
                raise


_handlers: set[asyncio.Task[None]] = set()


async def serve(
    node_key: PrivateKey,
    host: str,
    port: int,
    config: P2PConfig,
    on_connection: Callable[[PeerConnection], Awaitable[None]],
    admit: Admit | None = None,
    gate: ConnectionGate | None = None,
) -> Listener:
    """Listen on host:port (0 picks a free port); each admitted peer goes to `on_connection`.

    Connections pass `gate` (by default one made from `config`) at accept. The connection is
    closed when `on_connection` returns. Bind errors raise OSError.
    """
    gate = gate if gate is not None else gate_for(config)

    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, slot: Slot
    ) -> None:
        address = writer.get_extra_info("peername")
        try:
            async with asyncio.timeout(config.handshake_timeout):
                peer = await _guarded_establish(node_key, reader, writer, config, admit, None)
        except PeerDisconnected as exc:
            log.debug("inbound connection from %s failed: %s", address, exc)
            listener._report.failed += 1
            listener._report.note()
            return
        except TimeoutError:
            writer.transport.abort()  # nothing of a connection outlives its handshake deadline
            log.debug("inbound connection from %s: handshake timed out", address)
            listener._report.failed += 1
            listener._report.note()
            return
        gate.established(slot)
        log.info("accepted peer %s from %s (%s)", short_id(peer.node_id), address, peer.client_id)
        try:
            await on_connection(peer)
        except Exception:
            log.exception("connection handler for peer %s failed", short_id(peer.node_id))
        finally:
            peer.close()

    def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, slot: Slot) -> None:
        task = asyncio.create_task(handle(reader, writer, slot))
        _handlers.add(task)
        task.add_done_callback(_handlers.discard)

    sockets = await asyncio.get_running_loop().run_in_executor(None, _listen_sockets, host, port)
    listener = Listener(sockets, gate, accept)
    return listener
