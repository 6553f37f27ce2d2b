"""A churning node that goes offline again while its archive fetch runs (hush.sim.catchup
`Archives.gone`): the fetch stops at that instant, is recorded as interrupted, and the next
fetch, when the node is back, asks again from the offline instant of the first fetch that did
not complete.

Slow fetches and short online spells: 1 kB/s links (a page of a few envelopes takes seconds),
online Exp(6 s), a 20 s overlap (a post's `sent` can be seconds before it reaches the server).
With the fetch left running (before `gone`), this run's fetches hand envelopes to nodes that
are offline: the first loop below fails. Everything is read from the run's own records under virtual time — when each
fetch last handed an envelope to the node, when it finished or was cancelled, when the node
went offline (the churn log) — never from a sleep.
"""

from __future__ import annotations

import itertools
from collections import defaultdict

from hush.sim.catchup import CatchUp
from hush.sim.results import summarise
from hush.sim.runner import RunTrace, run_scenario
from hush.sim.scenario import (
    ArchiveSpec,
    ChurnSpec,
    LinksSpec,
    Scenario,
    TopologySpec,
    WorkloadSpec,
)


def _slow_fetches() -> Scenario:
    return Scenario(
        name="churn-slow-fetch",
        seed=4,
        duration=50.0,
        relay="push",
        topology=TopologySpec(kind="regular", nodes=12, degree=4),
        links=LinksSpec(latency="uniform", low=0.02, high=0.12, bandwidth=1000),
        workload=WorkloadSpec(kind="gossip", messages=30, topics=2, publish_over=35.0, ttl=10),
        churn=ChurnSpec(0.4, online=6.0, offline=10.0, catch_up=True),
        archive=ArchiveSpec(servers=1, mode="direct", overlap=20),
    )


def _next_offline(trace: RunTrace, record: CatchUp) -> float | None:
    """When the record's node went offline after it came back for this fetch (None: never)."""
    return min(
        (
            at
            for at, node, up in trace.churn
            if node == record.node and not up and at > record.back_at
        ),
        default=None,
    )


def test_a_fetch_stops_when_its_node_goes_offline_and_is_retried_from_the_same_instant() -> None:
    trace = run_scenario(_slow_fetches())
    records = trace.catch_ups
    for r in records:
        offline = _next_offline(trace, r)
        if offline is None:
            continue
        # Nothing reaches the node's filters from history once it is offline, and no fetch
        # finishes after: one in flight then was cancelled at that very instant.
        assert r.last_delivery_at is None or r.last_delivery_at <= offline, r
        assert r.done_at is None or r.done_at <= offline, r
        assert r.interrupted_at == (offline if r.done_at is None else None), r
    interrupted = [r for r in records if r.interrupted_at is not None]
    assert len(interrupted) >= 2  # the scenario does what it is for: fetches outlast spells

    by_node: dict[int, list[CatchUp]] = defaultdict(list)
    for r in records:
        by_node[r.node].append(r)
    for mine in by_node.values():
        assert mine[0].since == mine[0].offline_at
        for before, after in itertools.pairwise(mine):
            completed = before.done_at is not None and before.error is None
            assert after.since == (after.offline_at if completed else before.since), after
    retries = [r for r in records if r.since < r.offline_at]
    assert any(r.done_at is not None and r.error is None for r in retries)

    caught = summarise(trace)["catch_up"]
    assert caught["interrupted"] == len(interrupted) and caught["retries"] == len(retries)
    assert not caught["errors"]
    assert caught["held_pairs_fetched"] > 0
    assert caught["held_pairs_fetched_delivered_ratio"] == 1.0
