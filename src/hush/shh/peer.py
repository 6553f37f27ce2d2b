"""One shh/6 peer's protocol state, pure (whisper-v6.md §3.3–3.5, §3.7).

It checks the status handshake and every later packet, and remembers what the peer told us (PoW
requirement, bloom, light flag) and which envelopes it already knows. Errors are `PeerError`s
with the disconnect reason geth would use (a protocol's error → subprotocol error, 0x10).
The pool is the node's: `receive` returns what arrived, the node validates envelopes.

A `messages` packet is only split into its envelopes' encodings on receipt; `decode_envelope`
decodes one, so the node can decode a 40,000-envelope packet in slices and stay responsive
(geth's rule holds: any malformed envelope fails the packet before any is added).
The known set is kept a subset of the pool by the node (`forget` what the pool drops), so it is
bounded by the pool and never needs a sweep.

The output side is queued here too: the node says what to send (`send_status`,
`send_pow_requirement`, `send_bloom`, `send_messages`, `send_direct`, `send_mail_request`) and
drains `data_to_send()`, a list of (code, payload) for the shell to hand to the link, so the node
never encodes an shh packet itself. The status deadline is timer data (whisper-v6.md §3.3: geth
waits a few seconds for the peer's status): `send_status(status, now)` arms it, `get_timer()` says
when it is due and `handle_timer(now)` fails the peer with READ_TIMEOUT once it is past while no
status came. `now` is on the shell's monotonic clock.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from hush.errors import DecodeError, DisconnectReason, PeerError
from hush.shh import packets
from hush.shh.envelope import Envelope
from hush.shh.packets import PacketCode, Status
from hush.shh.topic import FULL_BLOOM
from hush.types import Bloom, EnvelopeHash

__all__ = [
    "STATUS_TIMEOUT",
    "BloomChanged",
    "DirectMessage",
    "Envelopes",
    "Ignored",
    "SYNC_REQUEST",
    "SYNC_RESPONSE",
    "MailPacket",
    "MailRequest",
    "PeerEvent",
    "PowRequirementChanged",
    "ShhPeer",
    "StatusReceived",
]


STATUS_TIMEOUT = 5.0
"""Seconds to wait for the peer's status after ours went out (geth's 5 s handshake read)."""


class _State(enum.Enum):
    AWAITING_STATUS = "awaiting status"
    ACTIVE = "active"
    CLOSED = "closed"


_ACTIVE = _State.ACTIVE
_MESSAGES = PacketCode.MESSAGES.value


@dataclass(frozen=True, slots=True)
class StatusReceived:
    status: Status


@dataclass(frozen=True, slots=True)
class Envelopes:
    payload: bytes
    """The `messages` packet, its list header checked, its envelopes not yet split nor decoded:
    see `ShhPeer.encoded_envelopes` and `ShhPeer.decode_envelope`."""

    @property
    def encoded(self) -> list[bytes]:
        """Each envelope's encoding, all at once (raises DecodeError)."""
        return packets.split_messages(self.payload)

    @property
    def envelopes(self) -> list[Envelope]:
        """All of them decoded at once (raises DecodeError)."""
        return [Envelope.decode(raw) for raw in self.encoded]


@dataclass(frozen=True, slots=True)
class PowRequirementChanged:
    value: float


@dataclass(frozen=True, slots=True)
class BloomChanged:
    bloom: Bloom | None


@dataclass(frozen=True, slots=True)
class DirectMessage:
    envelope: Envelope


SYNC_REQUEST = 123
"""status-im/whisper p2pSyncRequestCode: archive server → archive server (archive.md §1.1)."""
SYNC_RESPONSE = 124
"""p2pSyncResponseCode: the answer to a 123."""


@dataclass(frozen=True, slots=True)
class MailPacket:
    """An archive packet that is not an envelope request, for the archive server: a 126 payload
    that is not an envelope (a direct `MessagesRequest`, archive.md §1.2 dialect E, or garbage,
    which the server answers), or a 123/124 server↔server sync packet from a trusted peer."""

    code: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class MailRequest:
    envelope: Envelope | MailPacket


@dataclass(frozen=True, slots=True)
class Ignored:
    code: int
    why: str


PeerEvent = (
    StatusReceived
    | Envelopes
    | PowRequirementChanged
    | BloomChanged
    | DirectMessage
    | MailRequest
    | Ignored
)


def _fail(message: str) -> PeerError:
    return PeerError(message, DisconnectReason.SUBPROTOCOL_ERROR)


class ShhPeer:
    def __init__(
        self,
        *,
        local_light: bool = False,
        restrict_light: bool = True,
        max_message_size: int = 1024 * 1024,
        trusted: bool = False,
        accept_mail_requests: bool = False,
        status_timeout: float = STATUS_TIMEOUT,
    ):
        self.local_light = local_light
        self.restrict_light = restrict_light
        self.max_message_size = max_message_size
        self.trusted = trusted
        self.accept_mail_requests = accept_mail_requests
        self.pow_requirement = 0.0
        self.bloom: Bloom | None = None
        """None: a full node, which takes every topic."""
        self.light = False
        self.known: dict[EnvelopeHash, None] = {}
        """Pooled envelopes the peer has or was sent; the node forgets what the pool drops."""
        self._state = _State.AWAITING_STATUS
        self.status_timeout = status_timeout
        self._status_deadline: float | None = None
        self._outgoing: list[tuple[int, bytes]] = []

    @property
    def active(self) -> bool:
        return self._state is _State.ACTIVE

    def receive(self, code: int, payload: bytes) -> PeerEvent:
        """Process one shh packet (code relative to the capability). Raises PeerError."""
        state = self._state
        if state is _ACTIVE and code == _MESSAGES and len(payload) <= self.max_message_size:
            try:  # `_receive` of the common packet, inlined: the same checks, the same errors
                packets.messages_bounds(payload)  # the list header now; the envelopes piecemeal
            except DecodeError as exc:
                self._state = _State.CLOSED
                raise _fail(f"invalid packet {code}: {exc}") from exc
            return Envelopes(payload)
        if state is _State.CLOSED:
            raise _fail("peer already failed")
        try:
            return self._receive(code, payload)
        except DecodeError as exc:
            self._state = _State.CLOSED
            raise _fail(f"invalid packet {code}: {exc}") from exc
        except PeerError:
            self._state = _State.CLOSED
            raise

    def _receive(self, code: int, payload: bytes) -> PeerEvent:
        if len(payload) > self.max_message_size:
            raise _fail(f"oversized message received ({len(payload)} bytes)")
        if self._state is _State.AWAITING_STATUS:
            if code != PacketCode.STATUS:
                raise _fail(f"sent packet {code} before status packet")
            status = packets.decode_status(payload)
            if status.version != packets.PROTOCOL_VERSION:
                raise _fail(f"peer protocol version {status.version} is not 6")
            if status.light and self.local_light and self.restrict_light:
                raise _fail("two light client communication restricted")
            self.pow_requirement = status.pow_requirement
            self.bloom = status.bloom
            self.light = status.light
            self._state = _State.ACTIVE
            self._status_deadline = None
            return StatusReceived(status)
        match code:
            case PacketCode.STATUS:
                return Ignored(code, "status after handshake")
            case PacketCode.MESSAGES:
                packets.messages_bounds(payload)  # the list header now; the envelopes piecemeal
                return Envelopes(payload)
            case PacketCode.POW_REQUIREMENT:
                self.pow_requirement = packets.decode_pow_requirement(payload)
                return PowRequirementChanged(self.pow_requirement)
            case PacketCode.BLOOM_FILTER:
                bloom = packets.decode_bloom(payload)
                self.bloom = None if bloom == FULL_BLOOM else bloom
                return BloomChanged(self.bloom)
            case PacketCode.P2P_MESSAGE:
                if not self.trusted:
                    return Ignored(code, "direct message from an untrusted peer")
                return DirectMessage(packets.decode_envelope(payload))
            case PacketCode.P2P_REQUEST:
                if not self.accept_mail_requests:
                    return Ignored(code, "no archive server here")
                try:
                    return MailRequest(packets.decode_envelope(payload))
                except DecodeError:  # the archive server tells dialect E from garbage
                    return MailRequest(MailPacket(code, payload))
            case 123 | 124:  # SYNC_REQUEST, SYNC_RESPONSE
                if not self.accept_mail_requests:
                    return Ignored(code, "no archive server here")
                if not self.trusted:
                    return Ignored(code, "archive sync from an untrusted peer")
                return MailRequest(MailPacket(code, payload))
            case _:
                return Ignored(code, "unknown packet code")

    def encoded_envelopes(self, event: Envelopes) -> Iterator[bytes]:
        """The encodings of a `messages` packet's envelopes, one at a time; a malformed list
        fails the peer when it is reached."""
        try:
            yield from packets.iter_messages(event.payload)
        except DecodeError as exc:
            self._state = _State.CLOSED
            raise _fail(f"invalid packet {PacketCode.MESSAGES}: {exc}") from exc

    def decode_envelope(self, raw: bytes) -> Envelope:
        """Decode one envelope of a `messages` packet; a malformed one fails the peer."""
        try:
            return Envelope.decode(raw)
        except DecodeError as exc:
            self._state = _State.CLOSED
            raise _fail(f"invalid packet {PacketCode.MESSAGES}: {exc}") from exc

    def decode_slices(self, event: Envelopes, size: int) -> Iterator[list[Envelope]]:
        """A `messages` packet's envelopes decoded `size` at a time (the C batch decoder where
        built): what `decode_envelope` of each of `encoded_envelopes` gives, and a malformed
        list or envelope fails the peer with the same error when it is reached."""
        try:
            yield from packets.decode_messages_in_slices(event.payload, size)
        except DecodeError as exc:
            self._state = _State.CLOSED
            raise _fail(f"invalid packet {PacketCode.MESSAGES}: {exc}") from exc

    def check_slices(
        self, event: Envelopes, size: int
    ) -> Iterator[tuple[int, dict[int, tuple[Envelope, int]]]]:
        """geth's first pass over a `messages` packet, `size` envelopes at a time
        (`packets.check_messages_in_slices`): a malformed list or envelope fails the peer with
        `decode_slices`' error when it is reached; the envelopes are checked, not hashed."""
        try:
            yield from packets.check_messages_in_slices(event.payload, size)
        except DecodeError as exc:
            self._state = _State.CLOSED
            raise _fail(f"invalid packet {PacketCode.MESSAGES}: {exc}") from exc

    def envelope_at(self, event: Envelopes, pos: int, stop: int) -> tuple[Envelope, int]:
        """The envelope at `pos` of a checked `messages` packet, and where it ends
        (`packets.envelope_at`); a malformed one fails the peer."""
        try:
            return packets.envelope_at(event.payload, pos, stop)
        except DecodeError as exc:
            self._state = _State.CLOSED
            raise _fail(f"invalid packet {PacketCode.MESSAGES}: {exc}") from exc

    def mark_known(self, envelope_hash: EnvelopeHash) -> bool:
        """Remember that the peer has this envelope; True if it wasn't known yet."""
        if envelope_hash in self.known:
            return False
        self.known[envelope_hash] = None  # a dict: smaller than a set at its worst fill
        return True

    def forget(self, hashes: Iterable[EnvelopeHash]) -> None:
        """Drop envelopes the pool no longer holds (expired or evicted)."""
        known = self.known
        for envelope_hash in hashes:
            known.pop(envelope_hash, None)

    # -- output: what to send, queued until the shell drains it -----------------------------------

    def send_status(self, status: Status, now: float) -> None:
        """Queue our status packet and arm the deadline for the peer's (`now`: monotonic)."""
        if self._state is _State.CLOSED:
            raise _fail("peer already failed")
        self._outgoing.append((PacketCode.STATUS, packets.encode_status(status)))
        if self._state is _State.AWAITING_STATUS:
            self._status_deadline = now + self.status_timeout

    def send_pow_requirement(self, value: float) -> None:
        """Queue a PoW requirement packet (code 2): our new minimum PoW."""
        self._outgoing.append((PacketCode.POW_REQUIREMENT, packets.encode_pow_requirement(value)))

    def send_bloom(self, bloom: Bloom) -> None:
        """Queue a bloom filter packet (code 3): the topics we now want."""
        self._outgoing.append((PacketCode.BLOOM_FILTER, packets.encode_bloom(bloom)))

    def send_messages(self, encoded_envelopes: Sequence[bytes]) -> None:
        """Queue one `messages` packet (code 1) of these envelope encodings, in order. Marking
        them known is the node's business (the pool accounts for the marks)."""
        self._outgoing.append((PacketCode.MESSAGES, packets.encode_messages(encoded_envelopes)))

    def send_direct(self, envelope: Envelope) -> None:
        """Queue a direct message (code 127): one envelope, never pooled nor relayed."""
        self._outgoing.append((PacketCode.P2P_MESSAGE, packets.encode_envelope_packet(envelope)))

    def send_mail_request(self, envelope: Envelope) -> None:
        """Queue an archive request (code 126) to a mail server peer."""
        self._outgoing.append((PacketCode.P2P_REQUEST, packets.encode_envelope_packet(envelope)))

    def data_to_send(self) -> list[tuple[int, bytes]]:
        """The packets queued since the last call, oldest first, as (code, payload)."""
        outgoing, self._outgoing = self._outgoing, []
        return outgoing

    # -- timers ----------------------------------------------------------------------------------

    def get_timer(self) -> float | None:
        """When `handle_timer` has work: the status deadline while the peer's status is awaited."""
        return self._status_deadline if self._state is _State.AWAITING_STATUS else None

    def handle_timer(self, now: float) -> None:
        """Fail the peer (PeerError, READ_TIMEOUT) if its status is past due at `now`."""
        deadline = self.get_timer()
        if deadline is not None and now >= deadline:
            self._state = _State.CLOSED
            self._status_deadline = None
            raise PeerError("no status packet in time", DisconnectReason.READ_TIMEOUT)
