"""Topics and their 512-bit blooms, exactly as geth 1.9 builds them (whisper-v6.md §1.7).

geth *assigns* each bloom byte instead of OR-ing it: when two of a topic's three bit indices share a
byte, only the later bit survives. We copy that, or blooms would disagree with geth peers.
"""

from __future__ import annotations

from hush.errors import DecodeError
from hush.types import Bloom, Topic

__all__ = [
    "BLOOM_SIZE",
    "EMPTY_BLOOM",
    "FULL_BLOOM",
    "TOPIC_LENGTH",
    "aggregate_blooms",
    "bloom_matches",
    "topic_from_bytes",
    "topic_from_hex",
    "topic_to_bloom",
    "topic_to_hex",
]

TOPIC_LENGTH = 4
BLOOM_SIZE = 64
FULL_BLOOM = Bloom(b"\xff" * BLOOM_SIZE)
EMPTY_BLOOM = Bloom(bytes(BLOOM_SIZE))
_bloom_cache: dict[bytes, Bloom] = {}


def topic_from_bytes(data: bytes) -> Topic:
    """geth's BytesToTopic: the first 4 bytes, zero-padded when shorter."""
    return Topic(bytes(data[:TOPIC_LENGTH]).ljust(TOPIC_LENGTH, b"\x00"))


def topic_from_hex(text: str) -> Topic:
    """A topic from its JSON form: "0x" and exactly 8 hex digits."""
    if not isinstance(text, str) or not text.startswith(("0x", "0X")):
        raise DecodeError(f"topic must be 0x-prefixed hex, got {text!r}")
    if len(text) != 2 + 2 * TOPIC_LENGTH:
        raise DecodeError(f"topic must be 4 bytes (0x + 8 hex digits), got {text!r}")
    try:
        return Topic(bytes.fromhex(text[2:]))
    except ValueError as exc:
        raise DecodeError(f"topic is not valid hex: {text!r}") from exc


def topic_to_hex(topic: Topic) -> str:
    return "0x" + topic.hex()


def topic_to_bloom(topic: Topic) -> Bloom:
    cached = _bloom_cache.get(topic)
    if cached is not None:
        return cached
    if len(topic) != TOPIC_LENGTH:
        raise DecodeError(f"topic must be 4 bytes, got {len(topic)}")
    bloom = bytearray(BLOOM_SIZE)
    for j in range(3):
        index = topic[j] + (256 if topic[3] & (1 << j) else 0)
        bloom[index // 8] = 1 << (index % 8)  # assignment, not OR: geth's behaviour
    result = Bloom(bytes(bloom))
    if len(_bloom_cache) < 65536:  # bounded: at most one entry per distinct topic seen
        _bloom_cache[bytes(topic)] = result
    return result


def bloom_matches(filter_bloom: bytes | None, sample: bytes) -> bool:
    """geth's BloomFilterMatch: every bit of `sample` is in `filter_bloom`; None matches all."""
    if filter_bloom is None:
        return True
    f = int.from_bytes(filter_bloom, "big")
    return (f | int.from_bytes(sample, "big")) == f


def aggregate_blooms(*blooms: bytes) -> Bloom:
    """Bytewise OR of blooms."""
    value = 0
    for bloom in blooms:
        value |= int.from_bytes(bloom, "big")
    return Bloom(value.to_bytes(BLOOM_SIZE, "big"))
