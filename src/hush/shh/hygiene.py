"""Envelope hygiene on the sending side: fields that say less about the sender (simulation.md §4).

Every choice here stays inside what geth 1.9 accepts (whisper-v6.md §1.3, §2.2, §3.6):
- `spread_sent`: `sent = expiry − ttl` is the creation second in clear. Moving `sent` up to
  `spread` seconds into the past keeps the TTL the user asked for (the default 50 stays 50, as
  geth's clients send it: nothing marks a hush sender) and moves the expiry back by as much; it
  never puts `sent` in the future, which geth refuses past 10 s. The envelope lives up to
  `spread` seconds less; the PoW costs the same.
- `bucket_padding`: geth pads flags+size+payload+signature to a multiple of 256; a coarser
  bucket (512, 1024, 4096) or one constant size per topic hides the length class. Padding is
  free-form to every reader, so any length is valid.
Pure: randomness is injected.
"""

from __future__ import annotations

from hush.crypto.keys import SIGNATURE_LENGTH
from hush.errors import UsageError
from hush.randomness import uniform_below
from hush.types import RandomBytes

__all__ = ["DEFAULT_SENT_SPREAD", "PADDING_BUCKETS", "bucket_padding", "spread_sent"]

DEFAULT_SENT_SPREAD = 5
"""Seconds `sent` is moved into the past at most (uniform in [0, R]; simulation.md §7 G4)."""
PADDING_BUCKETS = (256, 512, 1024, 4096)
"""Padding buckets offered (256 is geth's alignment)."""


def spread_sent(now: int, ttl: int, spread: int, random_bytes: RandomBytes) -> tuple[int, int]:
    """(sent, ttl) for an envelope posted at `now` to live `ttl` seconds: `sent` is `now − r`
    with r uniform in [0, spread]; the TTL is kept, so the expiry is `now − r + ttl`."""
    if spread < 0:
        raise UsageError(f"the sent-time spread must be ≥ 0 s, got {spread}")
    r = uniform_below(spread + 1, random_bytes) if spread else 0
    r = min(r, now)
    return now - r, ttl


def _size_field_width(length: int) -> int:
    width = 1
    while length >= 256**width:
        width += 1
    return width


def bucket_padding(
    payload_size: int,
    signed: bool,
    random_bytes: RandomBytes,
    *,
    bucket: int = 256,
    pad_to: int | None = None,
) -> bytes:
    """Random padding that brings flags+size+payload+padding+signature to a multiple of
    `bucket` (as geth, which always adds at least one byte), or to exactly `pad_to` bytes (one
    constant size per topic, say; UsageError if the message is larger)."""
    raw = 1 + _size_field_width(payload_size) + payload_size + (SIGNATURE_LENGTH if signed else 0)
    if pad_to is not None:
        if pad_to <= raw:
            raise UsageError(f"message of {raw} bytes does not fit the padded size {pad_to}")
        return random_bytes(pad_to - raw)
    if bucket < 1:
        raise UsageError(f"the padding bucket must be ≥ 1 byte, got {bucket}")
    return random_bytes(bucket - raw % bucket)
