"""Plain counters with a Prometheus shape and bounded labels; no Prometheus import.

A `Histogram` counts observations per upper bound (`le`), with their sum and count; a
`LabelledCounter` counts per label tuple and holds at most `limit` tuples, past which new ones
count under `other` (the cardinality rule of hardening.md §5.2).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

__all__ = ["DURATION_BUCKETS", "MAX_LABEL_VALUES", "OTHER", "Histogram", "LabelledCounter"]

MAX_LABEL_VALUES = 64
"""Keys one labelled counter holds; later new keys count under `OTHER`."""
OTHER = "other"
DURATION_BUCKETS: tuple[float, ...] = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
"""Seconds, for request and query durations."""


class Histogram:
    """Counts of observed values per upper bound (`le`, cumulative when read), their sum and
    count: the shape of a Prometheus histogram, without Prometheus."""

    __slots__ = ("bounds", "count", "counts", "sum")

    def __init__(self, bounds: Sequence[float]):
        self.bounds = tuple(sorted(bounds))
        self.counts = [0] * (len(self.bounds) + 1)  # the last one is +Inf
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, observations ≤ it), ending with (inf, count)."""
        total, out = 0, []
        for bound, count in zip((*self.bounds, math.inf), self.counts, strict=True):
            total += count
            out.append((bound, total))
        return out

    def snapshot(self) -> dict[str, object]:
        return {"count": self.count, "sum": self.sum}


class LabelledCounter:
    """Counts per label tuple, at most `limit` distinct tuples (then `other` in each place)."""

    __slots__ = ("_counts", "_limit", "_other")

    def __init__(self, arity: int, limit: int = MAX_LABEL_VALUES):
        self._counts: dict[tuple[str, ...], int] = {}
        self._limit = limit
        self._other = (OTHER,) * arity

    def add(self, labels: tuple[str, ...], amount: int = 1) -> None:
        counts = self._counts
        if labels not in counts and len(counts) >= self._limit:
            labels = self._other
        counts[labels] = counts.get(labels, 0) + amount

    def get(self, *labels: str) -> int:
        return self._counts.get(labels, 0)

    def items(self) -> list[tuple[tuple[str, ...], int]]:
        return sorted(self._counts.items())

    def total(self) -> int:
        return sum(self._counts.values())
