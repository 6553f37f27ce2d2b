"""What a run measures, through `hush.node.hooks.NodeObserver` (simulation.md §4.2 "Measured").

`Tap` is one node's observer: packets and bytes in/out per packet code, copies received
(accepted + duplicate) per envelope, and each first arrival (time, envelope hash, the peer it
came from). `summarise` turns the taps and the workload's traces into the run's numbers.
"""

from __future__ import annotations

from asyncio import get_running_loop
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from hush.node.hooks import NodeObserver
from hush.shh.envelope import Envelope
from hush.shh.pool import AddOutcome, AddStatus, PooledEnvelope
from hush.types import NodeID

__all__ = ["Tap", "percentile"]

_ACCEPTED, _DUPLICATE = AddStatus.ACCEPTED, AddStatus.DUPLICATE


class Tap(NodeObserver):
    """One node's accounting."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.bytes_in: Counter[int] = Counter()
        self.bytes_out: Counter[int] = Counter()
        self.packets_in: Counter[int] = Counter()
        self.packets_out: Counter[int] = Counter()
        self.copies = 0
        """Envelopes received from peers, first copies and duplicates."""
        self.duplicates = 0
        self.first: dict[bytes, tuple[float, NodeID | None, bytes]] = {}
        """Envelope hash → (virtual time, the peer it came from or None if posted here, topic)."""
        self.counted = True
        self.largest_out = 0
        """Bytes of the largest packet payload this node sent (counted or not)."""

    def packet_received(self, node_id: NodeID, code: int, size: int) -> None:
        if self.counted:
            self.bytes_in[code] += size
            self.packets_in[code] += 1

    def packet_sent(self, node_id: NodeID, code: int, size: int) -> None:
        self.largest_out = max(self.largest_out, size)
        if self.counted:
            self.bytes_out[code] += size
            self.packets_out[code] += 1

    def envelope_received(self, outcome: AddOutcome, source: NodeID | None, local: bool) -> None:
        if local or source is None:
            return
        status = outcome.status
        if status is _DUPLICATE:
            self.copies += 1
            self.duplicates += 1
        elif status is _ACCEPTED:
            self.copies += 1

    def duplicates_received(self, entries: Sequence[PooledEnvelope], source: NodeID) -> None:
        self.copies += len(entries)
        self.duplicates += len(entries)

    def envelope_accepted(
        self, entry: PooledEnvelope, envelope: Envelope, source: NodeID | None, local: bool
    ) -> None:
        at = get_running_loop().time()  # no loop kept here: a tap is pickled (workers)
        self.first[entry.hash] = (at, None if local else source, bytes(envelope.topic))


def percentile(values: list[float], q: float) -> float | None:
    """The q-quantile (0..1) by the nearest-rank rule; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(-(-q * len(ordered) // 1)) - 1))
    return ordered[rank]


def by_code(counter: Counter[int]) -> dict[str, int]:
    return {str(code): count for code, count in sorted(counter.items())}


def histogram(values: list[int]) -> dict[str, int]:
    return {str(k): v for k, v in sorted(Counter(values).items())}


def grouped(pairs: list[tuple[int, float]]) -> dict[int, list[float]]:
    out: dict[int, list[float]] = defaultdict(list)
    for key, value in pairs:
        out[key].append(value)
    return dict(out)


def summary(values: list[float]) -> dict[str, Any]:
    return {
        "count": len(values),
        "p50": percentile(values, 0.5),
        "p90": percentile(values, 0.9),
        "p99": percentile(values, 0.99),
        "max": max(values) if values else None,
    }
