"""The darkness harness (simulation.md §6): the simulator's own correctness test, synchronous
flooding's first-spy detection = 1 − (1−p)^d exactly (the source is caught iff it has a spy
neighbour); geth's tick lies between the p floor and the sync value; the policy registry."""

from __future__ import annotations

import random

import pytest

from hush.errors import UsageError
from hush.sim.darkness import DarknessConfig, run_darkness, sync_detect
from hush.sim.spread import POLICIES, Graph, Post, policy_named, propagate, register_policy
from hush.sim.topologies import regular


def test_sync_flooding_first_spy_matches_formula() -> None:
    # 6 graphs × 250 nodes: 1350 messages at p = 0.1, 1200 at p = 0.2 (binomial s.e. ≈ 0.013).
    report = run_darkness(DarknessConfig(nodes=250, degree=8, seeds=6, policy="sync", seed=11))
    for result in report.results:
        assert result.first_spy.mean == pytest.approx(sync_detect(result.p, 8), abs=0.02)
        assert result.reach_p50_s.mean == 3.0  # unit hops: 250 nodes are 3 hops away
    assert [r.p for r in report.results] == [0.1, 0.2]


def test_geth_tick_between_floor_and_sync_and_reach_under_a_second() -> None:
    report = run_darkness(DarknessConfig(nodes=200, degree=8, seeds=3, sources=100, seed=5))
    for result in report.results:
        assert result.p < result.first_spy.mean < sync_detect(result.p, 8)
        assert 0.3 < result.reach_p50_s.mean < result.reach_p95_s.mean < 1.0
        assert 0 <= result.precision_first_spy.mean <= result.first_spy.mean


def test_geth_hop_waits_for_the_links_phase() -> None:
    rng = random.Random(1)
    topology = regular(30, 4, rng)
    graph = Graph.build(30, topology.edges, rng, (0.05, 0.05))
    spread = policy_named("geth").spread(graph, rng)
    run = propagate(spread, 30, 0)
    waits = [run.times[v] - run.times[u] - 0.05 for v, u in enumerate(run.senders) if u >= 0]
    assert len(waits) == 29 and all(-1e-9 <= w <= 0.3 + 1e-9 for w in waits)


class _Silent:
    """A policy whose source never sends: nobody but the source is reached."""

    name = "silent-test"
    description = "test policy"

    def spread(self, graph: Graph, rng: random.Random) -> _SilentSpread:
        return _SilentSpread()


class _SilentSpread:
    beta = 1.0

    def post(self, source: int) -> Post:
        return Post((), flood_on_echo=True)

    def relay(self, node: int, held_at: float, sender: int | None) -> list[tuple[float, int]]:
        return []


def test_policies_plug_in_by_name() -> None:
    register_policy(_Silent())
    try:
        run = propagate(policy_named("silent-test").spread(Graph((), ()), random.Random()), 3, 1)
        assert run.times[1] == 0 and run.times[0] == run.times[2] == float("inf")
    finally:
        del POLICIES["silent-test"]
    with pytest.raises(UsageError, match="unknown relay policy"):
        policy_named("silent-test")


def test_lite_stem_is_darker_than_geth() -> None:
    geth = run_darkness(DarknessConfig(nodes=200, seeds=2, spies=(0.1,), sources=150, seed=3))
    lite = run_darkness(
        DarknessConfig(nodes=200, seeds=2, spies=(0.1,), sources=150, seed=3, policy="lite")
    )
    assert lite.results[0].first_spy.mean < geth.results[0].first_spy.mean - 0.1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"nodes": 2}, "invalid nodes"),
        ({"spies": (0.001,), "nodes": 100}, "no spy at all"),
        ({"policy": "nope"}, "unknown relay policy"),
        ({"nodes": 11, "degree": 3, "seeds": 1}, "no 3-regular graph"),
    ],
)
def test_bad_darkness_config(options: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        run_darkness(DarknessConfig(**options))  # type: ignore[arg-type]
