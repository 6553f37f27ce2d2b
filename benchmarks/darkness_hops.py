"""The multi-hop stem under black-hole spies: delivery within the TTL and the extra delay they
cost, per message, paired with the same message without black holes (simulation.md §7 G3-b).

Usage: .venv/bin/python benchmarks/darkness_hops.py [--policy hops] [--nodes 1000] [--degree 8]
       [--seeds 5] [--p 0.1] [--sources 300] [--source-embargo S] [--fail-safe S]

`hush sim darkness --black-holes` gives the estimators and reach under black holes; the extra
delay needs each message twice (with and without black holes, same graph, routes, spies and
timer draws), which this script does with the engine of `hush.sim.spread_hops` directly. Per
graph seed (built as `hush sim darkness` builds it): ⌊pN⌋ spies, `sources` messages from honest
posters; each message's `delivered` times (when a node pooled it: what its user sees), over the
honest nodes. Prints JSON: delivery (share of honest nodes that pooled the message within the
TTL, worst message), the extra delay per message of the time to reach every honest node, 50 % of
them, and of each (message, node) pair, as p50 / p90 / p99 over all messages of all seeds;
first-spy detection without black holes (the sender of the earliest copy any spy logged) with a
95 % t-interval over seeds, and the same for `--baseline` (default `lite`, the one-hop stem) on
the same graph, spies and messages, with the paired difference; the share of messages whose stem met a black hole; mean stem hops;
CPU seconds. `--source-embargo` / `--fail-safe` override the node's `HopsConfig` (what-ifs).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import time
from typing import Any

from hush.node.stem_hops import HopsConfig
from hush.shh.message import DEFAULT_TTL
from hush.sim.darkness import Estimate
from hush.sim.spread import Graph, policy_named, propagate
from hush.sim.spread_hops import HopsPolicy, HopsSpread
from hush.sim.topologies import regular


def _quantiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]

    return {"p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "max": ordered[-1]}


def _one_seed(args: argparse.Namespace, policy: HopsPolicy, graph_seed: int) -> dict[str, Any]:
    rng = random.Random(args.seed * 1_000_003 + graph_seed)
    graph = Graph.build(args.nodes, regular(args.nodes, args.degree, rng).edges, rng)
    spread = policy.spread(graph, rng)
    spies = frozenset(rng.sample(range(args.nodes), math.floor(args.p * args.nodes)))
    honest = [v for v in range(args.nodes) if v not in spies]
    posters = [v for v in honest if spread.posters is None or v in spread.posters]
    sources = sorted(rng.sample(posters, min(args.sources, len(posters))))
    baseline = policy_named(args.baseline).spread(graph, random.Random(rng.random()))
    holes = spread.with_spies(spies, black_holes=True)
    assert isinstance(holes, HopsSpread)
    out: dict[str, Any] = {"all": [], "half": [], "pairs": [], "delivery": [], "caught": 0}
    out |= {"met": 0, "hops": 0, "reach50": [], "reach50_bh": [], "caught_baseline": 0}
    half = len(honest) // 2
    for source in sources:
        clear, dark = spread.run(source), holes.run(source)
        c = sorted(clear.delivered[v] for v in honest)
        d = sorted(dark.delivered[v] for v in honest)
        out["delivery"].append(sum(t <= DEFAULT_TTL for t in d) / len(d))
        out["all"].append(d[-1] - c[-1])
        out["half"].append(d[half] - c[half])
        out["reach50"].append(c[half])
        out["reach50_bh"].append(d[half])
        out["pairs"] += [dark.delivered[v] - clear.delivered[v] for v in honest if v != source]
        out["met"] += any(relay in spies for _, _, _, relay in clear.stem_hops)
        out["hops"] += len(clear.stem_hops)
        first = min(spies, key=lambda s: clear.times[s])
        out["caught"] += clear.senders[first] == source
        base = propagate(baseline, args.nodes, source)
        out["caught_baseline"] += base.senders[min(spies, key=lambda s: base.times[s])] == source
    out["messages"] = len(sources)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default="hops")
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--degree", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--p", type=float, default=0.1)
    parser.add_argument("--sources", type=int, default=300)
    parser.add_argument("--baseline", default="lite", help="policy for paired first-spy")
    parser.add_argument("--source-embargo", type=float, default=None)
    parser.add_argument("--fail-safe", type=float, default=None)
    parser.add_argument("--source-floor", type=float, default=None)
    args = parser.parse_args()
    policy = policy_named(args.policy)
    if not isinstance(policy, HopsPolicy):
        parser.error(f"{args.policy} is not a multi-hop stem policy")
    real = HopsConfig()
    config = HopsConfig(
        fail_safe=real.fail_safe if args.fail_safe is None else args.fail_safe,
        source_embargo=real.source_embargo if args.source_embargo is None else args.source_embargo,
        source_floor=real.source_floor if args.source_floor is None else args.source_floor,
    )
    policy = HopsPolicy(
        policy.name, policy.description, policy.hush_fraction, policy.fluff_tick, config
    )
    started, cpu = time.perf_counter(), time.process_time()
    seeds = [_one_seed(args, policy, g) for g in range(args.seeds)]
    messages = sum(s["messages"] for s in seeds)

    def pooled(key: str) -> list[float]:
        return [x for s in seeds for x in s[key]]

    first_spy = Estimate.of([s["caught"] / s["messages"] for s in seeds])
    baseline = Estimate.of([s["caught_baseline"] / s["messages"] for s in seeds])
    paired = Estimate.of([(s["caught"] - s["caught_baseline"]) / s["messages"] for s in seeds])
    report = {
        "policy": args.policy,
        "nodes": args.nodes,
        "degree": args.degree,
        "seeds": args.seeds,
        "p": args.p,
        "messages": messages,
        "fail_safe_s": config.fail_safe,
        "source_embargo_s": config.source_embargo,
        "source_floor_s": config.source_floor,
        "delivery_worst": min(pooled("delivery")),
        "delivery_mean": statistics.fmean(pooled("delivery")),
        "extra_reach_all_s": _quantiles(pooled("all")),
        "extra_reach_50_s": _quantiles(pooled("half")),
        "extra_per_node_s": _quantiles(pooled("pairs")),
        "extra_reach_all_p99_per_seed": [_quantiles(s["all"])["p99"] for s in seeds],
        "reach50_s": statistics.fmean(pooled("reach50")),
        "reach50_black_holes_s": statistics.fmean(pooled("reach50_bh")),
        "stem_met_black_hole": sum(s["met"] for s in seeds) / messages,
        "mean_stem_hops": sum(s["hops"] for s in seeds) / messages,
        "first_spy": {"mean": first_spy.mean, "ci95": first_spy.ci95},
        "baseline": args.baseline,
        "first_spy_baseline": {"mean": baseline.mean, "ci95": baseline.ci95},
        "first_spy_minus_baseline": {"mean": paired.mean, "ci95": paired.ci95},
        "cpu_s": round(time.process_time() - cpu, 1),
        "wall_s": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
