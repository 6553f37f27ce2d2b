"""50 real nodes in one process (issue 8, "Tests"): a random 6-regular graph over the in-memory
transport, under the virtual clock.

Every message reaches every matching filter exactly once and no other; the same seed gives the
same delivery trace (same order, same virtual times) and the same pool-arrival trace; minutes
of virtual time pass (asserted on virtual time: the wall time is in BENCHMARKS.md). Both relay
modes: push on arrival (hush's default `BroadcastPolicy`) and geth's fixed 300 ms tick.
Randomness is seeded per node (`hush.testing.seeded_random`: keys, padding, IVs, handshakes).
"""

from __future__ import annotations

from collections import Counter

import pytest

from hush.net.memory import LinkModel, LogNormal, MemoryNetwork
from hush.node import GETH_TICK
from hush.testing import GossipRun, gossip
from hush.vclock import run_virtual

NODES, DEGREE, MESSAGES = 50, 6, 30
MODEL = LinkModel(LogNormal(median=0.05, sigma=0.5), bandwidth=1_000_000)


def _run(seed: int, *, rlpx: bool = False, tick: bool = False, run_for: float) -> GossipRun:
    network = MemoryNetwork(seed=seed, model=MODEL, rlpx=rlpx)
    run: GossipRun = run_virtual(
        gossip(
            nodes=NODES,
            degree=DEGREE,
            messages=MESSAGES,
            seed=seed,
            network=network,
            relay_policy=(lambda: GETH_TICK) if tick else None,
            run_for=run_for,
        )
    )
    return run


def _check_exactly_once(run: GossipRun) -> None:
    assert len(run.edges) == NODES * DEGREE // 2
    assert len(run.published) == MESSAGES
    received = Counter((node, message) for _, node, message in run.deliveries)
    wanted = {(node, m) for m, nodes in run.expected.items() for node in nodes}
    assert wanted, "the workload has matching filters"
    assert set(received) == wanted  # every matching filter, and no other
    assert set(received.values()) == {1}  # exactly once
    # Each envelope entered every pool once: flooding reached all 50 nodes.
    arrivals = Counter((node, envelope) for _, node, envelope, _ in run.arrivals)
    assert len(arrivals) == NODES * MESSAGES and set(arrivals.values()) == {1}
    published_at = {m: at for at, _, m in run.published}
    assert all(at >= published_at[m] for at, _, m in run.deliveries)


def test_push_relay_50_nodes_exactly_once_and_replays() -> None:
    first = _run(1, run_for=300.0)
    _check_exactly_once(first)
    assert first.virtual_seconds == pytest.approx(300.0)  # five virtual minutes
    assert max(at for at, _, _ in first.deliveries) < first.virtual_seconds
    second = _run(1, run_for=300.0)
    assert second.deliveries == first.deliveries  # same order, same virtual times
    assert second.arrivals == first.arrivals
    assert second.published == first.published
    assert second.bytes_carried == first.bytes_carried


def test_geth_tick_relay_50_nodes_exactly_once() -> None:
    # geth's tick wakes every session every 300 ms whether or not there is anything to send,
    # so this one runs just past the publishing window (the push run above shows the replay).
    run = _run(2, tick=True, run_for=40.0)
    _check_exactly_once(run)
    assert run.virtual_seconds == pytest.approx(40.0)
    # Batching on the tick: a hop costs up to 300 ms more than the link's latency.
    published_at = {m: at for at, _, m in run.published}
    delays = sorted(at - published_at[m] for at, _, m in run.deliveries)
    assert delays[len(delays) // 2] > 0.15


def test_real_rlpx_50_nodes_exactly_once() -> None:
    run = _run(3, rlpx=True, run_for=40.0)
    _check_exactly_once(run)
    assert run.virtual_seconds == pytest.approx(40.0)
