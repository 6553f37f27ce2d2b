"""The virtual-time event loop: sleeps, timeouts, ordering, determinism, outside work, real I/O."""

from __future__ import annotations

import asyncio
import contextvars
import socket
import threading
import time
from typing import Any

import pytest

from hush.clock import LoopClock
from hush.vclock import VirtualDeadlock, VirtualEventLoop, run_virtual, virtual_time

_YEAR = 365 * 24 * 3600.0


def test_a_year_long_sleep_jumps_to_its_due_time() -> None:
    async def main() -> float:
        await asyncio.sleep(_YEAR)
        return asyncio.get_running_loop().time()

    started = time.monotonic()
    assert run_virtual(main()) == _YEAR
    # A virtual year in far less than a real minute: the loop jumped, it did not wait.
    assert time.monotonic() - started < 60


def test_start_and_loop_clock() -> None:
    async def main() -> tuple[float, float, float]:
        clock = LoopClock(epoch=1_700_000_000.0)
        before = clock.time()
        await asyncio.sleep(2.5)
        return before, clock.time(), clock.monotonic()

    assert run_virtual(main(), start=100.0) == (1_700_000_100.0, 1_700_000_102.5, 102.5)


def test_timeouts_fire_at_their_exact_virtual_time() -> None:
    async def main() -> list[tuple[str, float]]:
        loop = asyncio.get_running_loop()
        seen: list[tuple[str, float]] = []
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(30):
                await asyncio.Event().wait()
        seen.append(("timeout", loop.time()))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.sleep(100), 5)
        seen.append(("wait_for", loop.time()))
        # Finishing first beats the deadline.
        assert await asyncio.wait_for(asyncio.sleep(1, "done"), 5) == "done"
        seen.append(("in time", loop.time()))
        return seen

    assert run_virtual(main()) == [("timeout", 30.0), ("wait_for", 35.0), ("in time", 36.0)]


def test_timers_run_in_due_order_with_call_later_and_call_at() -> None:
    async def main() -> list[tuple[str, float]]:
        loop = asyncio.get_running_loop()
        seen: list[tuple[str, float]] = []
        done = asyncio.Event()

        def note(name: str) -> None:
            seen.append((name, loop.time()))
            if len(seen) == 4:
                done.set()

        loop.call_later(3.0, note, "c")
        loop.call_at(1.0, note, "a")
        loop.call_later(2.0, note, "b")
        loop.call_soon(note, "now")
        await done.wait()
        return seen

    assert run_virtual(main()) == [("now", 0.0), ("a", 1.0), ("b", 2.0), ("c", 3.0)]


async def _gossip(seed: int) -> list[tuple[int, float]]:
    """Tasks with pseudo-random sleeps that wake one another: a small discrete-event program."""
    import random

    rng = random.Random(seed)
    loop = asyncio.get_running_loop()
    trace: list[tuple[int, float]] = []
    queue: asyncio.Queue[int] = asyncio.Queue()

    async def worker(index: int) -> None:
        for _ in range(50):
            await asyncio.sleep(rng.choice((0.0, 0.1, 0.3, rng.random())))
            queue.put_nowait(index)

    async def reader() -> None:
        for _ in range(20 * 50):
            trace.append((await queue.get(), loop.time()))

    async with asyncio.TaskGroup() as group:
        for index in range(20):
            group.create_task(worker(index))
        group.create_task(reader())
    return trace


def test_same_program_same_trace() -> None:
    first = run_virtual(_gossip(7))
    assert first == run_virtual(_gossip(7))
    assert first != run_virtual(_gossip(8))
    times = [at for _, at in first]
    assert times == sorted(times) and times[-1] > 0


def test_executor_work_holds_virtual_time() -> None:
    release = threading.Event()

    def blocking() -> str:
        release.wait(10)
        return "worked"

    async def main() -> tuple[str, float, float]:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualEventLoop)
        sleeper = asyncio.ensure_future(asyncio.sleep(1000))  # a timer that could be jumped to
        job = loop.run_in_executor(None, blocking)
        await asyncio.sleep(0)
        assert loop.holds == 1
        threading.Timer(0.05, release.set).start()
        result = await job
        during = loop.time()  # the thread's work took no virtual time
        await sleeper
        return result, during, loop.time()

    assert run_virtual(main()) == ("worked", 0.0, 1000.0)


def test_hold_on_an_outside_future() -> None:
    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualEventLoop)
        future: asyncio.Future[None] = loop.create_future()
        loop.hold(future)
        assert loop.holds == 1
        threading.Thread(target=loop.call_soon_threadsafe, args=(future.set_result, None)).start()
        await future
        await asyncio.sleep(0)
        assert loop.holds == 0
        at = loop.time()
        await asyncio.sleep(5)
        return at, loop.time()

    assert run_virtual(main()) == (0.0, 5.0)


def test_call_soon_threadsafe_wakes_an_idle_loop() -> None:
    async def main() -> tuple[str, float]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str] = loop.create_future()
        # Nothing is scheduled: the loop blocks on the real selector until the thread writes.
        threading.Timer(0.05, loop.call_soon_threadsafe, (future.set_result, "woken")).start()
        return await future, loop.time()

    assert run_virtual(main()) == ("woken", 0.0)


def test_a_deadlock_fails_instead_of_hanging() -> None:
    async def main() -> None:
        await asyncio.get_running_loop().create_future()  # nobody will ever set it

    with pytest.raises(VirtualDeadlock):
        run_virtual(main(), idle_limit=0.05)


def test_real_sockets_still_work() -> None:
    async def main() -> bytes:
        left, right = socket.socketpair()
        _, writer = await asyncio.open_connection(sock=left)
        peer_reader, peer_writer = await asyncio.open_connection(sock=right)
        writer.write(b"ping")
        await writer.drain()
        data = await asyncio.wait_for(peer_reader.readexactly(4), 10)
        for w in (writer, peer_writer):
            w.close()
            await w.wait_closed()
        return data

    assert run_virtual(main()) == b"ping"


def test_advance_moves_time_forward_only() -> None:
    loop = VirtualEventLoop(start=10.0)
    try:
        loop.advance(5)
        assert loop.time() == 15.0
        with pytest.raises(ValueError):
            loop.advance(-1)
    finally:
        loop.close()


@virtual_time(start=50.0)
async def test_decorated_test_runs_in_virtual_time() -> None:
    loop = asyncio.get_running_loop()
    assert isinstance(loop, VirtualEventLoop)
    await asyncio.sleep(3600)
    assert loop.time() == 3650.0


def test_timers_at_one_instant_run_in_arming_order_and_cancelled_ones_never() -> None:
    # 300 timers, most of them cancelled (asyncio purges the heap past half cancelled), the
    # rest at a handful of shared instants: they run by time, then in the order armed.
    async def main() -> list[tuple[float, int]]:
        loop = asyncio.get_running_loop()
        ran: list[tuple[float, int]] = []

        def record(i: int) -> None:
            ran.append((loop.time(), i))

        timers = [loop.call_at(1.0 + (i % 3), record, i) for i in range(300)]
        for i, timer in enumerate(timers):
            if i % 5:
                timer.cancel()
        await asyncio.sleep(0)  # one turn: the purge runs with the timers still pending
        await asyncio.sleep(5)
        return ran

    ran = run_virtual(main())
    kept = [i for i in range(300) if i % 5 == 0]
    assert ran == sorted(((1.0 + i % 3, i) for i in kept), key=lambda item: item[0])


def test_the_result_is_handed_back_without_being_formatted() -> None:
    # asyncio.Runner formats its main task (result included) on the way out; a simulation's
    # result is its whole trace, so run_virtual must not hand it over as the task's result.
    formatted: list[int] = []

    class Trace:
        def __repr__(self) -> str:
            formatted.append(1)
            return "Trace()"

    async def main() -> Trace:
        await asyncio.sleep(5)
        return Trace()

    assert isinstance(run_virtual(main()), Trace)
    assert formatted == []


def test_a_wake_up_byte_that_stops_a_jump_never_runs_a_timer_early() -> None:
    # A thread's wake-up byte on the self-pipe (`wrap_future` of a done concurrent future
    # writes one, too) and a timer 0.5 µs ahead, inside the loop's resolution: the turn that
    # reads the byte instead of jumping runs the timer at its time, not before it (a parallel
    # simulation's barrier relies on that). Twenty times: polls come every few turns.
    async def main() -> list[tuple[float, float]]:
        loop: Any = asyncio.get_running_loop()
        ran: list[tuple[float, float]] = []
        for _ in range(20):
            fired = loop.create_future()
            when = loop.time() + 5e-7
            loop._write_to_self()
            loop.call_at(
                when, lambda at=when, f=fired: (ran.append((loop.time(), at)), f.set_result(None))
            )
            await fired
            await asyncio.sleep(1)
        return ran

    ran = run_virtual(main())
    assert len(ran) == 20 and all(at == when for at, when in ran), ran


def test_no_barrier_while_outside_work_is_held() -> None:
    # An executor job in flight belongs to this side of the barrier: the loop waits for it
    # before it calls the barrier. (The barrier releases the job: called too early, it finds
    # the job still running; called in time, the job has given up waiting on its own.)
    release, finished = threading.Event(), threading.Event()
    seen: list[tuple[float, bool]] = []

    def job() -> str:
        release.wait(0.3)
        finished.set()
        return "done"

    def barrier(horizon: float, upcoming: float) -> float | None:
        seen.append((horizon, finished.is_set()))
        release.set()
        return None

    async def main() -> tuple[str, float]:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualEventLoop)
        loop.set_horizon(1.0, barrier)
        result = await loop.run_in_executor(None, job)
        at = loop.time()
        await asyncio.sleep(2)  # idle before the horizon: the barrier now
        return result, at

    assert run_virtual(main()) == ("done", 0.0)
    assert seen == [(1.0, True)]


def test_a_callback_that_raises_is_reported_and_the_loop_goes_on() -> None:
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        reported: list[str] = []

        def handler(_: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
            exc = context["exception"]
            assert isinstance(context["handle"], asyncio.Handle)
            reported.append(f"{context['message'].split(' ')[0]} {type(exc).__name__} {exc}")

        def fail(what: str) -> None:
            raise ValueError(what)

        loop.set_exception_handler(handler)
        loop.call_soon(fail, "soon")
        loop.call_later(1.0, fail, "later")
        await asyncio.sleep(2)
        return reported

    assert run_virtual(main()) == ["Exception ValueError soon", "Exception ValueError later"]


def test_callbacks_at_one_instant_keep_asyncios_turn_order() -> None:
    # A callback that schedules more at the same instant: the new ready callbacks run before
    # the timers that fall due at that instant, turn after turn, as in asyncio.
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        order: list[str] = []

        def step(n: int) -> None:
            order.append(f"soon{n}")
            if n < 40:  # more rounds than one turn runs
                loop.call_soon(step, n + 1)
                loop.call_at(loop.time(), order.append, f"timer{n}")

        loop.call_at(1.0, step, 0)
        await asyncio.sleep(2)
        return order

    # each turn: the ready callback (soon n+1), then the timer armed with it (timer n)
    expected = ["soon0", "soon1"]
    for n in range(1, 40):
        expected += [f"timer{n - 1}", f"soon{n + 1}"]
    assert run_virtual(main()) == [*expected, "timer39"]


def test_handles_are_asyncios() -> None:
    loop = VirtualEventLoop()
    try:
        context = contextvars.copy_context()
        soon = loop.call_soon(print, "x", context=context)
        timer = loop.call_at(5.0, print, "y")
        assert type(soon) is asyncio.Handle and type(timer) is asyncio.TimerHandle
        assert timer.when() == 5.0 and soon._context is context  # type: ignore[attr-defined]
        assert not soon.cancelled() and "print" in repr(soon) and "when=5.0" in repr(timer)
        timer.cancel()
        soon.cancel()
        assert timer.cancelled() and soon.cancelled()
    finally:
        loop.close()


def test_a_simulation_polls_the_real_selector_now_and_then() -> None:
    # Only the self-pipe registered: a thousand jumps cost a few dozen real polls; a registered
    # socket makes every turn poll again.
    async def main() -> tuple[int, int, str]:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualEventLoop)
        real = loop._virtual_selector._real  # type: ignore[attr-defined]
        polls = [0]
        select = real.select

        def counted(timeout: float | None = None) -> Any:
            polls[0] += 1
            return select(timeout)

        real.select = counted
        for _ in range(1000):
            await asyncio.sleep(0.01)
        alone = polls[0]
        left, right = socket.socketpair()
        try:
            loop.add_reader(left, lambda: None)
            polls[0] = 0
            for _ in range(100):
                await asyncio.sleep(0.01)
            watched = polls[0]
            loop.remove_reader(left)
        finally:
            left.close()
            right.close()
        # a thread's wake-up still lands while the loop is busy jumping
        woken: asyncio.Future[str] = loop.create_future()
        threading.Thread(target=loop.call_soon_threadsafe, args=(woken.set_result, "woken")).start()
        for _ in range(10_000_000):
            if woken.done():
                break
            await asyncio.sleep(0.01)
        return alone, watched, await woken

    alone, watched, woken = run_virtual(main())
    assert alone <= 1000 // 16 + 5 and watched >= 200 and woken == "woken"
