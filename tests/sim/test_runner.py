"""Real-node runs (hush.sim.runner) at small N, checked against the §4.3/§4.4 models; the
propagation engine's geth per-hop timing checked against real nodes on geth's tick."""

from __future__ import annotations

import asyncio
import gc
import random
import statistics

from hush.sim.results import checks, summarise
from hush.sim.runner import collect_periodically, collector_for_simulation, run_scenario
from hush.sim.scenario import (
    ChurnSpec,
    LinksSpec,
    Scenario,
    SkewSpec,
    TopologySpec,
    WorkloadSpec,
)
from hush.sim.spread import Graph, copies_received, policy_named, propagate
from hush.sim.topologies import regular
from hush.vclock import run_virtual


def _scenario(**options: object) -> Scenario:
    return Scenario(**options)  # type: ignore[arg-type]


def test_geth_regular_graph_meets_duplicate_and_latency_bounds_and_replays() -> None:
    scenario = _scenario(
        name="t",
        seed=2,
        duration=20.0,
        relay="geth",
        topology=TopologySpec(kind="regular", nodes=16, degree=4),
        links=LinksSpec(latency="uniform", low=0.02, high=0.12),
        workload=WorkloadSpec(kind="gossip", messages=12, topics=3, publish_over=5.0),
    )
    trace = run_scenario(scenario)
    numbers = summarise(trace)
    found = {c.name.split(" (")[0]: c for c in checks(trace, numbers)}
    assert numbers["delivery_ratio"] == 1.0
    assert found["geth duplicate factor"].passed, found["geth duplicate factor"].line()
    assert found["deliveries inside k·[lat_min, lat_max + tick + tx]"].passed
    again = run_scenario(scenario)
    assert again.deliveries == trace.deliveries


def test_geth_full_mesh_duplicates_within_bounds() -> None:
    scenario = _scenario(
        seed=3,
        duration=8.0,
        relay="geth",
        topology=TopologySpec(kind="full-mesh", nodes=8),
        links=LinksSpec(latency="constant", seconds=0.005, bandwidth=None),
        workload=WorkloadSpec(kind="vac", rate=20.0, publish_over=5.0, publishers=4, topics=4),
    )
    trace = run_scenario(scenario)
    numbers = summarise(trace)
    (dup,) = [c for c in checks(trace, numbers) if "duplicate" in c.name]
    assert (dup.low, dup.high) == (3.5, 6.125) and dup.passed, dup.line()
    assert numbers["delivery_ratio"] == 1.0


def test_quicksim_light_bloom_false_positives_near_model() -> None:
    scenario = _scenario(
        seed=3,
        duration=8.0,
        topology=TopologySpec(kind="fleet", nodes=3, light=2),
        links=LinksSpec(latency="constant", seconds=0.01, bandwidth=None),
        workload=WorkloadSpec(kind="quicksim", topics=100, messages=3000),
    )
    trace = run_scenario(scenario)
    numbers = summarise(trace)
    (fp,) = [c for c in checks(trace, numbers) if "bloom" in c.name]
    assert fp.passed, fp.line()
    assert numbers["delivery_ratio"] == 1.0  # every light node got all 100 of its topics


def test_real_geth_tick_hop_wait_is_uniform_over_the_tick() -> None:
    # The darkness engine models a geth hop as U(0, 300 ms) wait + link latency: so do real nodes.
    scenario = _scenario(
        seed=4,
        duration=10.0,
        relay="geth",
        topology=TopologySpec(kind="regular", nodes=20, degree=4),
        links=LinksSpec(latency="constant", seconds=0.05, bandwidth=None),
        workload=WorkloadSpec(kind="gossip", messages=20, topics=2, publish_over=5.0),
    )
    trace = run_scenario(scenario)
    waits = []
    for arrivals in trace.arrivals:
        for envelope, (at, sender, _) in arrivals.items():
            if sender is not None:
                waits.append(at - trace.arrivals[sender][envelope][0] - 0.05)
    assert len(waits) == 20 * 19
    assert min(waits) >= -1e-6 and max(waits) <= 0.3 + 1e-6
    # First arrivals favour short waits, in the engine as in real nodes: compare the two.
    rng = random.Random(4)
    model = []
    for _seed in range(5):
        graph = Graph.build(20, regular(20, 4, rng).edges, rng, (0.05, 0.05))
        spread = policy_named("geth").spread(graph, rng)
        for source in range(20):
            run = propagate(spread, 20, source)
            model += [
                run.times[v] - run.times[u] - 0.05 for v, u in enumerate(run.senders) if u >= 0
            ]
    assert abs(statistics.fmean(waits) - statistics.fmean(model)) < 0.03
    # The engine's known-peer suppression model of duplicates, against the real nodes' count.
    engine_copies = []
    for _seed in range(5):
        graph = Graph.build(20, regular(20, 4, rng).edges, rng, (0.05, 0.05))
        spread = policy_named("geth").spread(graph, rng)
        for source in range(20):
            copies = copies_received(spread, graph, propagate(spread, 20, source))
            assert copies is not None
            engine_copies.append(sum(copies) / 20)
    real = summarise(trace)["duplicate_factor"]
    assert 2 <= statistics.fmean(engine_copies) <= 3 and 2 <= real <= 3
    assert abs(real - statistics.fmean(engine_copies)) / real < 0.15


def test_clock_skew_and_churn_cost_deliveries() -> None:
    base = {
        "seed": 5,
        "duration": 60.0,
        "topology": TopologySpec(kind="regular", nodes=12, degree=4),
        "workload": WorkloadSpec(kind="gossip", messages=20, topics=2, publish_over=40.0, ttl=30),
    }
    steady = summarise(run_scenario(_scenario(**base)))
    assert steady["delivery_ratio"] == 1.0 and steady["churn_events"] == 0
    # ±30 s clocks: envelopes from nodes ahead look more than 10 s in the future to nodes
    # behind (geth's tolerance), which drop them.
    skewed = summarise(run_scenario(_scenario(**base, skew=SkewSpec(30.0))))
    assert skewed["clock_skew_s_max"] > 20 and skewed["delivery_ratio"] < 1.0
    churned = run_scenario(_scenario(**base, churn=ChurnSpec(0.5, online=5.0, offline=40.0)))
    numbers = summarise(churned)
    assert numbers["churn_events"] >= 6  # offline longer than the TTL: missed for good
    downs = [event for event in churned.churn if not event[2]]
    assert downs and numbers["delivery_ratio_churning_nodes"] < 1.0


def test_collector_is_off_for_a_run_and_restored_after() -> None:
    assert gc.isenabled()
    with collector_for_simulation():
        assert not gc.isenabled()
    assert gc.isenabled()
    with collector_for_simulation():
        made = [[i] for i in range(10_000)]
    # what the run made is old now: no young collection walks it (it was never scanned)
    young = {id(obj) for obj in gc.get_objects(generation=0)}
    assert not any(id(obj) in young for obj in made)
    assert any(obj is made for obj in gc.get_objects(generation=2))
    gc.disable()  # a process that had it off keeps it off
    try:
        with collector_for_simulation():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_full_collection_comes_at_every_period_of_virtual_time() -> None:
    seen: list[tuple[float, int]] = []

    def told(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            seen.append((asyncio.get_running_loop().time(), info["generation"]))

    async def main() -> None:
        task = asyncio.create_task(collect_periodically(300.0))
        await asyncio.sleep(1000.0)
        task.cancel()

    gc.callbacks.append(told)
    try:
        with collector_for_simulation():
            run_virtual(main())
    finally:
        gc.callbacks.remove(told)
    assert seen == [(300.0, 2), (600.0, 2), (900.0, 2)]
