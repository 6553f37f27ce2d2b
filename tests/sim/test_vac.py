"""Vac's v1-vs-v2 replica (simulation.md §4.1): the workload as Vac ran it, the models for the same
traffic (`flood_model`), and real nodes on a small full mesh inside the §4.4 flooding bounds."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import pytest

from hush.sim.models import flood_model
from hush.sim.results import checks, summarise
from hush.sim.runner import run_scenario
from hush.sim.scenario import WorkloadSpec, load_scenario
from hush.sim.workloads import plan

VAC = Path(__file__).parents[2] / "examples" / "sim" / "vac.toml"


def test_the_workload_is_vacs() -> None:
    spec = WorkloadSpec(kind="vac", rate=50.0, publish_over=2.0, publishers=10, topics=10)
    work = plan(spec, 30, frozenset(), random.Random(1))
    assert len(work.posts) == 100 and all(post.payload == 8 for post in work.posts)
    assert [post.at for post in work.posts] == [m / 50 for m in range(100)]
    assert [post.topic for post in work.posts[:12]] == [*range(10), 0, 1]  # round-robin
    publishers = [post.publisher for post in work.posts]
    assert len(set(publishers)) == 10 and publishers[:10] == publishers[10:20]  # distinct
    assert all(topics == tuple(range(10)) for topics in work.interests)  # full blooms


def test_flood_model_for_the_same_traffic() -> None:
    model = flood_model(10, 50.0, 300.0)
    assert list(model.values()) == pytest.approx([15_000, 30_000, 15_000 * 4.5, 15_000 * 8.1])


@pytest.mark.parametrize("relay", ["geth", "push"])
def test_real_nodes_on_a_full_mesh_inside_the_flooding_bounds(relay: str) -> None:
    base = load_scenario(VAC)
    scenario = dataclasses.replace(
        base,
        relay=relay,
        duration=3.0,
        topology=dataclasses.replace(base.topology, nodes=8),
        workload=dataclasses.replace(base.workload, publish_over=1.0),
    )
    trace = run_scenario(scenario)
    numbers = summarise(trace)
    vac = numbers["vac_v1"]
    assert numbers["delivery_ratio"] == 1.0 and numbers["posts"] == 50
    low, high = vac["duplicate_bounds"]
    assert (low, high) == (3.5, 6.125)
    assert low <= numbers["duplicate_factor"] <= high
    if relay == "geth":
        assert all(c.passed for c in checks(trace, numbers)), [
            c.line() for c in checks(trace, numbers)
        ]
    # Every copy a node receives is one another node sent: the mean in is the mean out.
    assert vac["in_per_node_per_s"] == pytest.approx(vac["out_per_node_per_s"], rel=0.01)
    model = vac["model_in_per_node_per_s"]
    assert model["§4.4 send delay (d/2)"] <= vac["in_per_node_per_s"]
    assert vac["in_per_node_per_s"] <= model["§4.4 immediate forward (d − 1 + 1/N)"]
    assert vac["in_per_node_per_s"] > 1.5 * model["case 6 duplicates (D = 2)"]
    assert 250 < vac["wire_bytes_per_copy"] < 400  # 8-byte payload padded to 256, AES-GCM
