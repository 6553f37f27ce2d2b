"""The clock seam: every time-based decision of the node reads one injected `Clock`.

Two readings, because they answer different questions:

* `time()` — seconds since the Unix epoch, what goes on the wire (an envelope's expiry), what
  the pool and filters compare against, and what a user reads;
* `monotonic()` — seconds on a clock that never jumps, for durations and deadlines (rate-limit
  buckets, filter idle time, the sealer's time budget, RPC deadlines).

`SystemClock` reads the machine's clocks. `LoopClock` reads the running asyncio loop's clock
(`loop.time()`), so that under `hush.vclock`'s virtual-time loop every reading, sleep and
timeout of the node moves together in virtual time; its `time()` is `epoch + loop.time()`.
The pure cores never read a clock: the shell passes `now` in.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

__all__ = ["SYSTEM_CLOCK", "Clock", "LoopClock", "SystemClock"]


class Clock(Protocol):
    def time(self) -> float:
        """Seconds since the Unix epoch (wall time)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (durations, deadlines)."""
        ...


class SystemClock:
    """The machine's clocks: `time.time` and `time.monotonic`."""

    __slots__ = ()

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


SYSTEM_CLOCK = SystemClock()


class LoopClock:
    """The running event loop's clock, with wall time `epoch + loop.time()`.

    Built for the virtual-time loop: sleeps, timeouts and readings then agree. `epoch` is the
    wall time the loop's zero stands for (a fixed start for a reproducible simulation)."""

    __slots__ = ("_epoch", "_loop")

    def __init__(self, epoch: float, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._epoch = epoch
        self._loop = loop

    def _running(self) -> asyncio.AbstractEventLoop:
        return self._loop if self._loop is not None else asyncio.get_running_loop()

    def time(self) -> float:
        return self._epoch + self._running().time()

    def monotonic(self) -> float:
        return self._running().time()
