"""The virtual loop's horizon and barrier on their own (no nodes, no second process): time never
passes the horizon, a barrier's imports are never scheduled in the past."""

from __future__ import annotations

import asyncio
import multiprocessing
import pickle

import pytest

from hush.net.memory import MemoryNetwork
from hush.net.memory.plain import _EOF
from hush.net.memory.remote import Bridge
from hush.sim import parallel
from hush.sim.parallel import WorkerFailed
from hush.vclock import HorizonError, VirtualEventLoop, virtual_time


def _run(loop: VirtualEventLoop, main: asyncio.Future[None] | None = None) -> None:
    try:
        if main is not None:
            loop.run_until_complete(main)
    finally:
        loop.close()


def test_timers_run_before_the_horizon_and_the_barrier_sees_the_next_one() -> None:
    loop = VirtualEventLoop()
    ran: list[tuple[float, float, float | None]] = []  # (due, loop time, horizon then)
    barriers: list[tuple[float, float, float]] = []  # (horizon, next timer, loop time)

    def timer(due: float) -> None:
        ran.append((due, loop.time(), loop.horizon))

    def barrier(horizon: float, upcoming: float) -> float | None:
        barriers.append((horizon, upcoming, loop.time()))
        return horizon + 1.0 if horizon < 4.0 else None

    for due in (2.7, 0.5, 1.0, 1.5, 4.25, 6.0):
        loop.call_at(due, timer, due)
    loop.set_horizon(1.0, barrier)
    done = loop.create_future()
    loop.call_at(7.0, done.set_result, None)
    _run(loop, done)
    assert [(due, at) for due, at, _ in ran] == [(d, d) for d in (0.5, 1.0, 1.5, 2.7, 4.25, 6.0)]
    for due, _, horizon in ran:
        assert horizon is None or due < horizon  # a timer due at the horizon waits for it
    assert [(h, up) for h, up, _ in barriers] == [(1.0, 1.0), (2.0, 2.7), (3.0, 4.25), (4.0, 4.25)]
    assert all(at <= horizon for horizon, _, at in barriers)


def test_a_sleep_across_many_horizons_wakes_on_time_and_imports_land_at_theirs() -> None:
    loop = VirtualEventLoop()
    seen: list[tuple[str, float]] = []

    def barrier(horizon: float, upcoming: float) -> float | None:
        assert loop.time() <= horizon
        if horizon == 2.0:
            loop.call_at(horizon, lambda: seen.append(("import", loop.time())))
        # the standard jump: straight to the earliest event, plus the lookahead
        return min(upcoming, horizon) + 0.5 if horizon < 10 else None

    async def main() -> None:
        await asyncio.sleep(5.0)
        seen.append(("woke", loop.time()))

    loop.set_horizon(0.5, barrier)
    _run(loop, loop.create_task(main()))
    assert seen == [("import", 2.0), ("woke", 5.0)]


def test_a_barrier_that_schedules_in_the_past_is_an_error() -> None:
    loop = VirtualEventLoop()

    def barrier(horizon: float, upcoming: float) -> float | None:
        loop.call_at(horizon - 0.25, lambda: None)
        return horizon + 1.0

    loop.set_horizon(1.0, barrier)
    with pytest.raises(HorizonError, match=r"before the horizon 1\.0"):
        _run(loop, loop.create_task(asyncio.sleep(3.0)))


def test_a_barrier_may_not_run_callbacks_now_nor_move_the_horizon_back() -> None:
    loop = VirtualEventLoop()

    def now(horizon: float, upcoming: float) -> float | None:
        loop.call_soon(lambda: None)
        return horizon + 1.0

    loop.set_horizon(1.0, now)
    with pytest.raises(HorizonError, match="call_at"):
        _run(loop, loop.create_task(asyncio.sleep(3.0)))
    loop = VirtualEventLoop()
    loop.set_horizon(1.0, lambda horizon, upcoming: horizon)
    with pytest.raises(HorizonError, match="not after"):
        _run(loop, loop.create_task(asyncio.sleep(3.0)))


def test_advance_stops_at_the_horizon() -> None:
    loop = VirtualEventLoop()
    try:
        loop.set_horizon(1.0, lambda horizon, upcoming: None)
        loop.advance(1.0)
        with pytest.raises(HorizonError):
            loop.advance(0.5)
        with pytest.raises(ValueError, match="past"):
            loop.set_horizon(0.5, lambda horizon, upcoming: None)
    finally:
        loop.close()


@virtual_time()
async def test_a_bridge_refuses_an_import_before_its_horizon() -> None:
    loop = asyncio.get_running_loop()
    bridge = Bridge(MemoryNetwork(), loop, 0, 2, frozenset({"10.0.0.2"}), 0.02)
    assert bridge.holds("10.0.0.2") and not bridge.holds("10.0.0.1")
    bridge.receive([(1.0, 1, 0, (_EOF, 0))], {}, 1.0)  # at the horizon: fine (no such link)
    with pytest.raises(HorizonError, match="before the horizon"):
        bridge.receive([(0.99, 1, 1, (_EOF, 0))], {}, 1.0)
    with pytest.raises(ValueError, match="lookahead"):
        Bridge(MemoryNetwork(), loop, 0, 2, frozenset(), 0.0)


def test_a_failed_or_vanished_worker_is_a_clear_error() -> None:
    here, there = multiprocessing.Pipe(duplex=True)
    there.send_bytes(pickle.dumps(("error", "Traceback: boom")))
    with pytest.raises(WorkerFailed, match="the other worker failed:\nTraceback: boom"):
        parallel._receive(here)
    there.close()
    with pytest.raises(WorkerFailed, match="the other worker is gone"):
        parallel._receive(here)
    here.close()


def test_the_critical_path_takes_the_busier_worker_of_each_window() -> None:
    assert parallel.critical_path([[1.0, 3.0, 0.5], [2.0, 1.0, 0.5]]) == 5.5
    with pytest.raises(ValueError):
        parallel.critical_path([[1.0], [1.0, 2.0]])  # both cross every barrier
