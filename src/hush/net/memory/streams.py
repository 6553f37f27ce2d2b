"""In-memory asyncio stream transports, for real RLPx over a memory link.

`stream_pair` joins two `MemoryStream`s (`asyncio.Transport`s) through two `Pipe`s, and
`open_streams` puts real `StreamReader`/`StreamWriter` pairs on them, so that
`hush.net.handshake.establish` and `PeerConnection` run unchanged: real encryption, Hello,
pings, deadlines. TCP's semantics, as far as hush relies on them:

* bytes arrive in order, after the link's latency and bandwidth (`LinkModel`);
* flow control both ways: a reader that pauses (StreamReader's buffer is full) holds what
  arrives, and a writer is paused (`drain()` waits) while more than the model's window of its
  bytes is unread on the other side;
* `write_eof()` half-closes (the peer reads EOF after the data; `eof_received` keeps it open);
  `close()` sends what was written, then EOF, and ends this side; data arriving at a closed
  side is discarded;
* `abort()` is a reset: nothing still on the way arrives, and the peer's stream fails with
  `ConnectionResetError` one latency later;
* `get_write_buffer_size()` is what waits for bandwidth (a kernel's send queue is not counted,
  as it isn't for a socket).
"""

from __future__ import annotations

import asyncio
import enum
import random
from collections import deque

from hush.net.memory.model import LinkModel
from hush.net.memory.pipe import Pipe, Traffic

__all__ = ["MemoryStream", "open_streams", "stream_pair"]

_READ_LIMIT = 64 * 1024  # asyncio's default StreamReader limit


class _Signal(enum.Enum):
    EOF = "eof"
    RESET = "reset"


_Item = bytes | _Signal


class MemoryStream(asyncio.Transport):
    """One side of an in-memory stream connection."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        local: tuple[str, int],
        remote: tuple[str, int],
        model: LinkModel,
        rng: random.Random,
    ) -> None:
        super().__init__({"peername": remote, "sockname": local})
        self._loop = loop
        self._protocol: asyncio.BaseProtocol | None = None
        self._peer: MemoryStream | None = None
        self._out: Pipe[_Item] | None = None
        self._model = model
        self._rng = rng
        self._closing = False
        self._lost = False
        self._eof_sent = False
        self._reading_paused = False
        self._held: deque[_Item] = deque()
        self._unread = 0
        self._writing_paused = False
        self._high = model.window
        self._low = model.window // 4

    @property
    def pipe(self) -> Pipe[_Item]:
        """The direction this side writes into (its byte counters)."""
        assert self._out is not None
        return self._out

    # -- asyncio.Transport ----------------------------------------------------------------------

    def get_protocol(self) -> asyncio.BaseProtocol:
        assert self._protocol is not None
        return self._protocol

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol

    def is_closing(self) -> bool:
        return self._closing

    def is_reading(self) -> bool:
        return not self._reading_paused and not self._closing

    def pause_reading(self) -> None:
        self._reading_paused = True

    def resume_reading(self) -> None:
        if self._reading_paused:
            self._reading_paused = False
            self._loop.call_soon(self._hand_held)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._high = self._model.window if high is None else high
        self._low = self._high // 4 if low is None else low

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._low, self._high

    def get_write_buffer_size(self) -> int:
        return self.pipe.backlog()

    def can_write_eof(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._eof_sent and not self._closing:
            raise RuntimeError("Cannot call write() after write_eof()")
        if self._closing or not data:
            return
        size = len(data)
        self.pipe.send(bytes(data), size)
        self._unread += size
        if not self._writing_paused and self._unread > self._high:
            self._writing_paused = True
            protocol = self._protocol
            if isinstance(protocol, asyncio.Protocol):
                protocol.pause_writing()

    def write_eof(self) -> None:
        if self._eof_sent or self._closing:
            return
        self._eof_sent = True
        self.pipe.send(_Signal.EOF, 0)

    def close(self) -> None:
        if self._closing:
            return
        if not self._eof_sent:
            self._eof_sent = True
            self.pipe.send(_Signal.EOF, 0)
        self._end(None)

    def abort(self) -> None:
        self._reset(None)

    def _reset(self, exc: Exception | None) -> None:
        if self._closing:
            return
        pipe = self.pipe
        pipe.clear()
        pipe.send(_Signal.RESET, 0)
        self._end(exc)

    # -- internals ------------------------------------------------------------------------------

    def _end(self, exc: Exception | None) -> None:
        """This side is over: discard what it holds and tell its protocol (soon, as asyncio)."""
        self._closing = True
        self._release_held()
        if not self._lost:
            self._lost = True
            self._loop.call_soon(self._connection_lost, exc)

    def _connection_lost(self, exc: Exception | None) -> None:
        if self._protocol is not None:
            self._protocol.connection_lost(exc)

    def _release_held(self) -> None:
        peer = self._peer
        while self._held:
            item = self._held.popleft()
            if isinstance(item, bytes) and peer is not None:
                peer._consumed(len(item))

    def _arrive(self, item: _Item) -> None:
        """A segment from the peer arrives (called by the peer's pipe)."""
        if self._closing:
            if isinstance(item, bytes) and self._peer is not None:
                self._peer._consumed(len(item))
            return
        if item is _Signal.RESET:
            self._end(ConnectionResetError("connection reset by peer"))
            return
        if self._reading_paused or self._held:
            self._held.append(item)
            return
        self._hand(item)

    def _hand(self, item: _Item) -> None:
        protocol = self._protocol
        assert isinstance(protocol, asyncio.Protocol)
        try:
            if isinstance(item, bytes):
                if self._peer is not None:
                    self._peer._consumed(len(item))
                protocol.data_received(item)
            elif not protocol.eof_received():
                self.close()
        except Exception as exc:  # as asyncio's _fatal_error: the protocol broke
            self._reset(exc)

    def _hand_held(self) -> None:
        while self._held and not self._reading_paused and not self._closing:
            self._hand(self._held.popleft())

    def _consumed(self, size: int) -> None:
        """The peer took (or discarded) `size` of our bytes: room in the window."""
        self._unread -= size
        if self._writing_paused and self._unread <= self._low:
            self._writing_paused = False
            protocol = self._protocol
            if isinstance(protocol, asyncio.Protocol) and not self._closing:
                protocol.resume_writing()

    def __repr__(self) -> str:
        return (
            f"MemoryStream({self.get_extra_info('sockname')} -> {self.get_extra_info('peername')})"
        )


def stream_pair(
    loop: asyncio.AbstractEventLoop,
    a: tuple[str, int],
    b: tuple[str, int],
    model: LinkModel,
    rng_ab: random.Random,
    rng_ba: random.Random,
    total: Traffic | None = None,
) -> tuple[MemoryStream, MemoryStream]:
    """Two joined stream sides, `a` (at address a) and `b`; no protocol attached yet; their
    traffic is also added to `total`."""
    side_a = MemoryStream(loop, a, b, model, rng_ab)
    side_b = MemoryStream(loop, b, a, model, rng_ba)
    side_a._peer, side_b._peer = side_b, side_a
    side_a._out = Pipe(loop, model, rng_ab, side_b._arrive, total)
    side_b._out = Pipe(loop, model, rng_ba, side_a._arrive, total)
    return side_a, side_b


def open_streams(
    transport: MemoryStream,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A StreamReader/StreamWriter pair on one side, as `asyncio.open_connection` makes."""
    loop = transport._loop
    reader = asyncio.StreamReader(limit=_READ_LIMIT, loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    transport.set_protocol(protocol)
    protocol.connection_made(transport)
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)
