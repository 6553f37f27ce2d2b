"""A virtual-time asyncio event loop: discrete-event simulation under unchanged asyncio code.

`VirtualEventLoop` is a `SelectorEventLoop` whose `time()` is a number it owns. Whenever nothing
is ready to run and no outside work is pending, it jumps straight to the next scheduled timer
instead of waiting, so `asyncio.sleep`, `asyncio.timeout`, `wait_for`, `call_later` and every
deadline of the node run in virtual time: minutes pass in milliseconds, and computation takes
no virtual time at all. Pair it with `hush.clock.LoopClock` for a node's `Clock`, so that wall
readings (`epoch + loop.time()`) move with the sleeps.

Rules:

* **Deterministic.** Virtual time only moves when the loop is idle, to the exact due time of
  the earliest timer; callbacks run in asyncio's order (ready queue FIFO, then due timers;
  timers due at the same instant in the order they were armed).
  The same program with the same inputs (seeded randomness) runs the same callbacks in the same
  order at the same virtual times.
* **Real I/O still wakes it.** While file descriptors besides the loop's self-pipe are
  registered (sockets, pipes) or outside work is held, each turn first polls the real selector
  without blocking (`hush.vclock_selector`). With only the self-pipe (a pure simulation) that
  poll is skipped but every `POLL_EVERY`-th turn and before blocking: `call_soon_threadsafe`
  puts its callback on the ready queue before it writes the pipe, and the loop looks at that
  queue again before it moves virtual time; the pipe only drains those wake-up bytes (and,
  within `POLL_EVERY` turns, carries signals set with `add_signal_handler`). When real I/O stops a jump, its
  callbacks run first and the timers on the next turn, at their exact time: real I/O never
  makes a timer run early.
* **Cheap turns.** Callbacks made ready at the current instant run in further rounds of the same
  turn (up to `_ROUNDS`, while no poll is due each turn), each in the order a new turn would
  run them (ready queue FIFO, then the timers due now). Handles are built slot by slot
  (`hush.vclock_handles`) and run inline outside debug mode; debug mode takes asyncio's own
  paths.
* **Outside work holds the clock.** While an executor job (`run_in_executor`) or a future passed
  to `hold()` is in flight, the loop waits for it in real time instead of jumping: a thread's
  work takes no virtual time, and no timeout fires just because a thread was slow. Threads the
  loop doesn't know of (a sealer's own workers, say) are not held: hand their futures to `hold`.
* **A horizon** (`set_horizon`, for a parallel simulation: `hush.sim.parallel`) bounds virtual
  time: no callback due at or after the horizon runs and the clock never passes it. Once the
  loop is idle (nothing ready or held) with nothing due before the horizon it calls the
  barrier (`Barrier`): that schedules what the other processes sent (with `call_at`, never
  before the horizon: checked) and returns the next horizon, or None to lift it.
* **Idle with nothing scheduled** blocks on the real selector, as asyncio does (only real I/O
  or another thread can end the wait). With `idle_limit` (`run_virtual` sets 60 s) a wait of
  that many real seconds with nothing scheduled, ready or held raises `VirtualDeadlock`: in a
  simulation that is a program waiting for something that can never happen, and a test fails
  instead of hanging.

Use `run_virtual(coro)` (like `asyncio.run`), `asyncio.Runner(loop_factory=VirtualEventLoop)`,
or decorate an `async def` test with `virtual_time()` to make it a plain test run under
virtual time.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import contextvars
import functools
import heapq
import itertools
import logging
import selectors
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar, cast

from hush.vclock_handles import FAST_HANDLES, new_handle, new_timer
from hush.vclock_selector import VirtualDeadlock, VirtualSelector

__all__ = [
    "Barrier",
    "HorizonError",
    "VirtualDeadlock",
    "VirtualEventLoop",
    "run_virtual",
    "virtual_time",
]

_T = TypeVar("_T")
_P = ParamSpec("_P")

# Timers due within this many seconds of now are run: wide enough that a timer at the current
# virtual time is never missed to float rounding (the ulp at 1e9 s is 1.2e-7), narrow enough to
# keep microsecond timing.
_RESOLUTION = 1e-6
_MAX_SELECT_TIMEOUT = 24 * 3600.0  # asyncio's MAXIMUM_SELECT_TIMEOUT
_MIN_TIMERS_TO_PURGE = 100  # asyncio's rule for dropping cancelled timers from the heap
_PURGE_FRACTION = 0.5
_ROUNDS = 64
"""Rounds of callbacks at one instant that one turn runs before it returns to `run_forever`."""

_Timer = tuple[float, int, asyncio.TimerHandle]


class HorizonError(RuntimeError):
    """A barrier scheduled a callback before the horizon it was called at (a causality error of
    the parallel simulation: something would have happened in the past)."""


Barrier = Callable[[float, float], "float | None"]
"""barrier(horizon, next local timer's due time or inf) → the next horizon, or None: no more."""


class VirtualEventLoop(asyncio.SelectorEventLoop):
    """An event loop on virtual time: idle time is skipped, not waited (see the module doc)."""

    def __init__(self, start: float = 0.0, *, idle_limit: float | None = None) -> None:
        self._now = float(start)
        self._holds = 0
        self.idle_limit = idle_limit
        """Real seconds of total idleness after which `select` raises `VirtualDeadlock`."""
        self._sequence = itertools.count()
        self._virtual_selector = VirtualSelector(self, selectors.DefaultSelector())
        super().__init__(self._virtual_selector)
        self._clock_resolution = _RESOLUTION
        self._scheduled: list[_Timer] = []
        self._horizon: float | None = None
        self._barrier: Barrier | None = None

    def set_horizon(self, horizon: float | None, barrier: Barrier | None = None) -> None:
        """Never run past `horizon` (None: no bound); at it, idle, call `barrier` (module doc)."""
        if horizon is not None and (barrier is None or horizon < self._now):
            raise ValueError("a horizon needs a barrier and may not lie in the past")
        self._horizon, self._barrier = horizon, barrier

    @property
    def horizon(self) -> float | None:
        return self._horizon

    def time(self) -> float:
        return self._now

    @property
    def holds(self) -> int:
        """Outside jobs in flight that keep virtual time still."""
        return self._holds

    def advance(self, seconds: float) -> None:
        """Move virtual time forward by `seconds` now (timers due meanwhile run next turn)."""
        if not seconds >= 0:
            raise ValueError(f"virtual time cannot go back ({seconds!r} s)")
        if self._horizon is not None and self._now + seconds > self._horizon:
            raise HorizonError(f"cannot advance past the horizon {self._horizon!r}")
        self._now += seconds

    def _advance(self, timeout: float) -> None:
        target = self._now + timeout
        scheduled = self._scheduled
        if scheduled:
            # Land exactly on the earliest timer (the timeout was computed from it, but
            # `now + (when - now)` can round below `when`).
            when = scheduled[0][0]
            if when <= target + _RESOLUTION:
                target = when
        if self._horizon is not None:
            target = min(target, self._horizon)
        self._now = max(self._now, target)

    # -- timers: asyncio's, on a heap of (when, sequence, handle) --------------------------------
    # A simulation keeps tens of thousands of timers; asyncio's heap compares TimerHandles with
    # a Python `__lt__`, a tuple heap compares floats in C. Timers due at the very same instant
    # run in the order they were armed. The methods below are asyncio 3.11's `call_at`,
    # `call_soon` and `_run_once` on that heap, with handles built slot by slot and run inline
    # (outside debug mode); nothing else in asyncio reads `_scheduled` but `close`, which clears
    # it.

    def call_at(  # type: ignore[override]
        self,
        when: float,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.TimerHandle:
        if when is None:
            raise TypeError("when cannot be None")
        base: Any = self  # asyncio's private parts, as its own call_at uses them
        if base._closed:
            raise RuntimeError("Event loop is closed")
        timer: Any
        if base._debug or not FAST_HANDLES:
            if base._debug:
                base._check_thread()
                base._check_callback(callback, "call_at")
            timer = asyncio.TimerHandle(when, callback, args, self, context)
            if timer._source_traceback:
                del timer._source_traceback[-1]
        else:
            timer = new_timer(self, when, callback, args, context)
        heapq.heappush(self._scheduled, (when, next(self._sequence), timer))
        timer._scheduled = True
        return cast(asyncio.TimerHandle, timer)

    def call_soon(  # type: ignore[override]
        self,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.Handle:
        base: Any = self
        if base._debug or not FAST_HANDLES:
            return super().call_soon(callback, *args, context=context)
        if base._closed:
            raise RuntimeError("Event loop is closed")
        return self._call_soon(callback, args, context)

    def _call_soon(
        self, callback: Callable[..., object], args: Any, context: contextvars.Context | None
    ) -> asyncio.Handle:
        """asyncio's: a handle on the ready queue (`call_soon_threadsafe` calls it, too)."""
        base: Any = self
        handle: Any
        if base._debug or not FAST_HANDLES:
            handle = asyncio.Handle(callback, args, self, context)
            if handle._source_traceback:
                del handle._source_traceback[-1]
        else:
            handle = new_handle(self, callback, args, context)
        base._ready.append(handle)
        return cast(asyncio.Handle, handle)

    def _run_once(self) -> None:
        base: Any = self
        heap = self._scheduled
        count = len(heap)
        if count > _MIN_TIMERS_TO_PURGE and base._timer_cancelled_count / count > _PURGE_FRACTION:
            kept: list[_Timer] = []
            for timer in heap:
                handle: Any = timer[2]
                if handle._cancelled:
                    handle._scheduled = False
                else:
                    kept.append(timer)
            heapq.heapify(kept)
            self._scheduled = heap = kept
            base._timer_cancelled_count = 0
        else:
            while heap and heap[0][2]._cancelled:
                base._timer_cancelled_count -= 1
                handle = heapq.heappop(heap)[2]
                handle._scheduled = False
        ready: collections.deque[Any] = base._ready
        timeout = None
        if ready or base._stopping:
            timeout = 0.0
        elif heap:
            timeout = min(max(0.0, heap[0][0] - self._now), _MAX_SELECT_TIMEOUT)
        horizon = self._horizon
        if (
            horizon is not None
            and not ready
            and not base._stopping
            and not self._holds  # a thread's work belongs to this side of the barrier
            and (not heap or heap[0][0] >= horizon)
        ):
            self._cross(horizon)  # idle before the horizon: the barrier
            return
        selector = self._virtual_selector
        before = self._now
        base._process_events(selector.select(timeout))
        popleft = ready.popleft
        debug = base._debug
        rounds = _ROUNDS
        # Real I/O (a thread's wake-up, say) stopped a jump: run it first, and the timers next
        # turn, once the clock is on them: a timer never runs before its time because of that
        # (a barrier's horizon relies on it).
        end_time = before if timeout and self._now == before else self._now + _RESOLUTION
        while True:
            # One round: what a new turn would run at this instant, in its order.
            horizon = self._horizon
            if horizon is not None and horizon < end_time:
                end_time = horizon
            while heap and heap[0][0] < end_time:
                handle = heapq.heappop(heap)[2]
                handle._scheduled = False
                ready.append(handle)
            for _ in range(len(ready)):
                handle = popleft()
                if handle._cancelled:
                    continue
                if debug:
                    self._run_debug(handle)
                    continue
                cls = handle.__class__
                if cls is not asyncio.Handle and cls is not asyncio.TimerHandle:
                    handle._run()  # someone's own handle: its own way to run
                    continue
                try:  # Handle._run, inline
                    handle._context.run(handle._callback, *handle._args)
                except (SystemExit, KeyboardInterrupt):
                    raise
                except BaseException as exc:
                    self._callback_failed(handle, exc)
            rounds -= 1
            if not rounds or base._stopping or selector.must_poll():
                return
            # A new turn would first drop cancelled timers at the head, and poll no selector.
            while heap and heap[0][2]._cancelled:
                base._timer_cancelled_count -= 1
                handle = heapq.heappop(heap)[2]
                handle._scheduled = False
            if not ready:
                # It would jump to the next timer: so do we, unless it would do more (block,
                # cross a horizon, poll the self-pipe).
                if not heap or selector.poll_is_due():
                    return
                when = heap[0][0]
                horizon = self._horizon
                if horizon is not None and when >= horizon:
                    return
                if when > self._now:
                    self._advance(when - self._now)
            end_time = self._now + _RESOLUTION

    def _callback_failed(self, handle: Any, exc: BaseException) -> None:
        """`Handle._run`'s report of a callback that raised: to the exception handler."""
        source = asyncio.format_helpers._format_callback_source(  # type: ignore[attr-defined]
            handle._callback, handle._args
        )
        context: dict[str, Any] = {
            "message": f"Exception in callback {source}",
            "exception": exc,
            "handle": handle,
        }
        if handle._source_traceback:
            context["source_traceback"] = handle._source_traceback
        self.call_exception_handler(context)

    def _cross(self, horizon: float) -> None:
        """The barrier at `horizon`: it schedules the imports and moves the horizon on."""
        assert self._barrier is not None
        heap = self._scheduled
        upcoming = heap[0][0] if heap else float("inf")
        base: Any = self
        nxt = self._barrier(horizon, upcoming)
        if base._ready:
            raise HorizonError("a barrier may only schedule callbacks with call_at")
        if heap and heap[0][0] < horizon:
            raise HorizonError(
                f"a barrier scheduled a callback at {heap[0][0]!r}, before the horizon {horizon!r}"
            )
        if nxt is not None and not nxt > horizon:
            raise HorizonError(f"the next horizon {nxt!r} is not after {horizon!r}")
        self._horizon = nxt
        if nxt is None:
            self._barrier = None

    def _run_debug(self, handle: Any) -> None:
        """asyncio's debug-mode run of one callback: a slow one is logged."""
        base: Any = self
        try:
            base._current_handle = handle
            started = time.perf_counter()
            handle._run()
            took = time.perf_counter() - started
            if took >= self.slow_callback_duration:
                logging.getLogger("asyncio").warning("Executing %r took %.3f seconds", handle, took)
        finally:
            base._current_handle = None

    def hold(self, future: asyncio.Future[Any] | concurrent.futures.Future[Any]) -> None:
        """Keep virtual time still until `future` (outside work: a thread's) is done."""
        if future.done():
            return
        self._holds += 1

        def release() -> None:
            self._holds -= 1

        if isinstance(future, asyncio.Future):
            future.add_done_callback(lambda _: release())
        else:  # called in the thread that finished it: count down on the loop, and wake it

            def done(_: object) -> None:
                with contextlib.suppress(RuntimeError):  # the loop was closed meanwhile
                    self.call_soon_threadsafe(release)

            future.add_done_callback(done)

    def run_in_executor(  # type: ignore[override]
        self, executor: concurrent.futures.Executor | None, func: Callable[..., _T], *args: Any
    ) -> asyncio.Future[_T]:
        future = super().run_in_executor(executor, func, *args)
        self.hold(future)
        return future


def run_virtual(
    main: Coroutine[Any, Any, _T],
    *,
    start: float = 0.0,
    idle_limit: float | None = 60.0,
    debug: bool | None = None,
) -> _T:
    """Run `main` to completion on a fresh `VirtualEventLoop` whose time starts at `start`
    (like `asyncio.run`: remaining tasks are cancelled and the loop is closed after). A
    deadlock raises `VirtualDeadlock` after `idle_limit` real seconds."""
    factory = functools.partial(VirtualEventLoop, start, idle_limit=idle_limit)
    result: list[_T] = []

    async def keep() -> None:
        # The result leaves through `result`, not as the task's: `asyncio.Runner.run` reprs
        # its main task on the way out (3.11's `signal.getsignal` builds an enum error from the
        # SIGINT handler it installed), and with it the result: a simulation's whole trace.
        result.append(await main)

    with asyncio.Runner(debug=debug, loop_factory=factory) as runner:
        runner.run(keep())
    return result[0]


def virtual_time(
    start: float = 0.0,
) -> Callable[[Callable[_P, Awaitable[_T]]], Callable[_P, _T]]:
    """Decorator: an `async def` (a pytest test, say) becomes a plain function that runs it
    under `run_virtual`. Its fixtures must be plain (not async) ones."""

    def decorate(function: Callable[_P, Awaitable[_T]]) -> Callable[_P, _T]:
        @functools.wraps(function)
        def run(*args: _P.args, **kwargs: _P.kwargs) -> _T:
            async def main() -> _T:
                return await function(*args, **kwargs)

            return run_virtual(main(), start=start)

        return run

    return decorate
