"""hush's exception tree: one root, and errors that carry their consequence.

Remote misbehaviour carries the devp2p disconnect reason to send (devp2p.md §4.4); a user's mistake
carries a message fit to print on one line. An envelope we cannot open is not an error: openers
return None.
"""

from __future__ import annotations

import enum

__all__ = [
    "DecodeError",
    "DisconnectReason",
    "EnvelopeRejected",
    "HushError",
    "InvalidKeyError",
    "PeerError",
    "PowError",
    "UsageError",
]


class DisconnectReason(enum.IntEnum):
    """devp2p disconnect reasons (geth `p2p.DiscReason`)."""

    REQUESTED = 0x00
    NETWORK_ERROR = 0x01
    PROTOCOL_ERROR = 0x02
    USELESS_PEER = 0x03
    TOO_MANY_PEERS = 0x04
    ALREADY_CONNECTED = 0x05
    INCOMPATIBLE_VERSION = 0x06
    INVALID_IDENTITY = 0x07
    QUITTING = 0x08
    UNEXPECTED_IDENTITY = 0x09
    SELF_CONNECTION = 0x0A
    READ_TIMEOUT = 0x0B
    SUBPROTOCOL_ERROR = 0x10


class HushError(Exception):
    """Root of every exception hush raises on purpose."""


class DecodeError(HushError):
    """Bytes that do not decode to the structure expected; the message says what was wrong."""


class InvalidKeyError(HushError):
    """A key that is malformed, of the wrong size, or not a valid curve point or scalar."""


class UsageError(HushError):
    """A caller's request that cannot be carried out as given (bad parameters, unknown id)."""


class PowError(HushError):
    """Sealing could not reach its proof-of-work target within the time given."""


class PeerError(HushError):
    """A remote peer misbehaved; the connection must be closed with `reason`."""

    def __init__(self, message: str, reason: DisconnectReason = DisconnectReason.PROTOCOL_ERROR):
        super().__init__(message)
        self.reason = reason


class EnvelopeRejected(PeerError):
    """A peer sent an envelope that geth would refuse and disconnect its sender for
    (whisper-v6.md §3.6): "invalid envelope: " and geth's own reason (`hush.shh.errors`)."""

    def __init__(self, message: str):
        super().__init__(message, DisconnectReason.SUBPROTOCOL_ERROR)
