"""The darkness harness (simulation.md §6): the simulator's own correctness test, synchronous
flooding's first-spy detection = 1 − (1−p)^d exactly (the source is caught iff it has a spy
neighbour); geth's tick lies between the p floor and the sync value; the policy registry; the
one-hop stem's timing (stem hop, echo, embargo, push or tick after release), its copies, the
stem-aware estimator and the intersection attack (§5.4) at small N."""

from __future__ import annotations

import random
import statistics

import numpy as np
import pytest

from hush.errors import UsageError
from hush.sim.darkness import (
    DarknessConfig,
    run_darkness,
    stem_aware,
    stem_candidates,
    sync_detect,
)
from hush.sim.intersection import IntersectionConfig, run_intersection
from hush.sim.spread import (
    POLICIES,
    Graph,
    Post,
    StemSpread,
    copies_received,
    policy_named,
    propagate,
    register_policy,
    stem_embargo,
)
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


def _stem_spread(policy: str = "stem", nodes: int = 40, seed: int = 2) -> tuple[Graph, StemSpread]:
    rng = random.Random(seed)
    graph = Graph.build(nodes, regular(nodes, 4, rng).edges, rng)
    spread = policy_named(policy).spread(graph, rng)
    assert isinstance(spread, StemSpread)
    return graph, spread


def _index(graph: Graph, u: int, v: int) -> int:
    return graph.neighbours[u].index(v)


def test_stem_hop_goes_at_once_to_the_stem_peer_alone() -> None:
    graph, spread = _stem_spread()
    for source in range(graph.nodes):
        run = propagate(spread, graph.nodes, source)
        k = spread.stems[source]
        stem = graph.neighbours[source][k]
        assert run.senders[stem] == source
        assert run.times[stem] == graph.latency[source][k]  # no tick: sent at once
        # Nobody else hears from the source before its release.
        for v, t in enumerate(run.times):
            if run.senders[v] == source and v != stem:
                assert t >= run.released
        assert 0 < run.released <= spread.embargoes[source]


def test_stem_releases_on_the_first_echo_then_pushes() -> None:
    graph, spread = _stem_spread()
    source = 7
    spread = spread.with_stem(source, spread.stems[source], 60.0)  # the echo, not the embargo
    run = propagate(spread, graph.nodes, source)
    stem = spread.stem_peer(source)
    # The first copy back: each neighbour but the stem peer sends on its tick of the link.
    echo = min(
        spread.departure(v, _index(graph, v, source), run.times[v])
        + graph.latency[v][_index(graph, v, source)]
        for v in graph.neighbours[source]
        if v != stem
    )
    assert run.released == pytest.approx(echo)
    pushed = [v for v in graph.neighbours[source] if run.senders[v] == source and v != stem]
    assert pushed  # the source relays its own post after the echo (plausible deniability)
    for v in pushed:  # push: at once, the link's latency only
        k = _index(graph, source, v)
        assert run.times[v] == pytest.approx(run.released + graph.latency[source][k])


def test_stem_embargo_releases_without_an_echo_and_lite_floods_on_ticks() -> None:
    graph, spread = _stem_spread("lite")
    source = 3
    spread = spread.with_stem(source, spread.stems[source], 0.001)  # before any echo
    run = propagate(spread, graph.nodes, source)
    assert run.released == 0.001
    for v in graph.neighbours[source]:
        if run.senders[v] == source and v != spread.stem_peer(source):
            k = _index(graph, source, v)
            leaves = spread.source_departure(source, k, run.released)
            assert run.released <= leaves < run.released + 0.3  # on the link's geth tick
            assert run.times[v] == pytest.approx(leaves + graph.latency[source][k])


def test_stem_embargo_is_the_nodes_draw() -> None:
    draws = [stem_embargo(random.Random(i)) for i in range(2000)]
    assert min(draws) >= 1.0 and max(draws) <= 20.0  # half the 2 s mean fixed, cut at 10×
    assert statistics.fmean(draws) == pytest.approx(2.0, abs=0.1)


def test_stem_sends_no_extra_envelopes() -> None:
    """Copies received per envelope under known-peer suppression: the stem hop is a copy the
    flood would have sent anyway, and after the release the source skips its stem peer and
    whoever echoed it."""
    rng = random.Random(4)
    graph = Graph.build(60, regular(60, 6, rng).edges, rng)
    geth = policy_named("geth").spread(graph, rng)
    stem = policy_named("stem").spread(graph, rng)
    counts = {}
    for name, spread in (("geth", geth), ("stem", stem)):
        totals = []
        for source in range(60):
            copies = copies_received(spread, graph, propagate(spread, 60, source))
            assert copies is not None
            totals.append(sum(copies))
        counts[name] = statistics.fmean(totals)
    assert counts["stem"] <= counts["geth"] * 1.02
    assert counts["geth"] / 60 > 3  # known-peer suppression leaves ≈ 0.65·d copies per node


def test_stem_is_darker_than_geth_and_the_stem_aware_estimator_reports() -> None:
    geth = run_darkness(DarknessConfig(nodes=200, seeds=2, spies=(0.1,), sources=150, seed=3))
    stem = run_darkness(
        DarknessConfig(nodes=200, seeds=2, spies=(0.1,), sources=150, seed=3, policy="stem")
    )
    result = stem.results[0]
    assert result.first_spy.mean < geth.results[0].first_spy.mean - 0.1
    assert 0.05 <= result.stem_aware.mean <= result.stem_formula + 0.05
    assert 0 <= result.precision_stem_aware.mean <= result.stem_aware.mean
    assert result.copies_per_node.mean == pytest.approx(
        geth.results[0].copies_per_node.mean, rel=0.03
    )


def test_stem_candidates_tell_a_stem_copy_from_a_flood() -> None:
    # A star around node 0: its neighbours 1..4, of which 3 and 4 are spies.
    neighbours = ((1, 2, 3, 4), (0,), (0,), (0,), (0,))
    spies = np.array([False, False, False, True, True])
    times = np.array([0.0, 0.1, 0.1, 0.05, 0.9])
    senders = np.array([-1, 0, 0, 0, 0])
    # Spy 3 got it from 0, and spy 4 only long after: a stem copy, 0 is named.
    assert stem_candidates(neighbours, spies, times, senders, 3, 0.4) == ([0], True)
    # Spy 4 got it from 0 within the window too: 0 flooded, so the source is its honest
    # neighbour (1 or 2).
    times[4] = 0.2
    assert stem_candidates(neighbours, spies, times, senders, 3, 0.4) == ([1, 2], False)
    guesses, sizes = stem_aware(
        neighbours, spies, times[None, :], senders[None, :], np.array([3]), random.Random(1), 0.4
    )
    assert guesses[0] in (1, 2) and sizes[0] == 2


def test_intersection_names_a_user_whose_stem_peer_rotates() -> None:
    base = {"nodes": 100, "degree": 8, "p": 0.1, "seeds": 2, "users": 10, "interval": 1800.0}
    day = run_intersection(IntersectionConfig(**base))  # type: ignore[arg-type]
    rotated = run_intersection(IntersectionConfig(**base, epoch=1800.0))  # type: ignore[arg-type]
    assert day.posts == rotated.posts == 48
    # A day-long stem peer: identified about as often as the stem peer is a spy, no more.
    for verdict in day.verdicts.values():
        assert verdict.identified.mean <= day.stem_peer_spy.mean + 0.15
    # A stem peer per post: the neighbourhoods intersect in the user.
    ball = rotated.verdicts["ball"]
    assert ball.identified.mean >= day.verdicts["ball"].identified.mean + 0.3
    assert ball.posts_to_unique < 48


def test_bad_intersection_config() -> None:
    with pytest.raises(UsageError, match="no spy at all"):
        IntersectionConfig(nodes=5, degree=4, p=0.1)


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
