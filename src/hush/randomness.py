"""Uniform draws from an injected `random_bytes` (the OS's in a node, a seeded one in tests and
simulations): pure, at the bottom with `types` and `errors`, importable everywhere."""

from __future__ import annotations

from hush.types import RandomBytes

__all__ = ["uniform_below", "uniform_unit"]


def uniform_unit(random_bytes: RandomBytes) -> float:
    """Uniform in (0, 1), 53 bits (never 0: safe under a logarithm)."""
    return ((int.from_bytes(random_bytes(8), "big") >> 11) + 0.5) / (1 << 53)


def uniform_below(count: int, random_bytes: RandomBytes) -> int:
    """Uniform in [0, count), by rejection (no modulo bias); `count` ≤ 2**64."""
    bound = (1 << 64) - (1 << 64) % count
    while True:
        value = int.from_bytes(random_bytes(8), "big")
        if value < bound:
            return value % count
