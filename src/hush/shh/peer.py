"""One shh/6 peer's protocol state, pure (whisper-v6.md §3.3–3.5, §3.7).

It checks the status handshake and every later packet, and remembers what the peer told us (PoW
requirement, bloom, light flag) and which envelopes it already knows. Errors are `PeerError`s
with the disconnect reason geth would use (a protocol's error → subprotocol error, 0x10).
The pool is the node's: `receive` returns what arrived, the node validates envelopes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from hush.errors import DecodeError, DisconnectReason, PeerError
from hush.shh import packets
from hush.shh.envelope import Envelope
from hush.shh.packets import PacketCode, Status
from hush.shh.topic import FULL_BLOOM
from hush.types import Bloom, EnvelopeHash

__all__ = [
    "BloomChanged",
    "DirectMessage",
    "Envelopes",
    "Ignored",
    "MailRequest",
    "PeerEvent",
    "PowRequirementChanged",
    "ShhPeer",
    "StatusReceived",
]


class _State(enum.Enum):
    AWAITING_STATUS = "awaiting status"
    ACTIVE = "active"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class StatusReceived:
    status: Status


@dataclass(frozen=True, slots=True)
class Envelopes:
    envelopes: list[Envelope]


@dataclass(frozen=True, slots=True)
class PowRequirementChanged:
    value: float


@dataclass(frozen=True, slots=True)
class BloomChanged:
    bloom: Bloom | None


@dataclass(frozen=True, slots=True)
class DirectMessage:
    envelope: Envelope


@dataclass(frozen=True, slots=True)
class MailRequest:
    envelope: Envelope


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
        self.known: dict[EnvelopeHash, int] = {}
        """Envelope hash → expiry, for envelopes the peer has or was sent; pruned at expiry."""
        self._state = _State.AWAITING_STATUS

    @property
    def active(self) -> bool:
        return self._state is _State.ACTIVE

    def receive(self, code: int, payload: bytes) -> PeerEvent:
        """Process one shh packet (code relative to the capability). Raises PeerError."""
        if self._state is _State.CLOSED:
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
            return StatusReceived(status)
        match code:
            case PacketCode.STATUS:
                return Ignored(code, "status after handshake")
            case PacketCode.MESSAGES:
                return Envelopes(packets.decode_messages(payload))
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
                return MailRequest(packets.decode_envelope(payload))
            case _:
                return Ignored(code, "unknown packet code")

    def mark_known(self, envelope_hash: EnvelopeHash, expiry: int) -> None:
        self.known[envelope_hash] = expiry

    def prune_known(self, now: int) -> None:
        """Forget envelopes that have expired: the pool drops them too, so none is resent."""
        self.known = {h: expiry for h, expiry in self.known.items() if expiry >= now}
