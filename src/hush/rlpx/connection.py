"""One devp2p connection as a sans-IO state machine, in the style of h11 (devp2p.md §2–§4).

Bytes go in with `receive_data`, events come out of `next_event`, bytes to write come out of
`data_to_send`; the user acts through verbs (`send_hello`, `send_message`, `ping`, `disconnect`).

State table (remote inputs; anything else is a protocol violation):

=============  ==================================  ==============================================
state          input                               result
=============  ==================================  ==============================================
HANDSHAKE      auth (recipient) / ack (initiator)  AUTHENTICATED, event `Authenticated`
AUTHENTICATED  (frames are held until we answer)   user: `send_hello()` → HELLO_SENT, or
                                                   `disconnect(reason)` → CLOSED (admit refusal)
HELLO_SENT     Hello                               ESTABLISHED, event `HelloReceived`
HELLO_SENT     Disconnect                          CLOSED, event `DisconnectReceived`
ESTABLISHED    Ping                                Pong queued automatically, no event
ESTABLISHED    Pong                                event `PongReceived`
ESTABLISHED    Disconnect                          CLOSED, event `DisconnectReceived`
ESTABLISHED    unknown id < 0x10                   ignored, as geth does (§4.1)
ESTABLISHED    id in a shared capability           event `MessageReceived`
=============  ==================================  ==============================================

Any other input — a bad MAC, an oversize frame, a second Hello, a message before Hello, an id
beyond every shared capability, a bad Hello — moves the machine to the terminal ERROR state:
`next_event` raises the `PeerError` (carrying the `DisconnectReason` to send) now and on every later
call. From ERROR the user may still `disconnect(error.reason)`, since our egress is intact.

Before the Hello exchange frames are capped at the Hello limit (2048 bytes, §4.2), so a hostile
peer cannot make us buffer a large body before it has even identified itself.

Timers are data (aioquic's habit): the shell passes its clock's `now` in (constructor,
`receive_data`, `resume_reading`, `handle_timer`), arms one timer at `get_timer()` and calls
`handle_timer(now)` when it is due. Three deadlines exist, geth's by default (§3, §4.2, §4.5):

* before ESTABLISHED, one handshake deadline (`handshake_timeout` after construction) covers
  the RLPx handshake and the Hello exchange;
* once ESTABLISHED, the read deadline is `read_timeout` after the last input (or after the
  shell resumed reading: while it holds input back, the silence is ours, not the peer's);
* once ESTABLISHED, a Ping is queued every `ping_interval`, counted from the Hello.

A passed handshake or read deadline moves the machine to ERROR with a `PeerError` carrying
READ_TIMEOUT, surfaced by `next_event` like every other violation. After CLOSED or ERROR there
is no timer.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from hush import rlp
from hush.crypto import PrivateKey
from hush.errors import DecodeError, DisconnectReason, PeerError, UsageError
from hush.rlpx.base import (
    BASE_PROTOCOL_LENGTH,
    BASE_PROTOCOL_VERSION,
    DISCONNECT,
    EMPTY_LIST,
    HELLO,
    MAX_HELLO_SIZE,
    MAX_SNAPPY_SIZE,
    PING,
    PONG,
    Capability,
    Hello,
    SharedCapability,
    decode_disconnect,
    encode_disconnect,
    match_capabilities,
    message_id,
    snappy_compress,
    snappy_decompress,
)
from hush.rlpx.frame import MAX_FRAME_SIZE, FrameCodec
from hush.rlpx.handshake import Initiator, Recipient, Secrets
from hush.types import NodeID, RandomBytes

__all__ = [
    "HANDSHAKE_TIMEOUT",
    "PING_INTERVAL",
    "READ_TIMEOUT",
    "Authenticated",
    "Connection",
    "DisconnectReceived",
    "Event",
    "HelloReceived",
    "MessageReceived",
    "PongReceived",
    "State",
    "max_frame_size_for",
]

_MSG_ID_ROOM = 9  # RLP of a 64-bit message id

HANDSHAKE_TIMEOUT = 5.0
"""geth's handshakeTimeout: the RLPx handshake and the Hello exchange together (devp2p.md §4.2)."""
READ_TIMEOUT = 30.0
"""geth's frameReadTimeout: seconds of silence after which a peer is dropped (§3, §4.5)."""
PING_INTERVAL = 15.0
"""geth's pingInterval: seconds between two of our Pings (§4.5)."""


def max_frame_size_for(max_message_size: int) -> int:
    """The largest frame that can carry a message of `max_message_size` payload bytes.

    Snappy can expand incompressible data slightly (32 + n + n/6 bytes at worst), so the frame
    limit allows for that; the exact payload limit is enforced on the declared length.
    """
    return min(MAX_FRAME_SIZE, 32 + max_message_size + max_message_size // 6 + _MSG_ID_ROOM)


class State(enum.Enum):
    HANDSHAKE = "handshake"
    AUTHENTICATED = "authenticated"
    HELLO_SENT = "hello-sent"
    ESTABLISHED = "established"
    CLOSED = "closed"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Authenticated:
    """The RLPx handshake finished; `node_id` is the remote's authenticated 64-byte key."""

    node_id: NodeID


@dataclass(frozen=True, slots=True)
class HelloReceived:
    """The remote's Hello was accepted; messages may now flow."""

    hello: Hello
    capabilities: tuple[SharedCapability, ...]


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """A sub-protocol message: `code` is relative to the capability, `payload` decompressed."""

    capability: str
    code: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class PongReceived:
    """The remote answered a Ping."""


@dataclass(frozen=True, slots=True)
class DisconnectReceived:
    """The remote sent Disconnect; the connection is over."""

    reason: DisconnectReason


Event = Authenticated | HelloReceived | MessageReceived | PongReceived | DisconnectReceived


class Connection:
    """Both the RLPx session and the p2p base protocol of one connection.

    `remote_node_id` given → we are the initiator and the auth packet is queued at once;
    None → we are the recipient and learn the remote's identity from its auth. `now` is the
    shell's clock when the transport was opened: the handshake deadline counts from it.
    """

    def __init__(
        self,
        node_key: PrivateKey,
        random_bytes: RandomBytes,
        *,
        remote_node_id: bytes | None = None,
        client_id: str,
        capabilities: Iterable[Capability],
        max_message_size: int = MAX_SNAPPY_SIZE,
        initiator: Initiator | None = None,
        recipient: Recipient | None = None,
        now: float = 0.0,
        handshake_timeout: float = HANDSHAKE_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
        ping_interval: float = PING_INTERVAL,
    ) -> None:
        for name, value in (
            ("handshake_timeout", handshake_timeout),
            ("read_timeout", read_timeout),
            ("ping_interval", ping_interval),
        ):
            if not value > 0:
                raise UsageError(f"invalid {name} {value!r}: must be positive")
        self._key = node_key
        self._client_id = client_id
        self._capabilities = tuple(capabilities)
        self._max_message_size = max_message_size
        self._in = bytearray()
        self._out = bytearray()
        self._codec: FrameCodec | None = None
        self._state = State.HANDSHAKE
        self._error: PeerError | None = None
        self.remote_node_id: NodeID | None = None
        """The remote's authenticated 64-byte key (known up front when we dial)."""
        self.remote_hello: Hello | None = None
        self.shared_capabilities: tuple[SharedCapability, ...] = ()
        self.snappy = False
        """Whether Snappy is on: after Hello, when the remote announced p2p ≥ 5 (§4.3)."""
        self._initiator: Initiator | None = None
        self._recipient: Recipient | None = None
        if remote_node_id is not None:
            self.remote_node_id = NodeID(bytes(remote_node_id))
            self._initiator = initiator or Initiator(node_key, remote_node_id, random_bytes)
            self._out += self._initiator.auth_packet
        else:
            self._recipient = recipient or Recipient(node_key, random_bytes)
        self._read_timeout = read_timeout
        self._ping_interval = ping_interval
        self._now = now
        self._handshake_deadline = now + handshake_timeout
        self._read_from = now  # last input, or when the shell resumed reading
        self._reading = True
        self._next_ping = now + ping_interval  # re-based on the Hello

    # -- inspection -------------------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @property
    def error(self) -> PeerError | None:
        """The violation that put the machine in ERROR, if any."""
        return self._error

    @property
    def authenticated(self) -> bool:
        """Whether the RLPx handshake finished, so that a Disconnect can be sent."""
        return self._codec is not None

    @property
    def is_initiator(self) -> bool:
        return self._initiator is not None

    # -- input --------------------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float | None = None) -> None:
        """Feed bytes read from the transport; with `now`, input restarts the read deadline
        (without it the timers stand still, for callers that don't drive them). After CLOSED or
        ERROR the bytes are dropped."""
        if self._state in (State.CLOSED, State.ERROR):
            return
        if now is not None:
            self._advance(now)
            if data:
                self._read_from = self._now
        self._in += data

    # -- timers ---------------------------------------------------------------------------------

    def _advance(self, now: float) -> None:
        self._now = max(self._now, now)

    def get_timer(self) -> float | None:
        """When `handle_timer` is next due, on the shell's clock; None after CLOSED or ERROR."""
        if self._state in (State.CLOSED, State.ERROR):
            return None
        if self._state is not State.ESTABLISHED:
            return self._handshake_deadline
        if not self._reading:
            return self._next_ping
        return min(self._next_ping, self._read_from + self._read_timeout)

    def handle_timer(self, now: float) -> None:
        """Act on the deadlines passed at `now`: queue a Ping when one is due; a passed handshake
        or read deadline moves to ERROR (READ_TIMEOUT), which `next_event` raises. Calling it
        early, or after CLOSED or ERROR, does nothing."""
        if self._state in (State.CLOSED, State.ERROR):
            return
        self._advance(now)
        now = self._now
        if self._state is not State.ESTABLISHED:
            if now >= self._handshake_deadline:
                self._fail(PeerError("handshake timed out", DisconnectReason.READ_TIMEOUT))
            return
        if self._reading and now >= self._read_from + self._read_timeout:
            self._fail(PeerError("read timeout", DisconnectReason.READ_TIMEOUT))
            return
        if now >= self._next_ping:
            self._send_frame(PING, EMPTY_LIST)
            self._next_ping = now + self._ping_interval

    def pause_reading(self) -> None:
        """The shell holds input back (its application is behind): the read deadline stops,
        since the silence is ours, not the peer's. Pings go on."""
        self._reading = False

    def resume_reading(self, now: float) -> None:
        """The shell reads again: the read deadline counts from `now`."""
        self._advance(now)
        self._reading = True
        self._read_from = self._now

    def next_event(self) -> Event | None:
        """The next event, or None until more data arrives. Raises PeerError on a violation."""
        if self._error is not None:
            raise self._error
        try:
            return self._next()
        except DecodeError as exc:
            raise self._fail(PeerError(str(exc), DisconnectReason.PROTOCOL_ERROR)) from exc
        except PeerError as exc:
            raise self._fail(exc) from None

    def _fail(self, error: PeerError) -> PeerError:
        self._state = State.ERROR
        self._error = error
        self._in.clear()
        return error

    def _next(self) -> Event | None:
        while True:
            if self._state is State.HANDSHAKE:
                return self._handshake()
            if self._state not in (State.HELLO_SENT, State.ESTABLISHED):
                return None  # AUTHENTICATED holds frames until we have answered
            assert self._codec is not None
            frame = self._codec.decode(self._in)
            if frame is None:
                return None
            event = self._frame(frame)
            if event is not None:
                return event

    def _handshake(self) -> Event | None:
        secrets: Secrets | None
        if self._initiator is not None:
            secrets = self._initiator.receive(self._in)
        else:
            assert self._recipient is not None
            result = self._recipient.receive(self._in)
            if result is None:
                return None
            ack, secrets = result
            self._out += ack
        if secrets is None:
            return None
        self._codec = FrameCodec(
            secrets.aes_secret,
            secrets.mac_secret,
            secrets.egress_mac,
            secrets.ingress_mac,
            MAX_HELLO_SIZE + _MSG_ID_ROOM,
        )
        self.remote_node_id = secrets.remote_node_id
        self._state = State.AUTHENTICATED
        return Authenticated(secrets.remote_node_id)

    def _frame(self, frame: bytes) -> Event | None:
        msg_id_item, end = rlp.decode_prefix(frame)
        msg_id = rlp.decode_uint(msg_id_item, 64, "message id")
        payload = frame[end:]
        if self._state is State.HELLO_SENT:
            if msg_id == HELLO:
                return self._hello(payload)
            if msg_id == DISCONNECT:
                # A Disconnect instead of Hello is never compressed (§4.4).
                return self._closed_by_remote(decode_disconnect(payload, snappy=False))
            raise PeerError(f"expected Hello, got message {msg_id:#x}")
        if msg_id == DISCONNECT:
            return self._closed_by_remote(decode_disconnect(payload, self.snappy))
        if msg_id == HELLO:
            raise PeerError("second Hello")
        if msg_id < BASE_PROTOCOL_LENGTH and msg_id not in (PING, PONG):
            return None  # geth discards unknown base-protocol codes
        for cap in self.shared_capabilities:
            if cap.contains(msg_id):
                break
        else:
            if msg_id >= BASE_PROTOCOL_LENGTH:
                raise PeerError(f"message id {msg_id:#x} is beyond every shared capability")
            cap = None
        if self.snappy:
            payload = snappy_decompress(payload, self._max_message_size)
        elif len(payload) > self._max_message_size:
            raise PeerError(f"message of {len(payload)} bytes exceeds the limit")
        if cap is not None:
            return MessageReceived(cap.name, msg_id - cap.offset, payload)
        if msg_id == PING:
            self._send_frame(PONG, EMPTY_LIST)
            return None
        return PongReceived()

    def _hello(self, payload: bytes) -> Event:
        hello = Hello.decode(payload)
        assert self.remote_node_id is not None
        hello.check_identity(self.remote_node_id)
        self.remote_hello = hello
        # Both Hellos are exchanged now: Snappy is on for both directions if the remote speaks v5.
        self.snappy = hello.version >= BASE_PROTOCOL_VERSION
        self.shared_capabilities = match_capabilities(self._capabilities, hello.capabilities)
        if not self.shared_capabilities:
            raise PeerError("no shared capability", DisconnectReason.USELESS_PEER)
        assert self._codec is not None
        self._codec.max_frame_size = max_frame_size_for(self._max_message_size)
        self._state = State.ESTABLISHED
        self._next_ping = self._now + self._ping_interval
        self._read_from = max(self._read_from, self._now)
        return HelloReceived(hello, self.shared_capabilities)

    def _closed_by_remote(self, reason: DisconnectReason) -> Event:
        self._state = State.CLOSED
        self._in.clear()
        return DisconnectReceived(reason)

    # -- output -------------------------------------------------------------------------------

    def data_to_send(self) -> bytes:
        """Everything queued for the transport since the last call."""
        data = bytes(self._out)
        self._out.clear()
        return data

    def _send_frame(self, msg_id: int, payload: bytes) -> None:
        assert self._codec is not None
        if self.snappy:
            payload = snappy_compress(payload)
        self._out += self._codec.encode(rlp.encode_uint(msg_id) + payload)

    def send_hello(self) -> None:
        """Send our Hello (after admitting the authenticated peer)."""
        if self._state is not State.AUTHENTICATED:
            raise UsageError(f"cannot send Hello in state {self._state.value}")
        assert self._codec is not None
        hello = Hello(
            BASE_PROTOCOL_VERSION,
            self._client_id,
            tuple(sorted({(cap.name, cap.version) for cap in self._capabilities})),
            0,  # geth 1.8/1.9 never fill in listenPort (§4.2)
            self._key.node_id,
        )
        self._send_frame(HELLO, hello.encode())
        self._state = State.HELLO_SENT

    def send_message(self, capability: str, code: int, payload: bytes) -> None:
        """Send a sub-protocol message; `code` is relative to the capability."""
        if self._state is not State.ESTABLISHED:
            raise UsageError(f"cannot send messages in state {self._state.value}")
        self._send_frame(
            message_id(self.shared_capabilities, capability, code, len(payload)), payload
        )

    def ping(self) -> None:
        """Queue a Ping now (`handle_timer` keeps the cadence; this one doesn't move it)."""
        if self._state is not State.ESTABLISHED:
            raise UsageError(f"cannot ping in state {self._state.value}")
        self._send_frame(PING, EMPTY_LIST)

    def disconnect(self, reason: DisconnectReason) -> None:
        """Queue Disconnect `[reason]` (if the session has keys) and close; idempotent."""
        if self._state is State.CLOSED:
            return
        if self._codec is not None:
            self._send_frame(DISCONNECT, encode_disconnect(reason))
        self._state = State.CLOSED
        self._in.clear()
