"""Proof-of-work search, pure: no clock, no processes (whisper-v6.md §1.5–1.6).

The PoW hash is keccak256(short ‖ nonce_be8). Keccak absorbs 136-byte blocks, so every full block
of `short` is absorbed once into a state that is copied per nonce; only the tail and the nonce are
hashed per try. geth re-hashes the whole buffer per nonce, which is why its rate falls with size.
A digest has at least `bits` leading zero bits exactly when it is below 2^(256−bits), so a byte
string comparison replaces the bit count in the hot loop. The loop runs in C (`_powloop.c`, without
the GIL) where that was built, else in Python at about half the speed; in C it hashes 8 nonces at
once where the CPU has AVX-512F, 4 with AVX2 (chosen at import, `_powloop.lanes()`), else one.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

from hush.crypto.keccak import KECCAK_RATE, keccak_state
from hush.shh.envelope import ENVELOPE_HEADER_LENGTH, leading_zero_bits

__all__ = ["ACCELERATED", "NonceSearch", "SearchResult", "nonce_lanes", "target_bits"]

_pack_nonce = struct.Struct(">Q").pack_into

try:  # the C nonce loop, ~2x faster; optional at build time (see setup.py)
    from hush.shh import _powloop
except ImportError:  # pragma: no cover - depends on the build
    _powloop = None  # type: ignore[assignment]

ACCELERATED = _powloop is not None


def nonce_lanes() -> int:
    """Nonces the loop hashes at once: 8 (AVX-512F), 4 (AVX2), 1 (scalar C or Python)."""
    return _powloop.lanes() if _powloop is not None else 1


_MASK64 = (1 << 64) - 1


def target_bits(pow_target: float, data_length: int, ttl: int) -> int:
    """geth's Seal target: ceil(log2(pow × size() × ttl)), at least 1, with size() = 20 + len(data).

    Where the product overflows a double (geth's int(+Inf) then makes the target 1 bit), the sum of
    the logarithms gives the far-too-many bits such a target really needs."""
    size = ENVELOPE_HEADER_LENGTH + data_length
    product = pow_target * size * ttl
    if product == math.inf:
        return math.ceil(math.log2(pow_target) + math.log2(size) + math.log2(ttl))
    return max(1, math.ceil(math.log2(product))) if product > 0 else 1


@dataclass(frozen=True, slots=True)
class SearchResult:
    nonce: int
    bits: int


class NonceSearch:
    """Searches nonces for one short RLP; picklable, so worker processes can share the work."""

    __slots__ = ("_absorbed", "_tail", "short")

    def __init__(self, short: bytes):
        self.short = bytes(short)
        full = len(short) // KECCAK_RATE * KECCAK_RATE
        self._absorbed = memoryview(self.short)[:full]  # no second copy of a large envelope
        self._tail = self.short[full:]

    def __getstate__(self) -> bytes:
        return self.short

    def __setstate__(self, state: bytes) -> None:
        self.__init__(state)  # type: ignore[misc]

    def find(self, start: int, count: int, bits: int) -> SearchResult | None:
        """The first nonce in [start, start+count) (mod 2^64) with ≥ `bits` leading zero bits."""
        if bits > 256:
            return None  # more zero bits than a hash has: no nonce will do
        if _powloop is None or bits <= 0:
            return self.find_python(start, count, bits)
        limit = (1 << (256 - bits)).to_bytes(32, "big")
        found = _powloop.find(self._absorbed, self._tail, start & _MASK64, count, limit)
        return SearchResult(found[0], leading_zero_bits(found[1])) if found else None

    @staticmethod
    def find_many(
        searches: list[tuple[NonceSearch, int, int, int]],
    ) -> list[SearchResult | None]:
        """`find(start, count, bits)` of each search, in order; in C, in one release of the GIL."""
        if _powloop is None or any(not 0 < bits <= 256 for _, _, _, bits in searches):
            return [search.find(start, count, bits) for search, start, count, bits in searches]
        found = _powloop.find_many(
            [
                (
                    search._absorbed,
                    search._tail,
                    start & _MASK64,
                    count,
                    (1 << (256 - bits)).to_bytes(32, "big"),
                )
                for search, start, count, bits in searches
            ]
        )
        return [SearchResult(f[0], leading_zero_bits(f[1])) if f else None for f in found]

    def find_python(self, start: int, count: int, bits: int) -> SearchResult | None:
        """`find` in pure Python: the fallback where the C loop wasn't built, and its reference."""
        limit = (1 << (256 - bits)).to_bytes(33, "big")[1:] if bits > 0 else b"\xff" * 33
        copy = keccak_state(self._absorbed).copy
        pack = _pack_nonce
        buffer = bytearray(self._tail + bytes(8))
        offset = len(self._tail)
        start &= _MASK64
        first = min(count, _MASK64 + 1 - start)
        # Plain ranges, split where the nonce wraps: no masking in the loop (1.8x faster).
        for low, high in ((start, start + first), (0, count - first)):
            for nonce in range(low, high):
                pack(buffer, offset, nonce)
                state = copy()
                state.update(buffer)
                digest = state.digest()
                if digest < limit:
                    return SearchResult(nonce, leading_zero_bits(digest))
        return None

    def best(self, start: int, count: int, at_least: int = 1) -> SearchResult | None:
        """The nonce with the most leading zero bits in the range (first on ties), if any reach `at_least`."""
        best: SearchResult | None = None
        want = at_least
        while count > 0:
            found = self.find(start, count, want)
            if found is None:
                return best
            best = found
            consumed = (found.nonce - start) & 0xFFFFFFFFFFFFFFFF
            start, count = found.nonce + 1, count - consumed - 1
            want = found.bits + 1
        return best
