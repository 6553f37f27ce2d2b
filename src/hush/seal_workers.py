"""The sealer's worker threads: slices of work handed out from a fair, bounded queue.

* Seals run on the sealer's own bounded set of worker threads (one per core by default), never on
  asyncio's default executor; each hashes through a runner (`hush.seal_runners`): in the thread
  itself, or, without the C loop, in a child interpreter of its own.
* Work is handed out in slices of ~50 ms of hashing. Between slices a worker checks the clock, the
  job's cancellation and shutdown, so a cancelled seal or a closed sealer stops hashing within a
  slice. A job's time counts from its first slice, not from the queue. Small seals are batched,
  up to a slice of expected work, into one C call.
* Bounded: at most `queue_limit` seals queued or running (more: `SealerBusy`).
* A future is resolved outside the lock, and only once: the last slice still running on a
  finished job settles it.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import InvalidStateError

from hush.errors import PowError, UsageError
from hush.seal_queue import SMALL_SEAL_BITS, FairQueue, Job, resolve
from hush.seal_runners import ChildRunner, Runner, ThreadRunner
from hush.shh.envelope import Envelope
from hush.shh.pow import SearchResult

__all__ = ["Clock", "HashTally", "SealerBusy", "Workers", "hashes_tried"]

_MASK64 = (1 << 64) - 1
log = logging.getLogger(__name__)

Clock = Callable[[], float]


class SealerBusy(UsageError):
    """The sealer's queue is full: the post is refused before any work, try again later."""


def hashes_tried(start: int, count: int, found: SearchResult | None, first: bool) -> int:
    """Nonces hashed by a slice of `count` from `start`: up to and including the nonce found when
    the search stops at the `first` hit (`find`), else the whole slice (a miss, or `best`)."""
    if first and found is not None:
        return ((found.nonce - start) & _MASK64) + 1
    return count


class HashTally:
    """Nonces hashed by a sealer's workers since it was made (any thread adds; read any time)."""

    __slots__ = ("_lock", "total")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total = 0

    def add(self, hashes: int) -> None:
        with self._lock:
            self.total += hashes


class Workers:
    """The worker threads and the fair queue of one sealer, from its first seal to `close`."""

    def __init__(
        self,
        count: int,
        processes: bool,
        clock: Clock,
        queue_limit: int,
        slice_size: int,
        tally: HashTally | None = None,
    ):
        self.tally = tally if tally is not None else HashTally()
        self._clock = clock
        self._queue_limit = queue_limit
        self._slice = slice_size
        self._processes = processes
        self._cond = threading.Condition()
        self._queue = FairQueue()  # jobs queued or being hashed
        self.busy = 0  # workers inside a slice
        self._closed = False
        self._alive = count
        self.stopped: concurrent.futures.Future[None] = concurrent.futures.Future()
        self.count = count
        for index in range(count):
            name = f"hush-sealer-{index}"
            threading.Thread(target=self._run, name=name, daemon=True).start()

    # -- the caller's side (any thread) --

    def add(self, job: Job) -> None:
        with self._cond:
            if self._closed:
                raise PowError("sealing stopped: the sealer is closed")
            if len(self._queue) >= self._queue_limit:
                raise SealerBusy(
                    f"too many messages being sealed ({self._queue_limit}), try again later"
                )
            self._queue.add(job)
            self._cond.notify(min(job.parallel, self.count))
        job.future.add_done_callback(lambda _: self._on_done(job))

    def _on_done(self, job: Job) -> None:
        with self._cond:  # cancelled by its caller, or resolved: stop handing out its slices
            job.finished = job.settled = True
            self._retire(job)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            jobs = self._queue.clear()
            for job in jobs:
                job.finished = job.settled = True
            self._cond.notify_all()
        for job in jobs:
            resolve(job.future, PowError("sealing stopped: the sealer is closed"))

    def wait_idle(self, timeout: float | None) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and self.busy == 0, timeout)

    # -- the workers' side (the caller holds the lock) --

    @property
    def jobs(self) -> int:
        return len(self._queue)

    def _retire(self, job: Job) -> None:
        if self._queue.retire(job):
            self._cond.notify_all()  # wait_idle

    def _take(self, small_only: bool = False) -> Job | None:
        return self._queue.take(small_only)

    @staticmethod
    def _settle(job: Job, outcome: Envelope | BaseException) -> Envelope | BaseException | None:
        if job.settled:
            return None
        job.finished = job.settled = True
        return outcome

    def _run(self) -> None:
        runner: Runner = ThreadRunner()
        try:
            if self._processes:
                try:
                    runner = ChildRunner()
                except OSError as exc:
                    log.warning("PoW worker process failed to start (%s); hashing in a thread", exc)
            while tasks := self._next_slices(batch=isinstance(runner, ThreadRunner)):
                try:
                    if len(tasks) > 1 and isinstance(runner, ThreadRunner):
                        found = runner.many(
                            [
                                (job.search, start, count, job.bits or 1)
                                for job, start, count in tasks
                            ]
                        )
                    else:
                        found = [
                            runner(job.search, start, count, job.bits)
                            for job, start, count in tasks
                        ]
                except (OSError, EOFError) as exc:  # the child process died: go on here
                    log.warning("PoW worker process failed (%s); hashing in a thread", exc)
                    runner.close()
                    runner = ThreadRunner()
                    self._slices_done(tasks, [None] * len(tasks), None)
                except Exception as exc:  # pragma: no cover - a bug: fail the seal, not the worker
                    log.exception("sealing failed")
                    self._slices_done(tasks, [None] * len(tasks), exc)
                else:
                    self.tally.add(
                        sum(
                            hashes_tried(start, count, result, job.bits is not None)
                            for (job, start, count), result in zip(tasks, found, strict=True)
                        )
                    )
                    self._slices_done(tasks, found, None)
        finally:
            runner.close()
            with self._cond:
                self._alive -= 1
                last = self._alive == 0
            if last:
                # A caller that stopped waiting may have cancelled the future (a wrapped wait_for
                # does): the workers are done either way.
                with contextlib.suppress(InvalidStateError):
                    self.stopped.set_result(None)

    def _next_slices(self, batch: bool) -> list[tuple[Job, int, int]]:
        """Wait for the next slice to hash: [(job, start nonce, count)]; [] once closed. With
        `batch`, small seals come several at once, up to one slice's worth of expected work."""
        while True:
            expired: list[tuple[Job, Envelope | BaseException]] = []
            tasks: list[tuple[Job, int, int]] = []
            with self._cond:
                budget = self._slice
                while not self._closed and budget > 0 and not expired:
                    job = self._take(small_only=bool(tasks))
                    if job is None:
                        if tasks:
                            break
                        self._cond.wait()
                        continue
                    now = self._clock()
                    if job.deadline is None:  # the time counts from the first slice, not the queue
                        job.deadline = now + job.work_time
                    if now >= job.deadline:
                        job.finished = True  # settled by the last of its slices still running
                        if not job.running and (outcome := self._settle(job, job.outcome())):
                            expired.append((job, outcome))
                        self._retire(job)
                        continue
                    small = batch and job.bits is not None and job.bits <= SMALL_SEAL_BITS
                    count = min(self._slice, 4 << (job.bits or 0)) if small else self._slice
                    tasks.append((job, job.next_nonce, count))
                    job.next_nonce = (job.next_nonce + count) & _MASK64
                    job.running += 1
                    self.busy += 1
                    budget = budget - count if small else 0
                closed = self._closed
            for job, outcome in expired:
                resolve(job.future, outcome)
            if tasks or closed:
                return tasks

    def _slices_done(
        self,
        tasks: list[tuple[Job, int, int]],
        results: list[SearchResult | None],
        error: Exception | None,
    ) -> None:
        outcomes: list[tuple[Job, Envelope | BaseException]] = []
        with self._cond:
            for (job, _, _), found in zip(tasks, results, strict=True):
                job.running -= 1
                self.busy -= 1
                outcome = self._slice_outcome(job, found, error)
                if outcome is not None:
                    outcomes.append((job, outcome))
                self._retire(job)
            if not self._queue and self.busy == 0:
                self._cond.notify_all()  # wait_idle
        for job, outcome in outcomes:
            resolve(job.future, outcome)

    def _slice_outcome(
        self, job: Job, found: SearchResult | None, error: Exception | None
    ) -> Envelope | BaseException | None:
        if job.settled:
            return None
        best = job.best
        if job.bits is None and found and (best is None or found.bits > best.bits):
            job.best = found
        if error is not None:
            return self._settle(job, error)
        if job.bits is not None and found is not None:
            return self._settle(job, job.envelope.with_nonce(found.nonce))
        if job.deadline is not None and self._clock() >= job.deadline:
            job.finished = True
        if job.finished and not job.running:
            return self._settle(job, job.outcome())
        return None
