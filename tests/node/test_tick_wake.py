"""geth's 300 ms tick without idle wake-ups (issue 9, "Scale and speed").

A ticking writer (`GETH_TICK`) sleeps until something is pending and then until the tick it
falls on (`hush.node.relay.next_tick`), instead of waking every 300 ms to find nothing. The turns
must fall on the same instants as a loop that wakes on every tick: the reference here is the same
write loop with its wake signal forced on (every tick a turn, as before), on the same seeded
network under the virtual clock; the traces must be identical, and the reference must wake many
times more.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hush.crypto.symmetric import SymmetricKey
from hush.net.memory import Constant, LinkModel, LogNormal, MemoryNetwork
from hush.net.transport import PeerLink
from hush.node import GETH_TICK, session
from hush.node.hooks import NodeObserver
from hush.node.live_peer import LivePeer
from hush.node.relay import next_tick
from hush.node.session import Sessions
from hush.shh.pool import AddStatus
from hush.testing import GossipRun, gossip
from hush.types import NodeID, Topic
from hush.vclock import run_virtual, virtual_time

from .pair import node_pair

KEY = SymmetricKey(bytes(range(1, 33)))
TOPIC = Topic(b"tick")
LATENCY = 0.04


class _AlwaysPending(LivePeer):
    """A peer whose write loop always finds something pending: it takes a turn on every tick."""

    __slots__ = ()

    @property
    def pending(self) -> bool:
        return True

    @pending.setter
    def pending(self, value: bool) -> None:
        pass


def _run(monkeypatch: pytest.MonkeyPatch, *, ticking: bool) -> tuple[GossipRun, int]:
    wakes = 0  # tick timers that fired: the write loops' turns (and idle turns) on the tick
    wake = session._wake

    def counted(future: Any) -> None:
        nonlocal wakes
        wakes += 1
        wake(future)

    monkeypatch.setattr(session, "_wake", counted)
    if ticking:
        open_session = Sessions.open

        def open_ticking(self: Sessions, connection: PeerLink, **kwargs: bool) -> LivePeer:
            peer = open_session(self, connection, **kwargs)
            return _AlwaysPending(peer.connection, peer.shh, peer.static)

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
    return run, wakes


def test_tick_boundary_wake_sends_when_a_ticking_loop_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ticking, ticking_wakes = _run(monkeypatch, ticking=True)
    woken, woken_wakes = _run(monkeypatch, ticking=False)
    assert len(woken.arrivals) == 12 * 8  # every envelope reached every pool
    assert woken.arrivals == ticking.arrivals  # same pools entered at the same virtual times
    assert woken.deliveries == ticking.deliveries
    assert woken.bytes_carried == ticking.bytes_carried  # same packets, same batches
    # 24 sessions ticking for ~25 virtual s wake ~2,000 times; the tick-boundary writer wakes
    # only for turns with something pending (8 envelopes, each crossing every session once).
    assert ticking_wakes > 24 * 25 / 0.3 * 0.9
    assert woken_wakes < ticking_wakes / 5


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


class _Times(NodeObserver):
    """Virtual times of a node's `messages` packets sent and of its first arrivals (the offer
    to its peers follows in the same call)."""

    def __init__(self) -> None:
        self.sent: list[float] = []
        self.pooled: list[float] = []

    def bundle_sent(self, node_id: NodeID, envelopes: int) -> None:
        self.sent.append(asyncio.get_running_loop().time())

    def envelope_accepted(self, *args: Any) -> None:
        self.pooled.append(asyncio.get_running_loop().time())


@virtual_time()
async def test_an_offer_to_a_parked_writer_sends_on_the_tick_it_falls_on() -> None:
    """The offer arms the parked writer's tick (`next_tick` of its phase and the offer's time)
    and the packet goes at that very instant: after idle spells of 0 to 20 ticks, offered just
    after a tick, mid-tick and just before one."""
    loop = asyncio.get_running_loop()
    times = [_Times(), _Times()]
    async with node_pair(
        model=LinkModel(Constant(LATENCY)),
        relay_policy=lambda: GETH_TICK,
        observers=lambda index: (times[index],),
    ) as (cluster, a, b):
        watch = cluster.watch(b)
        sent, pooled = times[0].sent, times[0].pooled
        tick = None
        for gap in (0.0, 6.0, 0.01, 0.15, 0.29, 1.234, 0.3):
            await asyncio.sleep(gap)  # a's writer has nothing pending: it is parked
            envelope = cluster.message(a, f"after {gap}".encode(), TOPIC, KEY)
            assert await a.inject(envelope) is AddStatus.ACCEPTED
            offered = pooled[-1]
            await watch.wait(lambda: b.envelope(envelope.hash) is not None)  # noqa: B023
            if tick is not None:  # the first post falls on the phase the session began with
                assert sent[-1] == next_tick(tick + GETH_TICK.interval, offered, 0.3)
            assert offered <= sent[-1] < offered + GETH_TICK.interval + 1e-9
            assert loop.time() == pytest.approx(sent[-1] + LATENCY, abs=1e-9)
            tick = sent[-1]
        assert len(sent) == 7  # one packet a post: b's writer sends nothing back (a knows them)
        assert times[1].sent == []
