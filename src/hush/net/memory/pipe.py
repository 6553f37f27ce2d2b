"""One direction of a memory link: segments in order, at the model's bandwidth and latency.

A segment leaves when the previous one has been serialised (`size / bandwidth` after it), then
travels for a latency sample plus any retransmission delay (`LinkModel`), and never overtakes
an earlier one. One timer is armed at a time, for the head of the queue, so segments due at the
same instant are delivered in the order they were sent. The model is fixed for a pipe's life
(what a segment costs is read from it once, at construction).
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from hush.net.memory.model import LinkModel

__all__ = ["Pipe", "Traffic"]

_T = TypeVar("_T")
_EARLY = 1e-6  # a timer may fire this much before its time (the loop's clock resolution)


class Traffic:
    """Bytes and segments sent, summed over pipes (a network's total, say)."""

    __slots__ = ("bytes", "segments")

    def __init__(self) -> None:
        self.bytes = 0
        self.segments = 0


class Pipe(Generic[_T]):
    """Carries items of one direction; `deliver(item)` is called on arrival, in order."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        model: LinkModel,
        rng: random.Random,
        deliver: Callable[[_T], None],
        total: Traffic | None = None,
    ) -> None:
        self._loop = loop
        self._total = total
        self._model = model
        self._rng = rng
        self._bandwidth = model.bandwidth
        self._sample = functools.partial(model.latency.sample, rng)
        self._lossy = model.loss > 0
        self._deliver = deliver
        self._busy_until = float("-inf")
        self._last_arrival = float("-inf")
        self._queue: deque[tuple[float, _T]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self.bytes = 0
        """Bytes sent through this direction (wire bytes: frames as RLPx would write them)."""
        self.segments = 0

    @property
    def model(self) -> LinkModel:
        return self._model

    def latency(self) -> float:
        """One latency sample (for a connection's setup, say)."""
        return self._sample()

    def send(self, item: _T, size: int) -> None:
        queue = self._queue
        queue.append((self._arrival(size), item))
        if self._timer is None:
            self._timer = self._loop.call_at(queue[0][0], self._fire)

    def _arrival(self, size: int) -> float:
        """When a `size`-byte segment sent now arrives (and count it)."""
        start = self._loop.time()
        if start < self._busy_until:  # noqa: PLR1730 (max() costs a call per segment)
            start = self._busy_until
        bandwidth = self._bandwidth
        done = start + size / bandwidth if bandwidth else start
        self._busy_until = done
        arrival = done + self._sample()
        if self._lossy:
            arrival += self._model.retransmission_delay(self._rng)
        if arrival < self._last_arrival:  # noqa: PLR1730 (TCP keeps order; a call costs)
            arrival = self._last_arrival
        self._last_arrival = arrival
        self.bytes += size
        self.segments += 1
        total = self._total
        if total is not None:
            total.bytes += size
            total.segments += 1
        return arrival

    def backlog(self) -> int:
        """Bytes sent but not yet serialised onto the link (waiting for bandwidth)."""
        bandwidth = self._bandwidth
        if not bandwidth:
            return 0
        return max(0, int((self._busy_until - self._loop.time()) * bandwidth))

    def clear(self) -> None:
        """Drop everything still on the way (a reset)."""
        self._queue.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self) -> None:
        self._timer = None
        now = self._loop.time() + _EARLY
        queue = self._queue
        deliver = self._deliver
        while queue and queue[0][0] <= now:
            deliver(queue.popleft()[1])
        if queue and self._timer is None:  # (a delivery may have sent on this pipe meanwhile)
            self._timer = self._loop.call_at(queue[0][0], self._fire)
