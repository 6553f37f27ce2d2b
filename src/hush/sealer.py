"""Sealing envelopes with proof of work: geth's Seal semantics, far faster (whisper-v6.md §1.6).

The pure search lives in `hush.shh.pow`; this module owns the clock, the workers and their queue.
- Seals run on the sealer's own bounded set of worker threads (one per core by default), never on
  asyncio's default executor. The C nonce loop runs without the GIL, so threads use every core and
  no worker process re-imports the embedding script. Only where the C loop was not built does each
  worker thread drive a child interpreter instead (hush code only, over its pipes), as the Python
  loop holds the GIL.
- Work is handed out in slices of ~50 ms of hashing. Between slices a worker checks the clock, the
  job's cancellation and shutdown, so a cancelled seal or a closed sealer stops hashing within a
  slice. Cancel a seal by cancelling the future `submit` returns (asyncio's `wrap_future` does it
  when the awaiting task is cancelled). Small seals are batched, up to a slice of expected work,
  into one C call, so a worker needs the GIL once per batch rather than once per seal.
- Fair: seals are grouped by requester; a free worker takes its next slice round-robin over the
  requesters, then round-robin over that requester's seals. A small seal (≤ 16 bits) is worked by
  one worker at a time, so concurrent small seals spread over the cores; a large one takes every
  free worker, each on the next stride of the nonce space.
- Bounded: at most `queue_limit` seals queued or running (more: `SealerBusy`), `max_work_time` caps
  the time of one seal, and a target no nonce can reach within the time is refused before hashing.
- The search starts at a random nonce, so the nonce does not reveal how fast the device is.
- `pow_target < 0` is geth's "best within the time" mode: mine for all of `work_time`, keep the
  best nonce, and move the expiry by `work_time` as geth does.
"""

from __future__ import annotations

import concurrent.futures
import logging
import math
import os
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import IO, Protocol

from hush.errors import PowError, UsageError
from hush.shh.envelope import Envelope
from hush.shh.pow import ACCELERATED, NonceSearch, SearchResult, target_bits
from hush.types import RandomBytes

__all__ = ["DEFAULT_MAX_WORK_TIME", "DEFAULT_QUEUE_LIMIT", "FairQueue", "Sealer", "SealerBusy"]

DEFAULT_MAX_WORK_TIME = 60.0
"""Seconds one seal may take at most (geth takes any uint32: 136 years)."""
DEFAULT_QUEUE_LIMIT = 64
"""Seals queued or running at once; each holds its envelope (≤ the max message size) twice."""
SMALL_SEAL_BITS = 16
"""Up to this many bits (~65,000 hashes, tens of ms) a seal is not spread over several workers."""
MAX_HASH_RATE = 1 << 26
"""Hashes/s per worker assumed when judging a target reachable: ~25x the C loop on one core."""
_REACH_MARGIN = 4  # refuse when even at MAX_HASH_RATE the odds of success are below 1/16

_SLICE_C = 1 << 17  # nonces per slice: ~50 ms in the C loop
_SLICE_PYTHON = 1 << 16  # the same time in the Python loop
_MASK64 = (1 << 64) - 1
log = logging.getLogger(__name__)

Clock = Callable[[], float]


class SealerBusy(UsageError):
    """The sealer's queue is full: the post is refused before any work, try again later."""


class _Runner(Protocol):
    """Runs slices: `find` when `bits` ≥ 1, `best` when `bits` is None."""

    def __call__(
        self, search: NonceSearch, start: int, count: int, bits: int | None
    ) -> SearchResult | None: ...

    def close(self) -> None: ...


class _ThreadRunner:
    """Hashes in the worker thread itself: the C loop releases the GIL."""

    def __call__(
        self, search: NonceSearch, start: int, count: int, bits: int | None
    ) -> SearchResult | None:
        return search.best(start, count) if bits is None else search.find(start, count, bits)

    def many(self, slices: list[tuple[NonceSearch, int, int, int]]) -> list[SearchResult | None]:
        # One release of the GIL for a batch of small seals: a worker thread that needs the GIL
        # less often waits less for it while the event loop is busy (and slows it less).
        return NonceSearch.find_many(slices)

    def close(self) -> None:
        pass


# A slice for a child: short's length (0: the same short as the last request), start, count, bits
# (-1: best); the reply: found, nonce, bits.
_REQUEST = struct.Struct(">IQQh")
_REPLY = struct.Struct(">?QH")


def _read_exact(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise EOFError("sealing worker process closed its pipe")
    return data


def _child_main() -> None:  # pragma: no cover - runs in the child interpreter
    """A fallback worker process: serves slices over stdin/stdout until stdin closes."""
    import signal  # noqa: PLC0415 - only the child needs it

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    search: NonceSearch | None = None
    runner = _ThreadRunner()
    while header := stdin.read(_REQUEST.size):
        length, start, count, bits = _REQUEST.unpack(header)
        if length or search is None:
            search = NonceSearch(_read_exact(stdin, length))
        found = runner(search, start, count, None if bits < 0 else bits)
        stdout.write(
            _REPLY.pack(found is not None, found.nonce if found else 0, found.bits if found else 0)
        )
        stdout.flush()


class _ChildRunner:
    """Hashes in a child interpreter that imports hush only (not the embedding script, unlike
    multiprocessing's spawn and forkserver), for builds without the C loop."""

    def __init__(self) -> None:
        code = f"import sys; sys.path[:0] = {sys.path!r}; from hush.sealer import _child_main; _child_main()"
        self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and code
            [sys.executable, "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self._last: NonceSearch | None = None

    def __call__(
        self, search: NonceSearch, start: int, count: int, bits: int | None
    ) -> SearchResult | None:
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None and stdout is not None
        short = b"" if search is self._last else search.short
        stdin.write(_REQUEST.pack(len(short), start, count, -1 if bits is None else bits) + short)
        stdin.flush()
        self._last = search
        found, nonce, got = _REPLY.unpack(_read_exact(stdout, _REPLY.size))
        return SearchResult(nonce, got) if found else None

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(1.0)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()


class _Job:
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


def _resolve(
    future: concurrent.futures.Future[Envelope], outcome: Envelope | BaseException
) -> None:
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
        self._lanes: dict[Hashable, deque[_Job]] = {}  # insertion order is the round-robin order
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, job: _Job) -> None:
        self._lanes.setdefault(job.requester, deque()).append(job)
        self._count += 1

    def take(self, small_only: bool = False) -> _Job | None:
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

    def retire(self, job: _Job) -> bool:
        """Drop a finished job no worker is on; True if it was queued."""
        lane = self._lanes.get(job.requester)
        if not job.finished or job.running or lane is None or job not in lane:
            return False
        lane.remove(job)
        self._count -= 1
        if not lane:
            del self._lanes[job.requester]
        return True

    def clear(self) -> list[_Job]:
        jobs = [job for lane in self._lanes.values() for job in lane]
        self._lanes.clear()
        self._count = 0
        return jobs


class _Workers:
    """The worker threads and the fair queue of one sealer, from its first seal to `close`."""

    def __init__(
        self, count: int, processes: bool, clock: Clock, queue_limit: int, slice_size: int
    ):
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

    def add(self, job: _Job) -> None:
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

    def _on_done(self, job: _Job) -> None:
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
            _resolve(job.future, PowError("sealing stopped: the sealer is closed"))

    def wait_idle(self, timeout: float | None) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and self.busy == 0, timeout)

    # -- the workers' side (the caller holds the lock) --

    @property
    def jobs(self) -> int:
        return len(self._queue)

    def _retire(self, job: _Job) -> None:
        if self._queue.retire(job):
            self._cond.notify_all()  # wait_idle

    def _take(self, small_only: bool = False) -> _Job | None:
        return self._queue.take(small_only)

    @staticmethod
    def _settle(job: _Job, outcome: Envelope | BaseException) -> Envelope | BaseException | None:
        if job.settled:
            return None
        job.finished = job.settled = True
        return outcome

    def _run(self) -> None:
        runner: _Runner = _ThreadRunner()
        try:
            if self._processes:
                try:
                    runner = _ChildRunner()
                except OSError as exc:
                    log.warning("PoW worker process failed to start (%s); hashing in a thread", exc)
            while tasks := self._next_slices(batch=isinstance(runner, _ThreadRunner)):
                try:
                    if len(tasks) > 1 and isinstance(runner, _ThreadRunner):
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
                    runner = _ThreadRunner()
                    self._slices_done(tasks, [None] * len(tasks), None)
                except Exception as exc:  # pragma: no cover - a bug: fail the seal, not the worker
                    log.exception("sealing failed")
                    self._slices_done(tasks, [None] * len(tasks), exc)
                else:
                    self._slices_done(tasks, found, None)
        finally:
            runner.close()
            with self._cond:
                self._alive -= 1
                last = self._alive == 0
            if last:
                self.stopped.set_result(None)

    def _next_slices(self, batch: bool) -> list[tuple[_Job, int, int]]:
        """Wait for the next slice to hash: [(job, start nonce, count)]; [] once closed. With
        `batch`, small seals come several at once, up to one slice's worth of expected work."""
        while True:
            expired: list[tuple[_Job, Envelope | BaseException]] = []
            tasks: list[tuple[_Job, int, int]] = []
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
                _resolve(job.future, outcome)
            if tasks or closed:
                return tasks

    def _slices_done(
        self,
        tasks: list[tuple[_Job, int, int]],
        results: list[SearchResult | None],
        error: Exception | None,
    ) -> None:
        outcomes: list[tuple[_Job, Envelope | BaseException]] = []
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
            _resolve(job.future, outcome)

    def _slice_outcome(
        self, job: _Job, found: SearchResult | None, error: Exception | None
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


class Sealer:
    """Mines envelope nonces on its own worker threads, started at the first seal. Close it when
    done (it is a context manager); a closed sealer starts afresh at its next seal."""

    def __init__(
        self,
        workers: int | None = None,
        clock: Clock = time.monotonic,
        random_bytes: RandomBytes = os.urandom,
        *,
        processes: int | None = None,
        max_work_time: float = DEFAULT_MAX_WORK_TIME,
        queue_limit: int = DEFAULT_QUEUE_LIMIT,
        worker_processes: bool | None = None,
    ):
        """`workers` (or its old name `processes`): None uses every core. `worker_processes`:
        hash in child processes instead of threads; None does so only without the C loop."""
        count = workers if workers is not None else processes
        if count is not None and (isinstance(count, bool) or not 1 <= count <= 1024):
            raise UsageError(f"sealing workers must be 1 to 1024, got {count!r}")
        if not (isinstance(max_work_time, int | float) and 0 < max_work_time < math.inf):
            raise UsageError(
                f"the max PoW time must be a positive number of seconds, got {max_work_time!r}"
            )
        if isinstance(queue_limit, bool) or not isinstance(queue_limit, int) or queue_limit < 1:
            raise UsageError(
                f"the seal queue limit must be a positive integer, got {queue_limit!r}"
            )
        self.workers = count or os.cpu_count() or 1
        self.max_work_time = float(max_work_time)
        self.queue_limit = queue_limit
        self.worker_processes = not ACCELERATED if worker_processes is None else worker_processes
        self._clock = clock
        self._random_bytes = random_bytes
        self._lock = threading.Lock()
        self._pool: _Workers | None = None

    @property
    def processes(self) -> int:
        """The old name of `workers`."""
        return self.workers

    @property
    def pending(self) -> int:
        """Seals queued or being hashed now."""
        pool = self._pool
        return pool.jobs if pool else 0

    @property
    def busy(self) -> int:
        """Workers hashing a slice now."""
        pool = self._pool
        return pool.busy if pool else 0

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no seal is queued and no worker hashes; False if `timeout` passed first."""
        pool = self._pool
        return pool.wait_idle(timeout) if pool else True

    def _workers(self) -> _Workers:
        with self._lock:
            if self._pool is None:
                self._pool = _Workers(
                    self.workers,
                    self.worker_processes,
                    self._clock,
                    self.queue_limit,
                    _SLICE_C if ACCELERATED and not self.worker_processes else _SLICE_PYTHON,
                )
            return self._pool

    def shutdown(self) -> concurrent.futures.Future[None]:
        """Stop without blocking: queued and running seals fail with PowError at once, and each
        worker leaves after its current slice. The future is done when the last has left."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is None:
            done: concurrent.futures.Future[None] = concurrent.futures.Future()
            done.set_result(None)
            return done
        pool.close()
        return pool.stopped

    def close(self, timeout: float | None = 5.0) -> None:
        """`shutdown`, then wait up to `timeout` seconds for the workers to leave."""
        stopped = self.shutdown()
        try:
            stopped.result(timeout)
        except concurrent.futures.TimeoutError:
            log.warning("PoW workers still busy after %s s; leaving them to exit", timeout)

    def __enter__(self) -> Sealer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check(self, pow_target: float, work_time: float) -> None:
        """Refuse what `submit` would refuse before knowing the envelope (raises UsageError)."""
        if not math.isfinite(pow_target):
            raise UsageError(f"invalid PoW target {pow_target}: must be a finite number")
        if not 0 <= work_time < math.inf:
            raise UsageError(f"invalid PoW time {work_time}: must be a number of seconds ≥ 0")
        if work_time > self.max_work_time and pow_target != 0:  # 0: no mining, time unused
            raise UsageError(
                f"PoW time {work_time:.15g} s is over this node's limit of {self.max_work_time:.15g} s"
            )

    def seal(self, envelope: Envelope, pow_target: float, work_time: float) -> Envelope:
        """The envelope with a nonce meeting `pow_target` (geth's target arithmetic), blocking.

        `pow_target == 0`: no mining. `pow_target < 0`: best nonce found within `work_time`
        seconds, with the expiry moved by `work_time`. Raises PowError when a positive target
        is not reached within `work_time` seconds, or cannot be.
        """
        return self.submit(envelope, pow_target, work_time).result()

    def submit(
        self,
        envelope: Envelope,
        pow_target: float,
        work_time: float,
        requester: Hashable = None,
    ) -> concurrent.futures.Future[Envelope]:
        """Queue a seal; cancelling the future stops it. Refusals (UsageError, PowError,
        SealerBusy) are raised here, before any hashing. Seals of the same `requester` share
        one turn of the round-robin."""
        self.check(pow_target, work_time)
        future: concurrent.futures.Future[Envelope]
        if pow_target == 0:
            future = concurrent.futures.Future()
            future.set_result(envelope)
            return future
        start = int.from_bytes(self._random_bytes(8), "big")
        if pow_target < 0:
            moved = Envelope(
                (envelope.expiry + int(work_time)) & 0xFFFFFFFF,
                envelope.ttl,
                envelope.topic,
                envelope.data,
            )
            job = _Job(moved, None, work_time, self.workers, start, requester)
        else:
            bits = target_bits(pow_target, len(envelope.data), envelope.ttl)
            self._check_reachable(bits, work_time)
            parallel = 1 if bits <= SMALL_SEAL_BITS else self.workers
            job = _Job(envelope, bits, work_time, parallel, start, requester)
        self._workers().add(job)
        return job.future

    def _check_reachable(self, bits: int, work_time: float) -> None:
        reachable = math.log2(MAX_HASH_RATE * self.workers * work_time) if work_time > 0 else 0
        if work_time <= 0 or bits > reachable + _REACH_MARGIN:
            detail = (
                ""
                if work_time <= 0
                else (
                    f": the target needs {bits} leading zero bits, about "
                    f"{max(0, math.floor(reachable))} can be reached in that time"
                )
            )
            raise PowError(
                "failed to reach the PoW target, specified pow time "
                f"({work_time:.15g} seconds) was insufficient{detail}"
            )
