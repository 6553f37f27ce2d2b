"""The Whisper envelope: codec, identity, nominal size and geth 1.9's proof of work (whisper-v6.md §1).

Wire form: RLP list of exactly five items [expiry uint32, ttl uint32, topic 4 bytes, data, nonce
uint64], canonical integers only; anything else is a `DecodeError` (geth drops the sender). The
hash is keccak256 of that encoding; the PoW hashes the 4-item "short" RLP followed by the 8-byte
big-endian nonce, counts leading zero bits, and divides twice in IEEE double (§1.5).

Decoding, hashing and the PoW digest of a received envelope run in one C call (`_envelope.c`)
where that was built: it accepts exactly what `_decode_fast` accepts and declines everything
else to the generic strict decoder, so errors and decisions are the Python ones. An envelope
keeps its hash and PoW digest's bit count once computed (they depend only on its bytes).
`decode_python` is the pure-Python path: the fallback without a compiler, and the reference
the C path is tested against. For a `messages` packet, `check_run` (parse only) and
`copies_run` (a copy of a pooled envelope is a look-up by its bytes) serve the node's receive
path; without the C part they check and find nothing, and the caller decodes each envelope.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hush import rlp
from hush.crypto.keccak import keccak256
from hush.errors import DecodeError
from hush.shh.topic import TOPIC_LENGTH, topic_to_bloom
from hush.types import Bloom, EnvelopeHash, Topic

__all__ = [
    "ACCELERATED",
    "ENVELOPE_HEADER_LENGTH",
    "Envelope",
    "bind_entry",
    "check_run",
    "copies_run",
    "copy_index",
    "decode_run",
    "leading_zero_bits",
    "pow_from_bits",
    "short_rlp",
    "slot_builder",
]

try:  # decode + hash + PoW digest in C; optional at build time (see setup.py)
    from hush.shh import _envelope
except ImportError:  # pragma: no cover - depends on the build
    _envelope = None  # type: ignore[assignment]

ACCELERATED = _envelope is not None
ENVELOPE_HEADER_LENGTH = 20  # nominal, used by size() (whisper-v6.md §1.2)
_UINT32 = 0xFFFFFFFF
_POW2 = tuple(float(2**bits) for bits in range(257))
_set = object.__setattr__


def short_rlp(expiry: int, ttl: int, topic: bytes, data: bytes) -> bytes:
    """RLP([expiry, ttl, topic, data]): a fresh 4-item list, the PoW input before the nonce."""
    return rlp.encode_list_payload(
        rlp.encode_uint(expiry) + rlp.encode_uint(ttl) + b"\x84" + topic + rlp.encode_bytes(data)
    )


def _uint_at(raw: bytes, pos: int, max_length: int) -> tuple[int, int] | None:
    """A canonical RLP integer of at most `max_length` bytes at `pos`: (value, next pos)."""
    first = raw[pos]
    if first < 0x80:
        return (first, pos + 1) if first else None  # 0x00 is a non-canonical zero
    length = first - 0x80
    stop = pos + 1 + length
    if length > max_length or stop > len(raw):
        return None
    if length == 0:
        return 0, stop
    value = int.from_bytes(raw[pos + 1 : stop], "big")
    if raw[pos + 1] == 0 or (length == 1 and value < 0x80):
        return None
    return value, stop


def _decode_fast(raw: bytes) -> tuple[int, int, Topic, bytes, int] | None:
    """The fields of a well-formed envelope, or None to defer to the generic strict decoder.

    Accepts only what `rlp.decode` + `Envelope.from_item` accept; anything unusual returns None
    so that the slow path produces the exact error. Validation is 3x faster this way.
    """
    size = len(raw)
    if size < 12:
        return None
    first = raw[0]
    if first < 0xC0:
        return None
    if first <= 0xF7:
        pos = 1
        length = first - 0xC0
    else:
        pos = first - 0xF6
        if pos > 9 or raw[1] == 0:
            return None
        length = int.from_bytes(raw[1:pos], "big")
        if length < 56:
            return None
    if pos + length != size or pos + 10 > size:
        return None
    expiry = _uint_at(raw, pos, 4)
    if expiry is None:
        return None
    ttl = _uint_at(raw, expiry[1], 4)
    if ttl is None:
        return None
    pos = ttl[1]
    if pos + 6 > size or raw[pos] != 0x84:
        return None
    topic = Topic(raw[pos + 1 : pos + 5])
    pos += 5
    marker = raw[pos]
    if marker < 0x80:
        start, stop = pos, pos + 1
    elif marker <= 0xB7:
        start = pos + 1
        stop = start + marker - 0x80
        if stop == start + 1 and stop <= size and raw[start] < 0x80:
            return None
    elif marker <= 0xBF:
        start = pos + 1 + marker - 0xB7
        if start > size or raw[pos + 1] == 0:
            return None
        stop = start + int.from_bytes(raw[pos + 1 : start], "big")
        if stop - start < 56:
            return None
    else:
        return None
    if stop >= size:
        return None
    nonce = _uint_at(raw, stop, 8)
    if nonce is None or nonce[1] != size:
        return None
    return expiry[0], ttl[0], topic, raw[start:stop], nonce[0]


def leading_zero_bits(digest: bytes) -> int:
    return 256 - int.from_bytes(digest, "big").bit_length()


def pow_from_bits(bits: int, short_size: int, ttl: int, diff: int = 0) -> float:
    """geth's arithmetic: 2^bits / size / (ttl + diff), two divisions in this order."""
    divisor = (ttl + diff) & _UINT32
    value = _POW2[bits] / float(short_size)
    return value / float(divisor) if divisor else float("inf")


@dataclass(frozen=True, slots=True)
class Envelope:
    expiry: int
    ttl: int
    topic: Topic
    data: bytes
    nonce: int = 0
    _encoded: bytes = field(default=b"", repr=False, compare=False)
    _hash: EnvelopeHash = field(default=EnvelopeHash(b""), init=False, repr=False, compare=False)
    """keccak256(_encoded) once computed, else empty."""
    _pow_bits: int = field(default=-1, init=False, repr=False, compare=False)
    """Leading zero bits of the PoW digest once computed, else -1."""
    _short_size: int = field(default=0, init=False, repr=False, compare=False)
    """len(short_rlp()) once the PoW digest was computed."""

    def __post_init__(self) -> None:
        if not 0 <= self.expiry <= _UINT32 or not 0 <= self.ttl <= _UINT32:
            raise DecodeError("envelope expiry and ttl must be uint32")
        if not 0 <= self.nonce < 2**64:
            raise DecodeError("envelope nonce must be uint64")
        if len(self.topic) != TOPIC_LENGTH:
            raise DecodeError(f"envelope topic must be 4 bytes, got {len(self.topic)}")
        if not self._encoded:
            object.__setattr__(self, "_encoded", self._encode())

    def _encode(self) -> bytes:
        return rlp.encode_list_payload(
            rlp.encode_uint(self.expiry)
            + rlp.encode_uint(self.ttl)
            + b"\x84"
            + self.topic
            + rlp.encode_bytes(self.data)
            + rlp.encode_uint(self.nonce)
        )

    @classmethod
    def decode(cls, raw: bytes) -> Envelope:
        """Strictly decode one envelope that spans all of `raw` (in C where it was built)."""
        raw = bytes(raw)
        if _envelope is None or cls is not Envelope:  # the C part builds exactly Envelopes
            return cls.decode_python(raw)
        envelope = _envelope.decode(raw)
        if envelope is None:  # unusual or malformed: the generic decoder accepts or explains
            return cls.from_item(rlp.decode(raw), raw)
        return envelope

    @classmethod
    def decode_python(cls, raw: bytes) -> Envelope:
        """`decode` in pure Python: the fallback without the C part, and its reference."""
        raw = bytes(raw)
        fields = _decode_fast(raw)
        if fields is None:  # unusual or malformed: the generic decoder accepts or explains
            return cls.from_item(rlp.decode(raw), raw)
        expiry, ttl, topic, data, nonce = fields
        envelope = object.__new__(cls)
        setter = _set
        setter(envelope, "expiry", expiry)
        setter(envelope, "ttl", ttl)
        setter(envelope, "topic", topic)
        setter(envelope, "data", data)
        setter(envelope, "nonce", nonce)
        setter(envelope, "_encoded", raw)
        setter(envelope, "_hash", b"")
        setter(envelope, "_pow_bits", -1)
        setter(envelope, "_short_size", 0)
        return envelope

    @classmethod
    def from_item(cls, item: rlp.Item, raw: bytes | None = None) -> Envelope:
        """An envelope from an already-decoded RLP item (as found inside a messages packet)."""
        if not isinstance(item, list):
            raise DecodeError("envelope: expected an RLP list")
        if len(item) != 5:
            raise DecodeError(f"envelope: expected 5 items, got {len(item)}")
        expiry_b, ttl_b, topic, data, nonce_b = item
        if not isinstance(topic, bytes) or len(topic) != TOPIC_LENGTH:
            raise DecodeError("envelope: topic must be a 4-byte string")
        if not isinstance(data, bytes):
            raise DecodeError("envelope: data must be a byte string")
        envelope = cls(
            expiry=rlp.decode_uint(expiry_b, 32, "envelope expiry"),
            ttl=rlp.decode_uint(ttl_b, 32, "envelope ttl"),
            topic=Topic(topic),
            data=data,
            nonce=rlp.decode_uint(nonce_b, 64, "envelope nonce"),
            _encoded=raw or b"",
        )
        return envelope

    def encode(self) -> bytes:
        return self._encoded

    @property
    def hash(self) -> EnvelopeHash:
        digest = self._hash
        if not digest:
            digest = EnvelopeHash(keccak256(self._encoded))
            _set(self, "_hash", digest)
        return digest

    @property
    def sent(self) -> int:
        """Creation time, `expiry − ttl` in uint32 arithmetic (wraps like geth)."""
        return (self.expiry - self.ttl) & _UINT32

    def size(self) -> int:
        """geth's nominal size: 20 + len(data). Compared with the max message size."""
        return ENVELOPE_HEADER_LENGTH + len(self.data)

    def bloom(self) -> Bloom:
        return topic_to_bloom(self.topic)

    def short_rlp(self) -> bytes:
        # The canonical encoding minus its list header and nonce item is the 4 items' payload.
        encoded = self._encoded
        head = 1 if encoded[0] <= 0xF7 else encoded[0] - 0xF6
        nonce = self.nonce
        nonce_length = 1 if nonce < 0x80 else 1 + (nonce.bit_length() + 7) // 8
        return rlp.encode_list_payload(encoded[head : len(encoded) - nonce_length])

    def pow(self, diff: int = 0) -> float:
        """Proof of work as geth 1.9 computes it; `diff` is added to the TTL for future-dated ones."""
        bits = self._pow_bits
        if bits < 0:
            short = self.short_rlp()
            bits = leading_zero_bits(keccak256(short + self.nonce.to_bytes(8, "big")))
            _set(self, "_short_size", len(short))
            _set(self, "_pow_bits", bits)
        divisor = (self.ttl + diff) & _UINT32  # pow_from_bits, inlined: this is the hot path
        value = _POW2[bits] / self._short_size
        return value / divisor if divisor else float("inf")

    def with_nonce(self, nonce: int) -> Envelope:
        return Envelope(self.expiry, self.ttl, self.topic, self.data, nonce)


def decode_run(payload: bytes, pos: int, stop: int, limit: int) -> tuple[list[Envelope], int]:
    """Envelopes from the list items at payload[pos:stop] (a `messages` list's payload), at most
    `limit`, decoded in one C call; stops early (maybe at once) before an item the C part leaves
    to the strict decoder, and without the C part decodes none. Returns them and where it stopped.
    """
    if _envelope is None:
        return [], pos
    return _envelope.decode_run(payload, pos, stop, limit)


def check_run(payload: bytes, pos: int, stop: int, limit: int) -> tuple[int, int]:
    """How many of the list items at payload[pos:stop] (at most `limit`) the C part would decode,
    checked without hashing them, and where they end: `decode_run`'s verdict at a fraction of its
    cost (geth's whole-packet check before any envelope is added). Without the C part, none."""
    if _envelope is None:
        return 0, pos
    return _envelope.check_run(payload, pos, stop, limit)


def copies_run(
    payload: bytes,
    pos: int,
    stop: int,
    limit: int,
    entries: _envelope.CopyIndex | None,
    now: int,
    max_size: int,
    min_pow: float,
    bloom: Bloom | None,
) -> tuple[list[Any], int, Envelope | None]:
    """Plain copies of pooled envelopes from the list items at payload[pos:stop], at most `limit`
    items, for the pool (`EnvelopePool.copies_run` gives `entries`, its `copy_index()`, or None
    for no copies, and its settings).

    A copy is judged on its bytes and the pooled entry: not expired nor sent ahead of `now`, its
    data within `max_size` - 20, the entry's PoW at least `min_pow` and its topic in `bloom`
    (None: any); such a copy costs a look-up by its bytes (SipHash where they lie, and memcmp):
    no keccak, no PoW digest, no Envelope. The item that is not one is hashed as `decode_run`
    would. Stops after the first item that is not one, returned decoded in full (as `decode_run`
    would), or before an item the C part leaves to the strict decoder (None, and `pos` at that
    item). Without the C part: no copies, nothing decoded (every item is the caller's)."""
    if _envelope is None:
        return [], pos, None
    return _envelope.copies_run(payload, pos, stop, limit, entries, now, max_size, min_pow, bloom)


def copy_index() -> _envelope.CopyIndex | None:
    """A fresh index of pooled entries by their encoding, for `copies_run` (its `add(entry)` and
    `discard(entry)` kept by the pool), or None without the C part."""
    return None if _envelope is None else _envelope.CopyIndex()


def bind_entry(cls: type[object], bucket_cls: type[object]) -> Callable[..., int] | None:
    """Tell the C part the pool's entry class, whose `pow` and `raw` slots `copies_run` and the
    copy index read and whose `hash`, `knowers`, `source`, `_bucket` and `_home` slots its
    `mark_known_by` uses, and the buckets' class (its `rank` slot); returns that
    (`mark_known_by(known, pooled, entries, usage, rank_bytes, cost, pinned)` → how many were
    new: `EnvelopePool.mark_known_by`'s loop), or None without the C part."""
    if _envelope is None:
        return None
    names = ("pow", "hash", "knowers", "source", "_bucket", "raw", "_home")
    _envelope.bind_entry(cls, names, bucket_cls, ("rank",))
    return _envelope.mark_known_by


_T = TypeVar("_T")


def slot_builder(cls: type[_T]) -> Callable[..., _T]:
    """A fast constructor for a frozen slotted dataclass on a hot path: `build(*values)` with one
    value per slot, in `__slots__` order, no checks (`__post_init__` is not run). In C where
    built; the generated frozen `__init__` costs several times more."""
    names: tuple[str, ...] = cls.__slots__  # type: ignore[attr-defined]
    if _envelope is not None:
        return _envelope.SlotBuilder(cls, names)

    def build(*values: object) -> _T:
        instance = object.__new__(cls)
        for name, value in zip(names, values, strict=True):
            _set(instance, name, value)
        return instance

    return build


_SLOTS = (
    "expiry",
    "ttl",
    "topic",
    "data",
    "nonce",
    "_encoded",
    "_hash",
    "_pow_bits",
    "_short_size",
)
if _envelope is not None:
    if Envelope.__slots__ != _SLOTS:  # the C part fills exactly these
        raise ImportError(f"Envelope's slots changed: update _envelope.c and _SLOTS ({_SLOTS})")
    _envelope.bind(Envelope, _SLOTS)
