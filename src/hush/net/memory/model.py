"""What a memory link costs: latency, bandwidth, loss (simulation.md §4.2 `MemoryLink`).

All sampling goes through a `random.Random` the network seeds, so a run replays exactly.

* **Latency** is one-way propagation per segment: `Constant`, `Uniform` or `LogNormal`.
* **Bandwidth** (bytes/s, per direction) is serialisation: a segment occupies the link for
  `size / bandwidth` seconds after the previous one left, so segments queue in order.
* **Loss** has TCP semantics: nothing is lost for good and order is kept. A lost segment is
  retransmitted after the retransmission timeout (`rto`, doubling for each further loss of the
  same segment, as TCP backs off), and every later segment waits behind it (head-of-line
  blocking). A retransmission costs delay only, not bandwidth a second time.
* **Window** bounds what a sender may have unread on the other side (in flight, or held by a
  reader that stopped reading): TCP's send buffer plus the receiver's window. Past it, a
  writer's `drain()` (real RLPx) or `send_message` (plain links) waits.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from hush.errors import UsageError
from hush.validation import check_int, check_number

__all__ = ["Constant", "Latency", "LinkModel", "LogNormal", "Uniform"]

_MAX_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class Constant:
    """The same delay for every segment."""

    seconds: float = 0.0

    def __post_init__(self) -> None:
        check_number("latency", self.seconds, 0, _MAX_SECONDS)

    def sample(self, rng: random.Random) -> float:
        return self.seconds


@dataclass(frozen=True, slots=True)
class Uniform:
    """A delay drawn uniformly from [low, high] for each segment."""

    low: float
    high: float

    def __post_init__(self) -> None:
        check_number("latency low", self.low, 0, _MAX_SECONDS)
        check_number("latency high", self.high, self.low, _MAX_SECONDS)

    def sample(self, rng: random.Random) -> float:
        return rng.uniform(self.low, self.high)


@dataclass(frozen=True, slots=True)
class LogNormal:
    """A log-normal delay: `median · e^(sigma·N(0,1))`, capped at `cap` (a heavy tail that
    cannot stall a simulation for hours)."""

    median: float
    sigma: float
    cap: float = 10.0

    def __post_init__(self) -> None:
        check_number("latency median", self.median, 0, _MAX_SECONDS, positive=True)
        check_number("latency sigma", self.sigma, 0, 10)
        check_number("latency cap", self.cap, 0, _MAX_SECONDS)

    def sample(self, rng: random.Random) -> float:
        return min(self.cap, rng.lognormvariate(math.log(self.median), self.sigma))


Latency = Constant | Uniform | LogNormal


@dataclass(frozen=True, slots=True)
class LinkModel:
    """How one direction of a memory link behaves (both directions use the same model, each
    with its own random stream)."""

    latency: Latency = Constant()
    """One-way propagation delay of each segment (a write, or a plain link's frame)."""

    bandwidth: float | None = None
    """Bytes per second of serialisation; None: unlimited."""

    loss: float = 0.0
    """Probability that a segment is lost and has to be retransmitted (see the module doc)."""

    rto: float = 0.2
    """Seconds a lost segment waits before its retransmission (Linux's minimum RTO, 200 ms)."""

    window: int = 1 << 20
    """Bytes a sender may have unread by the other side before its writes wait."""

    def __post_init__(self) -> None:
        if not isinstance(self.latency, Constant | Uniform | LogNormal):
            raise UsageError(f"invalid latency {self.latency!r}")
        if self.bandwidth is not None:
            check_number("bandwidth", self.bandwidth, 0, None, positive=True)
        check_number("loss", self.loss, 0, 0.9)
        check_number("rto", self.rto, 0, 60, positive=True)
        check_int("window", self.window, 1)

    def retransmission_delay(self, rng: random.Random) -> float:
        """Extra seconds a segment takes to get through: 0 unless it is lost (then an RTO, doubled
        for each further loss)."""
        if not self.loss:
            return 0.0
        delay, rto = 0.0, self.rto
        while rng.random() < self.loss:
            delay += rto
            rto = min(rto * 2, 60.0)
        return delay
