"""Sealing envelopes with proof of work: geth's Seal semantics, far faster (whisper-v6.md §1.6).

The pure search lives in `hush.shh.pow`; `Sealer` is the facade that composes the parts:
`hush.seal_queue` (jobs and their fair queue, pure data), `hush.seal_workers` (the worker threads,
slices, cancellation and the queue bound) and `hush.seal_runners` (hashing in a thread, or in a
child interpreter where the C loop was not built). The parts never import this module.
- Cancel a seal by cancelling the future `submit` returns (asyncio's `wrap_future` does it when
  the awaiting task is cancelled); the worker on it stops within a slice (~50 ms).
- Fair: seals are grouped by requester and handed out round-robin over requesters, then over
  that requester's seals.
- Bounded: at most `queue_limit` seals queued or running (more: `SealerBusy`), `max_work_time` caps
  the time of one seal, and a target no nonce can reach within the time is refused before hashing.
- The search starts at a random nonce, so the nonce does not reveal how fast the device is.
- `pow_target < 0` is geth's "best within the time" mode: mine for all of `work_time` and keep
  the best nonce — only when asked for, since the work done reveals the device's speed — but
  unlike geth without moving the expiry by `work_time` (simulation.md §4: geth's shift makes
  `expiry − ttl` point past the send time; any expiry in the future is valid to geth).

`EnvelopeSealer` is the seam the node seals through (`Node(sealer=...)`): `Sealer` by default,
`InlineSealer` for simulations — it hashes in the calling thread at once, at low PoW, its time
budget read from the injected clock, so hundreds of nodes in one process need no thread at all.
"""

from __future__ import annotations

import concurrent.futures
import logging
import math
import os
import threading
import time
from collections.abc import Hashable
from typing import Protocol

from hush.errors import PowError, UsageError
from hush.seal_queue import SMALL_SEAL_BITS, FairQueue
from hush.seal_queue import Job as _Job
from hush.seal_workers import Clock, HashTally, SealerBusy, hashes_tried
from hush.seal_workers import Workers as _Workers
from hush.shh.envelope import Envelope
from hush.shh.pow import ACCELERATED, NonceSearch, SearchResult, target_bits
from hush.types import RandomBytes

__all__ = [
    "DEFAULT_MAX_WORK_TIME",
    "DEFAULT_QUEUE_LIMIT",
    "INLINE_MAX_BITS",
    "SMALL_SEAL_BITS",
    "EnvelopeSealer",
    "FairQueue",
    "InlineSealer",
    "Sealer",
    "SealerBusy",
]

DEFAULT_MAX_WORK_TIME = 60.0
"""Seconds one seal may take at most (geth takes any uint32: 136 years)."""
DEFAULT_QUEUE_LIMIT = 64
"""Seals queued or running at once; each holds its envelope (≤ the max message size) twice."""
MAX_HASH_RATE = 1 << 26
"""Hashes/s per worker assumed when judging a target reachable: ~25x the C loop on one core."""
_REACH_MARGIN = 4  # refuse when even at MAX_HASH_RATE the odds of success are below 1/16

_SLICE_C = 1 << 17  # nonces per slice: ~50 ms in the C loop
_SLICE_PYTHON = 1 << 16  # the same time in the Python loop
log = logging.getLogger(__name__)


class EnvelopeSealer(Protocol):
    """What the node seals through: refusals first, then a future for the sealed envelope."""

    def check(self, pow_target: float, work_time: float) -> None:
        """Refuse (UsageError) what `submit` would refuse before knowing the envelope."""
        ...

    def submit(
        self, envelope: Envelope, pow_target: float, work_time: float, requester: Hashable = None
    ) -> concurrent.futures.Future[Envelope]:
        """Seal; cancelling the future stops it. Refusals are raised here."""
        ...

    def shutdown(self) -> concurrent.futures.Future[None]:
        """Stop without blocking; the future is done once no seal runs any more."""
        ...


def _check_request(pow_target: float, work_time: float, max_work_time: float) -> None:
    if not math.isfinite(pow_target):
        raise UsageError(f"invalid PoW target {pow_target}: must be a finite number")
    if not 0 <= work_time < math.inf:
        raise UsageError(f"invalid PoW time {work_time}: must be a number of seconds ≥ 0")
    if work_time > max_work_time and pow_target != 0:  # 0: no mining, time unused
        raise UsageError(
            f"PoW time {work_time:.15g} s is over this node's limit of {max_work_time:.15g} s"
        )


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
        self._tally = HashTally()

    @property
    def hashes(self) -> int:
        """Nonces hashed since the sealer was made, over every seal (`hush_pow_hashes_total`)."""
        return self._tally.total

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
                    self._tally,
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
        _check_request(pow_target, work_time, self.max_work_time)

    def seal(self, envelope: Envelope, pow_target: float, work_time: float) -> Envelope:
        """The envelope with a nonce meeting `pow_target` (geth's target arithmetic), blocking.

        `pow_target == 0`: no mining. `pow_target < 0`: best nonce found within `work_time`
        seconds (the expiry as it was: geth moves it by `work_time`, hush doesn't). Raises PowError when a positive target
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
            job = _Job(envelope, None, work_time, self.workers, start, requester)
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


INLINE_MAX_BITS = 20
"""The most leading zero bits `InlineSealer` mines for by default (about a million hashes)."""
_INLINE_SLICE = 1 << 12  # nonces between two readings of the clock
_INLINE_TRIES = 64  # x 2^bits nonces at most: a frozen clock cannot make it loop for ever


class InlineSealer:
    """Seals in the calling thread, before `submit` returns: for simulations and tests, where
    many nodes share one process and PoW is low. geth's target arithmetic and modes as `Sealer`;
    the time budget reads `clock` (the node's `clock.monotonic`, virtual in a simulation) between
    slices, and the work is also bounded in nonces (64 x 2^bits; 2^max_bits for the best-within-
    the-time mode), so a clock that does not move
    while hashing cannot make a seal endless. Targets above `max_bits` are refused (PowError)."""

    def __init__(
        self,
        clock: Clock = time.monotonic,
        random_bytes: RandomBytes = os.urandom,
        *,
        max_bits: int = INLINE_MAX_BITS,
        max_work_time: float = DEFAULT_MAX_WORK_TIME,
    ) -> None:
        self._clock = clock
        self._random_bytes = random_bytes
        self.max_bits = max_bits
        self.max_work_time = float(max_work_time)
        self.sealed = 0
        """Seals done (for tests and simulation traces)."""
        self.hashes = 0
        """Nonces hashed, over every seal."""

    def check(self, pow_target: float, work_time: float) -> None:
        _check_request(pow_target, work_time, self.max_work_time)

    def submit(
        self, envelope: Envelope, pow_target: float, work_time: float, requester: Hashable = None
    ) -> concurrent.futures.Future[Envelope]:
        self.check(pow_target, work_time)
        future: concurrent.futures.Future[Envelope] = concurrent.futures.Future()
        future.set_result(self.seal(envelope, pow_target, work_time))
        self.sealed += 1
        return future

    def seal(self, envelope: Envelope, pow_target: float, work_time: float) -> Envelope:
        """The sealed envelope, at once (raises PowError as `Sealer` does)."""
        self.check(pow_target, work_time)
        if pow_target == 0:
            return envelope
        nonce = int.from_bytes(self._random_bytes(8), "big")
        deadline = self._clock() + work_time
        if pow_target < 0:  # best within the time (and the nonce bound)
            search = NonceSearch(envelope.short_rlp())
            best: SearchResult | None = None
            for _ in range(max(1, (1 << self.max_bits) // _INLINE_SLICE)):
                found = search.best(nonce, _INLINE_SLICE, best.bits + 1 if best else 1)
                self.hashes += _INLINE_SLICE
                best = found or best
                nonce += _INLINE_SLICE
                if self._clock() >= deadline:
                    break
            return envelope.with_nonce(best.nonce) if best else envelope
        bits = target_bits(pow_target, len(envelope.data), envelope.ttl)
        if bits > self.max_bits:
            raise PowError(
                f"the PoW target needs {bits} leading zero bits; this in-process sealer mines "
                f"at most {self.max_bits}"
            )
        search = NonceSearch(envelope.short_rlp())
        for _ in range(max(1, (_INLINE_TRIES << bits) // _INLINE_SLICE)):
            found = search.find(nonce, _INLINE_SLICE, bits)
            self.hashes += hashes_tried(nonce, _INLINE_SLICE, found, True)
            if found is not None:
                return envelope.with_nonce(found.nonce)
            nonce += _INLINE_SLICE
            if self._clock() >= deadline:
                break
        raise PowError(
            "failed to reach the PoW target, specified pow time "
            f"({work_time:.15g} seconds) was insufficient"
        )

    def shutdown(self) -> concurrent.futures.Future[None]:
        done: concurrent.futures.Future[None] = concurrent.futures.Future()
        done.set_result(None)
        return done

    def close(self) -> None:
        """Nothing runs between calls: nothing to stop."""
