"""Plain memory links: devp2p's message layer without RLPx encryption, for speed.

A `PlainLink` is a `hush.net.transport.PeerLink` whose frames are Python objects on a memory
link, but whose sub-protocol messages are exactly what RLPx would carry: the message id
(capability offset + code, from geth's capability matching) and the payload bytes, unchanged.
What each frame costs on the link is the size RLPx would write: header and MACs, the Snappy-
compressed body padded to 16 bytes; the handshake costs an EIP-8 auth and ack of average size.

The sequence follows `hush.net.handshake` (devp2p.md §2, §4.2):

* the dialer sends its identity (the auth), the listener admits it with `admit(id, True)` (or
  refuses with a Disconnect: SELF_CONNECTION, TOO_MANY_PEERS, ALREADY_CONNECTED …), then sends
  its identity (the ack) and its Hello; the dialer checks the identity is the one it dialled,
  admits with `admit(id, False)`, sends its Hello and checks the listener's; no shared
  capability is USELESS_PEER. Both sides hold `handshake_timeout` over it;
* after the Hello exchange: sub-protocol messages, Disconnect `[reason]`, and the end of the
  stream (a close without Disconnect, read as NETWORK_ERROR "EOF", as over TCP). Base-protocol
  ids below 0x10 are ignored, an id beyond every shared capability and a payload over the
  receiver's `max_message_size` are protocol errors the receiver disconnects for;
* a writer waits while more than the link's window of its bytes is unread by the other side
  (`write_timeout` applies, as to a socket's drain).

Unlike RLPx there are no Ping/Pong frames and no read deadline: a plain link does not go
silently dead, it ends by Disconnect or close. Every end surfaces as `PeerDisconnected`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from collections import deque
from dataclasses import dataclass
from typing import Protocol

from hush import rlp
from hush.enode import short_id
from hush.errors import DisconnectReason, PeerError
from hush.net.config import P2PConfig
from hush.net.connection import PeerDisconnected
from hush.net.handshake import Admit
from hush.net.memory.model import LinkModel
from hush.net.memory.pipe import Pipe, Traffic
from hush.rlpx.base import (
    BASE_PROTOCOL_LENGTH,
    BASE_PROTOCOL_VERSION,
    DISCONNECT,
    HELLO,
    MAX_SNAPPY_SIZE,
    Capability,
    Hello,
    SharedCapability,
    encode_disconnect,
    match_capabilities,
    message_id,
    snappy_compress,
    snappy_compressed_size,
)
from hush.types import NodeID

__all__ = ["AUTH_SIZE", "ACK_SIZE", "PlainLink", "frame_size", "plain_pair"]

log = logging.getLogger(__name__)

AUTH_SIZE = 494
"""Bytes of an average EIP-8 auth packet (294 + 100..299 bytes of padding, measured here)."""
ACK_SIZE = 417
"""Bytes of an average EIP-8 ack packet (217 + 100..299 bytes of padding)."""
_FRAME_OVERHEAD = 16 + 16 + 16  # header, header MAC, frame MAC (devp2p.md §2.3)


def frame_size(msg_id: int, body_size: int) -> int:
    """Bytes of the RLPx frame carrying message `msg_id` with a `body_size`-byte (compressed)
    payload: header, MACs, and RLP(msg-id) ‖ payload padded to 16 bytes."""
    # RLP of an id below 0x80 is one byte (0 is 0x80): every sub-protocol id a node has
    data = (1 if 0 <= msg_id < 0x80 else len(rlp.encode_uint(msg_id))) + body_size
    return _FRAME_OVERHEAD + -(-data // 16) * 16


@functools.lru_cache(maxsize=16384)
def _hello_frame_size(hello: Hello) -> int:
    """The Hello's frame size: a node sends the same Hello on every link (encoded once)."""
    return frame_size(HELLO, len(hello.encode()))


@dataclass(frozen=True, slots=True)
class _Auth:
    node_id: NodeID
    target: NodeID


@dataclass(frozen=True, slots=True)
class _Ack:
    node_id: NodeID


@dataclass(frozen=True, slots=True)
class _Hello:
    hello: Hello


@dataclass(frozen=True, slots=True)
class _Message:
    msg_id: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class _Disconnect:
    reason: DisconnectReason


@dataclass(frozen=True, slots=True)
class _Eof:
    pass


_Frame = _Auth | _Ack | _Hello | _Message | _Disconnect | _Eof
_EOF = _Eof()


class _Credits(Protocol):
    """The sending end as its reader sees it: told of every frame read (window accounting);
    the other `PlainLink`, or a cross-process stand-in (`hush.net.memory.remote`)."""

    def _consumed(self, size: int) -> None: ...


class PlainLink:
    """One end of a plain memory link (see the module doc). Made in pairs by `plain_pair`."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        config: P2PConfig,
        inbound: bool,
        local: tuple[str, int],
        remote: tuple[str, int],
        model: LinkModel,
    ) -> None:
        self._loop = loop
        self._config = config
        self.inbound = inbound
        self.local_address = local
        self.remote_address = remote
        self._window = model.window
        self._out: Pipe[tuple[_Frame, int]] | None = None
        self._peer: _Credits | None = None
        self._inbox: deque[tuple[_Frame, int]] = deque()
        self._waiter: asyncio.Future[None] | None = None
        """The reader's wait for a frame (or the end), resolved by `_arrive` and `_finish`."""
        self._unread = 0
        self._room = asyncio.Event()
        self._blocked = 0
        """Writers waiting in `_drain` (only then does a read of their bytes set `_room`)."""
        self._closed: PeerDisconnected | None = None
        self._established = False
        self._local_id = NodeID(bytes(64))
        self.node_id = NodeID(bytes(64))
        """The remote's node id (from its auth or ack)."""
        self.client_id = ""
        self.remote_capabilities: tuple[tuple[str, int], ...] = ()
        self.shared_capabilities: tuple[SharedCapability, ...] = ()
        self._ids: dict[tuple[str, int], int] = {}
        """`message_id` of each (capability, code) sent (valid for `shared_capabilities`)."""

    def __repr__(self) -> str:
        direction = "in" if self.inbound else "out"
        return f"PlainLink({short_id(self.node_id)} {direction} {self.remote_address})"

    @property
    def pipe(self) -> Pipe[tuple[_Frame, int]]:
        """The direction this end writes into (its byte counters)."""
        assert self._out is not None
        return self._out

    @property
    def closed(self) -> bool:
        return self._closed is not None

    # -- PeerLink --------------------------------------------------------------------------------

    async def read_message(self) -> tuple[str, int, bytes]:
        inbox = self._inbox
        while True:
            # `_next_frame`, inline (a coroutine per frame costs)
            if self._closed is not None:
                raise self._closed.copy()
            if not inbox:
                self._waiter = waiter = self._loop.create_future()
                try:
                    await waiter
                finally:
                    self._waiter = None
                continue
            frame, size = inbox.popleft()
            peer = self._peer
            if peer is not None:
                peer._consumed(size)
            if isinstance(frame, _Message):
                msg_id = frame.msg_id
                if msg_id < BASE_PROTOCOL_LENGTH:
                    continue  # geth discards base-protocol codes it doesn't know
                for cap in self.shared_capabilities:
                    if cap.offset <= msg_id < cap.offset + cap.length:  # `cap.contains`
                        break
                else:
                    raise self._fail(
                        PeerError(f"message id {msg_id:#x} is beyond every shared capability")
                    )
                if len(frame.payload) > self._config.max_message_size:
                    raise self._fail(
                        PeerError(f"message of {len(frame.payload)} bytes exceeds the limit")
                    )
                return cap.name, msg_id - cap.offset, frame.payload
            if isinstance(frame, _Disconnect):
                raise self._finish(PeerDisconnected(frame.reason, by_remote=True))
            if isinstance(frame, _Eof):
                raise self._finish(PeerDisconnected(DisconnectReason.NETWORK_ERROR, True, "EOF"))
            raise self._fail(PeerError(f"unexpected {type(frame).__name__[1:]} frame"))

    async def send_message(self, capability: str, code: int, payload: bytes) -> None:
        if self._closed is not None:
            raise self._closed.copy()
        msg_id = self._ids.get((capability, code), -1)
        if msg_id < 0 or len(payload) > MAX_SNAPPY_SIZE:
            msg_id = message_id(self.shared_capabilities, capability, code, len(payload))
            self._ids[capability, code] = msg_id
        self._send(_Message(msg_id, payload), frame_size(msg_id, snappy_compressed_size(payload)))
        if self._unread > self._window:
            await self._drain()

    async def disconnect(self, reason: DisconnectReason) -> None:
        if self._closed is not None:
            return
        self._send_disconnect(reason)
        self._finish(PeerDisconnected(reason, by_remote=False))

    def close(self) -> None:
        if self._closed is None:
            self._send(_EOF, 0)
            self._finish(PeerDisconnected(DisconnectReason.REQUESTED, False, detail="closed"))

    # -- the handshake ---------------------------------------------------------------------------

    async def dial(self, own_id: NodeID, remote_id: NodeID, admit: Admit | None) -> PlainLink:
        """`dial_handshake`, the link closed if it fails or is cancelled; this link once done."""
        try:
            await self.dial_handshake(own_id, remote_id, admit)
        except BaseException:
            with contextlib.suppress(Exception):
                self.close()
            raise
        return self

    async def dial_handshake(self, own_id: NodeID, remote_id: NodeID, admit: Admit | None) -> None:
        """The dialer's side; the caller holds the deadline. Raises PeerDisconnected."""
        self._local_id = own_id
        self._send(_Auth(own_id, remote_id), AUTH_SIZE)
        ack = await self._handshake_frame()
        if not isinstance(ack, _Ack) or ack.node_id != remote_id:
            raise self._fail(PeerError("bad handshake answer"), tell=False)
        self.node_id = ack.node_id
        self._admit(admit, inbound=False)
        self._send_hello()
        self._hello(await self._handshake_frame())

    async def accept_handshake(self, own_id: NodeID, admit: Admit | None) -> None:
        """The listener's side; the caller holds the deadline. Raises PeerDisconnected."""
        self._local_id = own_id
        auth = await self._handshake_frame()
        if not isinstance(auth, _Auth) or auth.target != own_id:
            # Not for our key: RLPx can't even decrypt it, so no Disconnect either.
            raise self._fail(PeerError("bad auth"), tell=False)
        self.node_id = auth.node_id
        self._send(_Ack(own_id), ACK_SIZE)  # the RLPx handshake completes before admission
        self._admit(admit, inbound=True)
        self._send_hello()
        self._hello(await self._handshake_frame())

    def _admit(self, admit: Admit | None, inbound: bool) -> None:
        if self.node_id == self._local_id:
            refusal: DisconnectReason | None = DisconnectReason.SELF_CONNECTION
        else:
            refusal = admit(self.node_id, inbound) if admit is not None else None
        if refusal is not None:
            self._send_disconnect(refusal)
            raise self._finish(PeerDisconnected(refusal, by_remote=False, detail="not admitted"))

    def _send_hello(self) -> None:
        hello = Hello(
            BASE_PROTOCOL_VERSION,
            self._config.client_id,
            tuple(sorted({(name, version) for name, version, _ in self._config.capabilities})),
            0,
            self._local_id,
        )
        self._send(_Hello(hello), _hello_frame_size(hello))

    def _hello(self, frame: _Frame) -> None:
        if isinstance(frame, _Disconnect):
            raise self._finish(PeerDisconnected(frame.reason, by_remote=True))
        if not isinstance(frame, _Hello) or frame.hello.node_id != self.node_id:
            raise self._fail(PeerError("expected Hello"))
        hello = frame.hello
        local = tuple(Capability(*cap) for cap in self._config.capabilities)
        self.shared_capabilities = match_capabilities(local, hello.capabilities)
        self._ids.clear()
        if not self.shared_capabilities:
            raise self._fail(PeerError("no shared capability", DisconnectReason.USELESS_PEER))
        self.client_id = hello.client_id
        self.remote_capabilities = hello.capabilities
        self._established = True

    async def _handshake_frame(self) -> _Frame:
        frame = await self._next_frame()
        if isinstance(frame, _Eof):
            raise self._finish(
                PeerDisconnected(DisconnectReason.NETWORK_ERROR, True, "EOF during handshake")
            )
        return frame

    # -- internals -------------------------------------------------------------------------------

    def _send(self, frame: _Frame, size: int) -> None:
        out = self._out
        assert out is not None
        out.send((frame, size), size)
        self._unread += size

    def _send_disconnect(self, reason: DisconnectReason) -> None:
        body = encode_disconnect(reason)
        if self._established:  # compressed after the Hello exchange, as geth's p2p v5
            body = snappy_compress(body)
        self._send(_Disconnect(reason), frame_size(DISCONNECT, len(body)))
        self._send(_EOF, 0)

    def _fail(self, error: PeerError, tell: bool = True) -> PeerDisconnected:
        """A protocol violation: tell the peer why, close, and return what to raise."""
        if self._closed is None:
            if tell:
                self._send_disconnect(error.reason)
            else:
                self._send(_EOF, 0)
        return self._finish(PeerDisconnected(error.reason, by_remote=False, detail=str(error)))

    def _finish(self, outcome: PeerDisconnected) -> PeerDisconnected:
        """The link is over (first outcome wins); returns a copy of the outcome to raise."""
        if self._closed is None:
            self._closed = outcome
            if self._established:
                log.debug("peer %s gone: %s", short_id(self.node_id), outcome)
            self._release_inbox()
            self._wake()
            self._room.set()
        return self._closed.copy()

    def _release_inbox(self) -> None:
        peer = self._peer
        while self._inbox:
            _, size = self._inbox.popleft()
            if peer is not None:
                peer._consumed(size)

    def _arrive(self, item: tuple[_Frame, int]) -> None:
        """A frame from the peer arrives (called by the peer's pipe)."""
        if self._closed is not None:
            if self._peer is not None:
                self._peer._consumed(item[1])
            return
        self._inbox.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():  # `_wake`
            waiter.set_result(None)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():  # done: the reader was cancelled
            waiter.set_result(None)

    async def _next_frame(self) -> _Frame:
        while not self._inbox:
            if self._closed is not None:
                raise self._closed.copy()
            self._waiter = waiter = self._loop.create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        if self._closed is not None:
            raise self._closed.copy()
        frame, size = self._inbox.popleft()
        if self._peer is not None:
            self._peer._consumed(size)
        return frame

    def _consumed(self, size: int) -> None:
        self._unread -= size
        if self._unread <= self._window and self._blocked:
            self._room.set()

    async def _drain(self) -> None:
        if self._unread <= self._window:
            return
        try:
            async with asyncio.timeout(self._config.write_timeout):
                while self._unread > self._window and self._closed is None:
                    self._room.clear()
                    self._blocked += 1
                    try:
                        await self._room.wait()
                    finally:
                        self._blocked -= 1
        except TimeoutError as exc:
            if self._closed is None:
                self._send(_EOF, 0)
            outcome = PeerDisconnected(DisconnectReason.NETWORK_ERROR, False, "write: timeout")
            raise self._finish(outcome) from exc
        if self._closed is not None:
            raise self._closed.copy()


def plain_pair(
    loop: asyncio.AbstractEventLoop,
    dialer: tuple[tuple[str, int], P2PConfig],
    listener: tuple[tuple[str, int], P2PConfig],
    model: LinkModel,
    rng_out: random.Random,
    rng_back: random.Random,
    total: Traffic | None = None,
) -> tuple[PlainLink, PlainLink]:
    """Both ends of a new plain link: the dialer's (outbound) and the listener's (inbound);
    their traffic is also added to `total`."""
    (dial_address, dial_config), (listen_address, listen_config) = dialer, listener
    out = PlainLink(loop, dial_config, False, dial_address, listen_address, model)
    back = PlainLink(loop, listen_config, True, listen_address, dial_address, model)
    out._peer, back._peer = back, out
    out._out = Pipe(loop, model, rng_out, back._arrive, total)
    back._out = Pipe(loop, model, rng_back, out._arrive, total)
    return out, back
