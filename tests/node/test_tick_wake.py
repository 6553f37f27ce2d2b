"""geth's 300 ms tick without idle wake-ups (issue 9, "Scale and speed").

A ticking writer (`GETH_TICK`) sleeps until something is pending and then until the tick it
falls on (`hush.node.relay.next_tick`), instead of waking every 300 ms to find nothing. The turns
must fall on the same instants as a loop that wakes on every tick: the reference here is the same
write loop with its wake signal forced on (every tick a turn, as before), on the same seeded
network under the virtual clock; the traces must be identical, and the reference must wake many
times more.
"""

from __future__ import annotations

from typing import Any

import pytest

from hush.net.memory import LinkModel, LogNormal, MemoryNetwork
from hush.net.transport import PeerLink
from hush.node import GETH_TICK, session
from hush.node.live_peer import LivePeer
from hush.node.relay import next_tick
from hush.node.session import Sessions
from hush.testing import GossipRun, gossip
from hush.vclock import run_virtual


class _AlwaysSet:
    """A wake signal that is always on: the write loop then takes a turn on every tick."""

    def set(self) -> None:
        pass

    def clear(self) -> None:
        pass

    def is_set(self) -> bool:
        return True

    async def wait(self) -> bool:
        return True


def _run(monkeypatch: pytest.MonkeyPatch, *, ticking: bool) -> tuple[GossipRun, int]:
    sleeps = 0
    sleep_until = session._sleep_until

    async def counted(loop: Any, when: float) -> None:
        nonlocal sleeps
        sleeps += 1
        await sleep_until(loop, when)

    monkeypatch.setattr(session, "_sleep_until", counted)
    if ticking:
        open_session = Sessions.open

        def open_ticking(self: Sessions, connection: PeerLink, **kwargs: bool) -> LivePeer:
            peer = open_session(self, connection, **kwargs)
            peer.wake = _AlwaysSet()  # type: ignore[assignment]
            return peer

        monkeypatch.setattr(Sessions, "open", open_ticking)
    network = MemoryNetwork(seed=5, model=LinkModel(LogNormal(median=0.05, sigma=0.5)))
    run: GossipRun = run_virtual(
        gossip(
            nodes=12,
            degree=4,
            messages=8,
            seed=5,
            network=network,
            relay_policy=lambda: GETH_TICK,
            publish_over=20.0,  # ~2.5 s between posts: idle spells of several ticks
            run_for=25.0,
        )
    )
    monkeypatch.undo()
    return run, sleeps


def test_tick_boundary_wake_sends_when_a_ticking_loop_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ticking, ticking_sleeps = _run(monkeypatch, ticking=True)
    woken, woken_sleeps = _run(monkeypatch, ticking=False)
    assert len(woken.arrivals) == 12 * 8  # every envelope reached every pool
    assert woken.arrivals == ticking.arrivals  # same pools entered at the same virtual times
    assert woken.deliveries == ticking.deliveries
    assert woken.bytes_carried == ticking.bytes_carried  # same packets, same batches
    # 24 sessions ticking for ~25 virtual s wake ~2,000 times; the tick-boundary writer wakes
    # only for turns with something pending (8 envelopes, each crossing every session once).
    assert ticking_sleeps > 24 * 25 / 0.3 * 0.9
    assert woken_sleeps < ticking_sleeps / 5


@pytest.mark.parametrize(
    ("due", "now", "expected_ticks"),
    [(1.0, 0.5, 0), (1.0, 1.0, 0), (1.0, 1.0000001, 1), (1.0, 1.3, 1), (1.0, 1.31, 2)],
)
def test_next_tick_is_the_first_tick_at_or_after_now(
    due: float, now: float, expected_ticks: int
) -> None:
    expected = due
    for _ in range(expected_ticks):
        expected += 0.3
    assert next_tick(due, now, 0.3) == expected


def test_next_tick_adds_as_a_ticking_loop_does() -> None:
    due = 12.345678
    ticks = [due]
    for _ in range(200):
        ticks.append(ticks[-1] + 0.3)
    for k in range(1, 60):  # short idle spells: the very floats a ticking loop computes
        assert next_tick(due, ticks[k] - 0.1, 0.3) == ticks[k]
    for k in range(60, 200):  # long ones: within a few ulps, never before `now`
        now = ticks[k] - 0.1
        got = next_tick(due, now, 0.3)
        assert got >= now and got == pytest.approx(ticks[k], abs=1e-9)
