"""geth's time window for envelopes (whisper.go add, whisper-v6.md §3.6), and the tolerance a
changed setting keeps for as long (the pool's minimum PoW and bloom). Pure: `now` is passed in."""

from __future__ import annotations

import enum
from typing import Generic, TypeVar

from hush.shh.envelope import Envelope

__all__ = ["SYNC_ALLOWANCE", "Timing", "Tolerant", "envelope_timing"]

SYNC_ALLOWANCE = 10  # seconds of clock skew tolerated; 2× for old envelopes (DefaultSyncAllowance)


class Timing(enum.Enum):
    """Where an envelope stands in geth's time window on arrival (whisper.go add, §3.6)."""

    CURRENT = "valid"
    """Sent at or before now, not expired: accepted."""
    AHEAD = "future"
    """Sent up to SYNC_ALLOWANCE seconds ahead: accepted, its PoW judged with the extra seconds."""
    TOO_FAR_AHEAD = "too far ahead"
    """Sent more than SYNC_ALLOWANCE seconds ahead: rejected (ERR_FUTURE)."""
    EXPIRED = "expired"
    """Expired up to 2 × SYNC_ALLOWANCE seconds ago: dropped silently."""
    TOO_OLD = "too old"
    """Expired longer ago: rejected (ERR_TOO_OLD)."""


def envelope_timing(envelope: Envelope, now: int) -> tuple[Timing, int]:
    """The envelope's place in the time window at `now`, and the seconds geth adds to the PoW
    divisor for a future-dated envelope (`sent − now + 1`; 0 otherwise)."""
    sent = envelope.sent
    if sent > now:
        diff = sent - now + 1
        return (Timing.TOO_FAR_AHEAD if sent - SYNC_ALLOWANCE > now else Timing.AHEAD), diff
    if envelope.expiry < now:
        if envelope.expiry + 2 * SYNC_ALLOWANCE < now:
            return Timing.TOO_OLD, 0
        return Timing.EXPIRED, 0
    return Timing.CURRENT, 0


_T = TypeVar("_T")


class Tolerant(Generic[_T]):
    """A setting whose previous value stays acceptable for SYNC_ALLOWANCE seconds after a change.

    geth applies a new minimum PoW or bloom at once, but keeps accepting what the old one allowed
    for 10 s, since peers learn of the change only when its packet reaches them.
    """

    __slots__ = ("current", "switch_at", "tolerance")

    def __init__(self, value: _T):
        self.current = value
        self.tolerance = value
        self.switch_at: int | None = None

    def set(self, value: _T, now: int) -> None:
        self.tolerance = self.tolerance_at(now)
        self.current = value
        self.switch_at = now + SYNC_ALLOWANCE

    def tolerance_at(self, now: int) -> _T:
        if self.switch_at is not None and now >= self.switch_at:
            self.tolerance = self.current
            self.switch_at = None
        return self.tolerance
