"""One simulation on two processes (hush.sim.parallel): real nodes on both sides of a cut, the
merged trace checked against the same models the one-process run passes, replayed exactly."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path
from typing import Any

import pytest

from hush.cli.main import main
from hush.errors import UsageError
from hush.sim.partition import cut_edges, partition
from hush.sim.results import checks, summarise
from hush.sim.runner import run_scenario
from hush.sim.scenario import (
    ArchiveSpec,
    ChurnSpec,
    LinksSpec,
    Scenario,
    TopologySpec,
    WorkloadSpec,
    parse_scenario,
)
from hush.sim.topologies import regular

_EXAMPLES = Path(__file__).parents[2] / "examples" / "sim"
_GETH = Scenario(
    name="par",
    seed=4,
    duration=12.0,
    relay="geth",
    topology=TopologySpec(kind="regular", nodes=24, degree=6),
    links=LinksSpec(latency="uniform", low=0.02, high=0.12),
    workload=WorkloadSpec(kind="gossip", messages=16, topics=4, publish_over=6.0),
)


def _stable(numbers: dict[str, Any]) -> dict[str, Any]:
    """The run's numbers without the machine's (wall, CPU, memory)."""
    return {
        k: v
        for k, v in numbers.items()
        if k not in ("wall_seconds", "cpu_seconds", "peak_rss_mb", "scenario")
    }


def test_two_workers_deliver_everything_within_the_models_and_replay() -> None:
    single = run_scenario(_GETH)
    one = summarise(single)
    trace = run_scenario(dataclasses.replace(_GETH, workers=2))
    two = summarise(trace)
    assert trace.parallel is not None
    assert trace.parallel["edge_cut"] > 0 and min(trace.parallel["exported"]) > 0
    assert trace.parallel["barriers"][0] == trace.parallel["barriers"][1] > 0
    assert two["delivery_ratio"] == one["delivery_ratio"] == 1.0
    assert two["posts"] == one["posts"] == 16
    for found in (checks(single, one), checks(trace, two)):
        assert len(found) == 2 and all(c.passed for c in found), [c.line() for c in found]
    # Different link random streams, the same network: the same traffic per node within a few %.
    assert two["duplicate_factor"] == pytest.approx(one["duplicate_factor"], rel=0.1)
    assert two["bytes_in_per_node_per_day_mean"] == pytest.approx(
        one["bytes_in_per_node_per_day_mean"], rel=0.1
    )
    assert sum(two["bytes_in_per_node_by_code"][0].values()) > 0  # a tap of worker 0's
    assert all(sum(b.values()) > 0 for b in two["bytes_out_per_node_by_code"])
    assert len(trace.arrivals) == 24 and all(len(a) == 16 for a in trace.arrivals)
    assert {node for _, node, _ in trace.deliveries} >= set(range(24)) - {9, 19}
    again = run_scenario(dataclasses.replace(_GETH, workers=2))
    assert again.deliveries == trace.deliveries
    assert _stable(summarise(again)) == _stable(two)


def test_two_workers_run_a_fleet_with_light_nodes_and_push_relay() -> None:
    scenario = Scenario(
        seed=3,
        duration=8.0,
        workers=2,
        topology=TopologySpec(kind="fleet", nodes=4, light=4),
        links=LinksSpec(latency="constant", seconds=0.01, bandwidth=None),
        workload=WorkloadSpec(kind="quicksim", topics=100, messages=1500),
    )
    trace = run_scenario(scenario)
    numbers = summarise(trace)
    (fp,) = [c for c in checks(trace, numbers) if "bloom" in c.name]
    assert fp.passed, fp.line()
    assert numbers["delivery_ratio"] == 1.0  # every light node got all 100 of its topics
    assert trace.parallel is not None and trace.parallel["lookahead_s"] == 0.01


def test_breadth_first_halves_cut_fewer_edges_than_random_halves() -> None:
    topology = regular(200, 8, random.Random(1))
    parts = partition(topology, 2)
    assert sorted(len(p) for p in parts) == [100, 100] and 0 in parts[0]
    assert parts[0] | parts[1] == frozenset(range(200))
    nodes = list(range(200))
    random.Random(2).shuffle(nodes)
    shuffled = [frozenset(nodes[:100]), frozenset(nodes[100:])]
    assert cut_edges(topology, parts) < cut_edges(topology, shuffled)


def test_the_halves_are_refined_to_a_swap_local_optimum() -> None:
    topology = regular(200, 8, random.Random(3))
    parts = partition(topology, 2)
    assert parts == partition(topology, 2)  # deterministic
    assert sorted(len(p) for p in parts) == [100, 100] and 0 in parts[0]
    neighbours = topology.neighbours()

    def gain(v: int, own: frozenset[int]) -> int:  # cut edges removed by moving v alone
        return sum(-1 if o in own else 1 for o in neighbours[v])

    first, second = parts
    best = max(
        gain(a, first) + gain(b, second) - 2 * (b in neighbours[a]) for a in first for b in second
    )
    assert best <= 0  # no single swap lowers the cut any more
    # breadth-first halves alone cut ~40 % of a random 8-regular graph's edges, random ones 50 %
    assert cut_edges(topology, parts) < 0.33 * len(topology.edges)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"churn": ChurnSpec(fraction=0.2)}, "churn"),
        ({"archive": ArchiveSpec(servers=1)}, "archive servers"),
        ({"rlpx": True}, "RLPx"),
        ({"links": LinksSpec(latency="lognormal")}, "positive minimum link latency"),
        ({"links": LinksSpec(latency="constant", seconds=0.0)}, "positive minimum link latency"),
        ({"links": LinksSpec(latency="uniform", low=0.0)}, "positive minimum link latency"),
    ],
)
def test_parallel_runs_refuse_what_needs_one_process(change: dict[str, Any], named: str) -> None:
    with pytest.raises(UsageError, match=f"invalid workers 2: .*{named}"):
        dataclasses.replace(_GETH, workers=2, **change)
    dataclasses.replace(_GETH, **change)  # one process runs it


def test_workers_from_toml_and_its_bounds() -> None:
    assert parse_scenario("workers = 2\n[links]\nlatency = 'constant'\n").workers == 2
    assert parse_scenario("").workers == 1
    with pytest.raises(UsageError, match="workers"):
        parse_scenario("workers = 3\n[links]\nlatency = 'constant'\n")


def test_sim_run_with_two_workers_through_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["sim", "run", str(_EXAMPLES / "quick.toml"), "--out", str(tmp_path), "--no-plots"]
    assert main([*argv, "--workers", "2"], standalone_mode=False) == 0
    out = capsys.readouterr().out
    assert "2 workers: nodes [10, 10]" in out and "delivery 1.0000 of" in out
    assert "FAIL" not in out
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["scenario"]["workers"] == 2 and results["delivery_ratio"] == 1.0
    churn = ["sim", "run", str(_EXAMPLES / "churn.toml"), "--workers", "2"]
    assert main(churn, standalone_mode=False) == 1
    err = capsys.readouterr().err
    assert err.startswith("hush: error: invalid workers 2: a parallel run does not support churn")
    assert err.count("\n") == 1
