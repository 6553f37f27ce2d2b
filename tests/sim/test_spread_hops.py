"""The multi-hop stem in the darkness engine (`hush.sim.spread_hops`): routes per inbound edge,
stable within the epoch; node-level fluff with probability q; black holes never lose a message
(the fail-safe fluffs); partial deployment falls back to the one-hop stem; `spread.propagate`
replays the engine exactly; the darkness hook and `--black-holes` flag."""

from __future__ import annotations

import json
import math
import random
from collections import defaultdict

import pytest

from hush.cli.main import main
from hush.errors import UsageError
from hush.node.stem_hops import HopsConfig
from hush.shh.message import DEFAULT_TTL
from hush.sim.darkness import DarknessConfig, run_darkness
from hush.sim.spread import POLICIES, Graph, policy_named, propagate
from hush.sim.spread_hops import HopsSpread
from hush.sim.topologies import regular


def _spread(policy: str, nodes: int, degree: int, seed: int) -> HopsSpread:
    rng = random.Random(seed)
    graph = Graph.build(nodes, regular(nodes, degree, rng).edges, rng)
    spread = policy_named(policy).spread(graph, rng)
    assert isinstance(spread, HopsSpread)
    return spread


def test_the_policies_are_registered_with_the_nodes_parameters() -> None:
    assert {"hops", "hops-tick", "hops25", "hops50"} <= set(POLICIES)
    spread = _spread("hops", 40, 4, 1)
    real = HopsConfig()
    assert spread.fail_safe == real.fail_safe and spread.source_embargo == real.source_embargo
    assert spread.source_floor == real.source_floor
    assert spread.one_hop_embargo is None  # the one-hop fallback draws the node's own embargo
    assert spread.posters is None and all(spread.hush) and not any(spread.tick)


def test_routes_are_per_inbound_edge_and_stable_within_the_epoch() -> None:
    spread = _spread("hops", 120, 6, 2)
    taken: dict[tuple[int, int], set[int]] = defaultdict(set)
    relays: dict[int, set[int]] = defaultdict(set)
    for source in range(120):
        for _, inbound, node, relay in spread.run(source).stem_hops:
            assert relay in spread.graph.neighbours[node] and relay != inbound
            taken[node, inbound].add(relay)
            relays[node].add(relay)
            if inbound >= 0:
                assert not spread.diffuser[node]  # a diffuser fluffs what it receives
    assert len(taken) > 150
    assert all(len(r) == 1 for r in taken.values())  # one route per edge, every message
    assert all(len(r) <= 2 for r in relays.values())  # two relays per node
    # Routes are per edge, not per node: some node sends two inbound edges different ways.
    per_node: dict[int, set[int]] = defaultdict(set)
    for (node, _), (relay,) in taken.items():
        per_node[node].add(relay)
    assert any(len(r) == 2 for r in per_node.values())


def test_a_fifth_of_the_nodes_are_diffusers() -> None:
    spread = _spread("hops", 1000, 8, 3)
    q = HopsConfig().fluff_probability
    assert sum(spread.diffuser) / 1000 == pytest.approx(q, abs=0.04)  # 3 s.e.
    # Node-level: a diffuser's every inbound edge fluffs; other nodes always have a route on.
    for node, table in enumerate(spread.routes):
        inbound = [route for key, route in table.items() if key >= 0]
        if spread.diffuser[node]:
            assert all(route < 0 for route in inbound)
        else:
            assert all(route >= 0 for route in inbound)


def test_propagate_replays_the_engine_exactly() -> None:
    spread = _spread("hops50", 150, 6, 4)
    for source in (0, 7, 99):
        run = spread.run(source)
        replay = propagate(spread, 150, source)
        assert replay.times == run.times and replay.senders == run.senders


def test_stem_nodes_relay_again_when_the_fluff_arrives() -> None:
    spread = _spread("hops", 200, 8, 5)
    for source in range(40):
        run = spread.run(source)
        assert all(math.isfinite(t) for t in run.delivered)
        for at, _, node, _ in run.stem_hops[1:]:
            assert run.delivered[node] > at  # held, not pooled, while on the stem...
        # ...and every stem node pooled it later: none went silent.
        assert all(run.delivered[node] < math.inf for _, _, node, _ in run.stem_hops)


def test_black_holes_never_lose_a_message() -> None:
    spread = _spread("hops", 200, 8, 6)
    rng = random.Random(7)
    spies = frozenset(rng.sample(range(200), 60))  # 30 %, more than the target's 10 %
    holes = spread.with_spies(spies, black_holes=True)
    assert spread.with_spies(spies, black_holes=False) is spread
    rescued = 0
    for source in sorted(set(range(200)) - spies):
        clear, dark = spread.run(source), holes.run(source)
        assert max(dark.delivered) <= DEFAULT_TTL  # every node, spies too, within the TTL
        for _, _, node, _ in dark.stem_hops:
            assert node not in spies  # a black hole forwards nothing
        first = clear.stem_hops[0][3]
        if first in spies:  # the first relay swallows it: only the source's embargo is left
            rescued += 1
            assert len(dark.stem_hops) == 1 and clear.released <= dark.released
            assert min(t for v, t in enumerate(dark.delivered) if v != source) > dark.released
    assert rescued > 20


def test_partial_deployment_falls_back_to_the_one_hop_stem() -> None:
    spread = _spread("hops25", 300, 6, 8)
    assert spread.posters == frozenset(v for v in range(300) if spread.hush[v])
    alone = [
        v
        for v in range(300)
        if spread.hush[v] and not any(spread.hush[w] for w in spread.graph.neighbours[v])
    ]
    stemmed = [v for v in range(300) if spread.hush[v] and v not in alone]
    assert len(alone) > 10 and len(stemmed) > 10
    for source in alone:
        run = spread.run(source)
        assert run.stem_hops == []
        peer = spread.stem_peer[source]
        assert run.senders[peer] == source and run.times[peer] < run.released
        # Nobody else hears from the source before the echo (or embargo) releases it.
        for v, sender in enumerate(run.senders):
            if sender == source and v != peer:
                assert run.times[v] >= run.released
    for source in stemmed:
        for _, _, node, relay in spread.run(source).stem_hops:
            assert spread.hush[node] and spread.hush[relay]  # geth nodes never see a stem hop


def test_darkness_measures_hush_posters_and_black_holes() -> None:
    base = DarknessConfig(nodes=120, degree=6, seeds=2, spies=(0.1,), policy="hops25", seed=1)
    report = run_darkness(base)
    assert report.results[0].messages < 2 * 40  # only the ~30 hush nodes of each graph post
    holes = run_darkness(
        DarknessConfig(
            nodes=120, degree=6, seeds=2, spies=(0.1,), policy="hops", sources=40, black_holes=True
        )
    )
    assert math.isfinite(holes.results[0].reach_p95_s.mean)
    with pytest.raises(UsageError, match="no stem to drop"):
        run_darkness(DarknessConfig(nodes=60, degree=4, seeds=1, spies=(0.1,), black_holes=True))


def test_sim_darkness_black_holes_flag(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["sim", "darkness", "--nodes", "60", "--degree", "4", "--seeds", "2"]
    argv += ["--policy", "hops", "--spies", "0.1", "--black-holes", "--json"]
    assert main(argv, standalone_mode=False) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["config"]["black_holes"] is True and report["config"]["policy"] == "hops"
    assert report["results"][0]["reach_p95_s"]["mean"] is not None  # every node reached
