"""The sealer's jobs and their fair queue: pure data, no threads and no clock (whisper-v6.md §1.6).

* A `Job` is one seal: its search, how far it got (next nonce, best so far, workers on it), its
  deadline once its first slice starts, and the future its caller waits on.
* `FairQueue` groups jobs in lanes by requester; a free worker takes its next slice round-robin
  over the requesters, then round-robin over that requester's jobs. A small seal (≤
  `SMALL_SEAL_BITS`) is worked by one worker at a time, so concurrent small seals spread over
  the cores; a large one takes every free worker, each on the next stride of the nonce space.
* The caller holds the lock that guards the queue and its jobs; nothing here blocks.
"""

from __future__ import annotations

import concurrent.futures
from collections import deque
from collections.abc import Hashable

from hush.errors import PowError
from hush.shh.envelope import Envelope
from hush.shh.pow import NonceSearch, SearchResult

__all__ = ["SMALL_SEAL_BITS", "FairQueue", "Job", "resolve"]

SMALL_SEAL_BITS = 16
"""Up to this many bits (~65,000 hashes, tens of ms) a seal is not spread over several workers."""


class Job:
    """One seal: its search, how far it got, and the future its caller waits on."""

    __slots__ = (
        "best",
        "bits",
        "deadline",
        "envelope",
        "finished",
        "future",
        "next_nonce",
        "parallel",
        "requester",
        "running",
        "search",
        "settled",
        "work_time",
    )

    def __init__(
        self,
        envelope: Envelope,
        bits: int | None,
        work_time: float,
        parallel: int,
        start: int,
        requester: Hashable,
    ):
        self.envelope = envelope
        self.search = NonceSearch(envelope.short_rlp())
        self.bits = bits
        self.work_time = work_time
        self.parallel = parallel
        self.next_nonce = start
        self.requester = requester
        self.deadline: float | None = None  # set when its first slice starts
        self.running = 0  # workers hashing it now
        self.best: SearchResult | None = None
        self.finished = False  # no more slices handed out: found, cancelled, timed out, closed
        self.settled = False  # its outcome decided (once the slices still running are in)
        self.future: concurrent.futures.Future[Envelope] = concurrent.futures.Future()

    def outcome(self) -> Envelope | BaseException:
        if self.bits is None:
            return self.envelope.with_nonce(self.best.nonce) if self.best else self.envelope
        return PowError(
            "failed to reach the PoW target, specified pow time "
            f"({self.work_time:.15g} seconds) was insufficient"
        )


def resolve(future: concurrent.futures.Future[Envelope], outcome: Envelope | BaseException) -> None:
    try:
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
    except concurrent.futures.InvalidStateError:
        pass  # cancelled meanwhile: nobody waits for it


class FairQueue:
    """The sealer's queue, pure: jobs grouped in lanes by requester, handed out round-robin over
    the lanes and, within a lane, over its jobs. A job stays until `retire` (finished and no
    worker on it); `take` skips finished jobs and those with all the workers they may use."""

    def __init__(self) -> None:
        self._lanes: dict[Hashable, deque[Job]] = {}  # insertion order is the round-robin order
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, job: Job) -> None:
        self._lanes.setdefault(job.requester, deque()).append(job)
        self._count += 1

    def take(self, small_only: bool = False) -> Job | None:
        """The next job with room for one more worker, turning the round-robin past it
        (`small_only`: only a small seal, which one worker at a time works on)."""
        for _ in range(len(self._lanes)):
            requester, lane = next(iter(self._lanes.items()))
            del self._lanes[requester]
            self._lanes[requester] = lane
            for _ in range(len(lane)):
                job = lane[0]
                lane.rotate(-1)
                if job.finished or job.running >= job.parallel:
                    continue
                if not small_only or (job.bits is not None and job.bits <= SMALL_SEAL_BITS):
                    return job
        return None

    def retire(self, job: Job) -> bool:
        """Drop a finished job no worker is on; True if it was queued."""
        lane = self._lanes.get(job.requester)
        if not job.finished or job.running or lane is None or job not in lane:
            return False
        lane.remove(job)
        self._count -= 1
        if not lane:
            del self._lanes[job.requester]
        return True

    def clear(self) -> list[Job]:
        jobs = [job for lane in self._lanes.values() for job in lane]
        self._lanes.clear()
        self._count = 0
        return jobs
