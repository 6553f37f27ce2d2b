"""The stream driver: one live peer after the Hello exchange, around `hush.rlpx.Connection`.

Every protocol decision is made by the sans-IO core; this module owns the peer's tasks, its
timer and its share of memory (devp2p.md §3, §4):

* one reader task feeds the core (answering Pings) and queues sub-protocol messages. The
  read-ahead queue is bounded in count and in bytes, after which TCP backpressure applies; while
  the reader waits for room the core's read deadline is paused (the silence is ours);
* one timer task sleeps until the core's `get_timer()` (on the running loop's clock, so a
  virtual-time loop drives it) and calls `handle_timer`: Pings every `ping_interval`, and the
  read deadline (`read_timeout` of silence → Disconnect READ_TIMEOUT);
* all writes go through one lock-serialised flush of the core's output, each with
  `write_timeout`;
* on our Disconnect we half-close and give the peer a moment to read it before closing, so that
  unread input of ours does not turn the close into a reset that destroys the message
  (`linger_close`, or `close_later` in the background where no deadline may cut it short).

Every way a connection ends surfaces as `PeerDisconnected(reason, by_remote)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math

from hush.enode import short_id
from hush.errors import DisconnectReason, HushError, PeerError
from hush.net.config import P2PConfig
from hush.rlpx import Connection, DisconnectReceived, MessageReceived
from hush.types import NodeID

__all__ = ["PeerConnection", "PeerDisconnected"]
# `READ_CHUNK`, `linger_close`, `drop` and `close_later` are shared with `hush.net.handshake`.

log = logging.getLogger(__name__)

READ_CHUNK = 64 * 1024
DISCONNECT_LINGER = 1.0  # geth's write deadline for a Disconnect (devp2p.md §4.4)
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


async def linger_close(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, linger: float
) -> None:
    """Flush, half-close, drain the peer's input for up to `linger` seconds, then close (also
    when cancelled: a node stopping mid-linger leaves no transport open)."""
    try:
        with contextlib.suppress(OSError, RuntimeError, TimeoutError):
            async with asyncio.timeout(linger):
                await writer.drain()
                if writer.can_write_eof():
                    writer.write_eof()
                while await reader.read(READ_CHUNK):
                    pass
    finally:
        drop(writer)


def drop(writer: asyncio.StreamWriter) -> None:
    """Close now; data a peer isn't reading is discarded rather than keeping the socket open."""
    transport = writer.transport
    if transport.get_write_buffer_size():
        transport.abort()
    else:
        transport.close()


_lingering: set[asyncio.Task[None]] = set()


def close_later(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Linger-close in the background, so that a refusal during the handshake is reported at
    once and no deadline can cancel the Disconnect's delivery (or mask its reason)."""
    task = asyncio.create_task(linger_close(reader, writer, DISCONNECT_LINGER))
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
        self._loop = asyncio.get_running_loop()
        self._armed = math.inf  # when the timer task is asleep until
        self._rearm = asyncio.Event()  # set when the core's timer moved before `_armed`
        self._read_task = asyncio.create_task(self._read_loop())
        self._timer_task = asyncio.create_task(self._timer_loop())

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
        await linger_close(self._reader, self._writer, DISCONNECT_LINGER)

    def close(self) -> None:
        """Drop the connection at once, without a Disconnect."""
        self._finish(PeerDisconnected(DisconnectReason.REQUESTED, by_remote=False, detail="closed"))
        self._cancel_tasks()
        drop(self._writer)

    # -- internals ------------------------------------------------------------------------------

    def _finish(self, outcome: PeerDisconnected) -> None:
        if self._closed is not None:
            return
        self._closed = outcome
        log.info("peer %s gone: %s", short_id(self.node_id), outcome)
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)

    def _cancel_tasks(self) -> list[asyncio.Task[None]]:
        current = asyncio.current_task()
        tasks = [t for t in (self._read_task, self._timer_task) if t is not current]
        for task in tasks:
            task.cancel()
        return tasks

    async def _stop_tasks(self) -> None:
        await asyncio.gather(*self._cancel_tasks(), return_exceptions=True)

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
        self._cancel_tasks()
        drop(self._writer)

    def _send_disconnect(self, reason: DisconnectReason) -> None:
        # Written at once, before any await, so that nothing (a concurrent close() included) can
        # get between the decision and the bytes. Bypassing the lock keeps order: a flush in
        # progress has already written what it took from the core.
        self._conn.disconnect(reason)
        with contextlib.suppress(OSError, RuntimeError):
            self._writer.write(self._conn.data_to_send())

    async def _fail(self, error: PeerError) -> None:
        """A protocol violation or a passed deadline: tell the peer why (our egress still
        works), then close."""
        if self._closed is not None:
            return
        log.info("peer %s violated the protocol: %s", short_id(self.node_id), error)
        self._send_disconnect(error.reason)
        self._finish(PeerDisconnected(error.reason, by_remote=False, detail=str(error)))
        await self._stop_tasks()
        await linger_close(self._reader, self._writer, DISCONNECT_LINGER)

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

    def _over(self, size: int) -> bool:
        return bool(self._queued_bytes) and self._queued_bytes + size > _QUEUE_BYTES

    async def _enqueue(self, item: tuple[str, int, bytes]) -> None:
        size = len(item[2])
        if not self._queue.full() and not self._over(size):
            self._queued_bytes += size
            self._queue.put_nowait(item)
            return
        # Our application is behind and we stop reading: the peer's silence is then ours, so
        # the read deadline waits with us (as a pending read's timeout did; geth's too).
        self._conn.pause_reading()
        try:
            while self._over(size):
                self._room.clear()
                await self._room.wait()
            self._queued_bytes += size
            await self._queue.put(item)
        finally:
            self._conn.resume_reading(self._loop.time())
            self._timer_moved()

    async def _read_loop(self) -> None:
        try:
            # Frames that arrived together with the Hello are already in the core.
            if not await self._drain_events():
                return
            while True:
                data = await self._reader.read(READ_CHUNK)
                if not data:
                    self._abort(PeerDisconnected(DisconnectReason.NETWORK_ERROR, True, "EOF"))
                    return
                self._conn.receive_data(data, self._loop.time())
                if not await self._drain_events():
                    return
        except PeerDisconnected:
            return  # a failed flush already closed the connection
        except OSError as exc:
            self._abort(PeerDisconnected(DisconnectReason.NETWORK_ERROR, True, repr(exc)))

    # -- the timer --------------------------------------------------------------------------

    def _timer_moved(self) -> None:
        """Wake the timer task when the core's timer moved before the one it sleeps until (a
        later one, as input moves the read deadline, is seen when the armed one fires)."""
        when = self._conn.get_timer()
        if when is not None and when < self._armed:
            self._rearm.set()

    async def _sleep_until(self, when: float) -> None:
        self._armed = when
        self._rearm.clear()
        try:
            async with asyncio.timeout_at(when):
                await self._rearm.wait()
        except TimeoutError:
            pass
        finally:
            self._armed = math.inf

    async def _timer_loop(self) -> None:
        """The connection's one timer: sleep until the core's `get_timer()`, then hand it
        `handle_timer(now)` and send what it queued (a Ping) or act on its error."""
        loop = self._loop
        try:
            while (when := self._conn.get_timer()) is not None:
                if loop.time() < when:
                    await self._sleep_until(when)
                    if self._conn.get_timer() != when:
                        continue  # moved (input, or re-armed earlier): look again
                # A timer may fire a hair before its time (the loop's clock resolution).
                self._conn.handle_timer(max(when, loop.time()))
                if self._conn.error is not None:
                    await self._fail(self._conn.error)
                    return
                await self._flush()
        except PeerDisconnected:
            return  # a failed flush already closed the connection
