"""Sealing envelopes with proof of work: geth's Seal semantics, far faster (whisper-v6.md §1.6).

The pure search lives in `hush.shh.pow`; this module owns the clock and the worker processes.
- A target is tried in this process first for a small slice: low targets (mobile PoW) finish
  before a process pool could even receive the job.
- Larger work is split over worker processes, each taking its own stride of the nonce space.
- The search starts at a random nonce, so the nonce does not reveal how fast the device is.
- `pow_target < 0` is geth's "best within the time" mode: mine for all of `work_time`, keep the
  best nonce, and move the expiry by `work_time` as geth does.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import logging
import math
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Generator
from concurrent.futures.process import BrokenProcessPool

from hush.errors import PowError, UsageError
from hush.shh.envelope import Envelope
from hush.shh.pow import NonceSearch, SearchResult, target_bits
from hush.types import RandomBytes

__all__ = ["Sealer"]

_LOCAL_SLICE = 1 << 15  # nonces tried in-process before fanning out (~30 ms)
_WORKER_SLICE = 1 << 17  # nonces per worker task between clock checks (~0.1 s)
_MASK64 = (1 << 64) - 1
log = logging.getLogger(__name__)

Clock = Callable[[], float]


def _worker_find(search: NonceSearch, start: int, count: int, bits: int) -> SearchResult | None:
    return search.find(start, count, bits)


def _worker_init() -> None:
    # Ctrl-C reaches the whole process group; the parent shuts the workers down itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A parent killed outright can't: then leave too, rather than linger forever.
    parent = os.getppid()

    def watch_parent() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch_parent, daemon=True, name="parent-watch").start()


def _seal_in_worker(envelope: Envelope, pow_target: float, work_time: float) -> Envelope:
    return Sealer(processes=1).seal(envelope, pow_target, work_time)


def _worker_best(search: NonceSearch, start: int, count: int) -> SearchResult | None:
    return search.best(start, count)


class Sealer:
    """Mines envelope nonces; holds a lazily started process pool. Close it when done."""

    def __init__(
        self,
        processes: int | None = None,
        clock: Clock = time.monotonic,
        random_bytes: RandomBytes = os.urandom,
    ):
        self.processes = max(1, processes or os.cpu_count() or 1)
        self._clock = clock
        self._random_bytes = random_bytes
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    def _executor(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            self._pool = concurrent.futures.ProcessPoolExecutor(
                self.processes, mp_context=context, initializer=_worker_init
            )
            # Workers start on demand, one per submit that finds none idle: start them all now,
            # so a burst of seals later doesn't wait for interpreters to start.
            for _ in range(self.processes):
                self._pool.submit(int)
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> Sealer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def seal(self, envelope: Envelope, pow_target: float, work_time: float) -> Envelope:
        """The envelope with a nonce meeting `pow_target` (geth's target arithmetic).

        `pow_target == 0`: no mining. `pow_target < 0`: best nonce found within `work_time`
        seconds, with the expiry moved by `work_time`. Raises PowError when a positive target
        is not reached within `work_time` seconds.
        """
        if math.isnan(pow_target) or work_time < 0:
            raise UsageError("PoW target must be a number and the work time not negative")
        if pow_target == 0:
            return envelope
        if pow_target < 0:
            moved = Envelope(
                (envelope.expiry + int(work_time)) & 0xFFFFFFFF,
                envelope.ttl,
                envelope.topic,
                envelope.data,
            )
            best = self._best(NonceSearch(moved.short_rlp()), work_time)
            return moved.with_nonce(best.nonce) if best else moved
        bits = target_bits(pow_target, len(envelope.data), envelope.ttl)
        found = self._find(NonceSearch(envelope.short_rlp()), bits, work_time)
        if found is None:
            raise PowError(
                "failed to reach the PoW target, specified pow time "
                f"({work_time:g} seconds) was insufficient"
            )
        return envelope.with_nonce(found.nonce)

    def submit(
        self, envelope: Envelope, pow_target: float, work_time: float
    ) -> concurrent.futures.Future[Envelope]:
        """Seal in one worker process, whole: many small seals at once then use every core
        (`seal` spreads one large job over the workers instead)."""
        return self._executor().submit(_seal_in_worker, envelope, pow_target, work_time)

    def _random_start(self) -> int:
        return int.from_bytes(self._random_bytes(8), "big")

    def _find(self, search: NonceSearch, bits: int, work_time: float) -> SearchResult | None:
        if work_time <= 0:
            return None
        deadline = self._clock() + work_time
        start = self._random_start()
        found = search.find(start, _LOCAL_SLICE, bits)
        if found is not None or self._clock() >= deadline:
            return found
        job = functools.partial(_worker_find, search, bits=bits)
        with contextlib.closing(self._slices(job, start + _LOCAL_SLICE, deadline)) as results:
            return next((result for result in results if result is not None), None)

    def _best(self, search: NonceSearch, work_time: float) -> SearchResult | None:
        best: SearchResult | None = None
        job = functools.partial(_worker_best, search)
        for result in self._slices(job, self._random_start(), self._clock() + work_time):
            if result and (best is None or result.bits > best.bits):
                best = result
        return best

    def _slices(
        self, job: Callable[[int, int], SearchResult | None], start: int, deadline: float
    ) -> Generator[SearchResult | None, None, None]:
        """Results of consecutive nonce slices from `start` until the deadline, computed here
        or, with several processes, by the workers (a few slices queued per worker)."""
        pending: set[concurrent.futures.Future[SearchResult | None]] = set()
        try:
            try:
                while self.processes > 1:
                    while len(pending) < self.processes * 2 and self._clock() < deadline:
                        pending.add(self._executor().submit(job, start & _MASK64, _WORKER_SLICE))
                        start += _WORKER_SLICE
                    if not pending:
                        return
                    done, pending = concurrent.futures.wait(
                        pending, return_when=concurrent.futures.FIRST_COMPLETED
                    )
                    for future in done:
                        yield future.result()
            except BrokenProcessPool:
                # Workers could not start (a __main__ that spawn can't re-import): go on here.
                log.warning("PoW worker processes failed; sealing in this process")
                pending.clear()
                self.close()
                self.processes = 1
            while self._clock() < deadline:
                yield job(start & _MASK64, _WORKER_SLICE)
                start += _WORKER_SLICE
        finally:
            for future in pending:
                future.cancel()
