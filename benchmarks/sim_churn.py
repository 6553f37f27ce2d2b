"""Churn with and without mail-server catch-up (issue 9; simulation.md §4.2; hush.sim.catchup).

Usage: .venv/bin/python benchmarks/sim_churn.py [--seeds 1,2,3,4,5] [--nodes 16,100] [--degree 6]

Each run is `examples/sim/churn.toml` (push relay, random d-regular graph, 40 % of the
non-server nodes churning: online Exp(8 s), offline Exp(20 s) against a 10 s TTL; 40 gossip
posts over 50 s; one archive server, the real `hush.archive` on SQLite; 70 virtual s) at N
nodes and one seed, once with `catch_up = false` and once with `true`. Prints one Markdown row
per (N, seed, catch-up) and the medians: delivery to churning nodes by the end (live or from
history), of the pairs the server held (posted before the node's last return), of those
posted before the node's last completed fetch, to steady nodes; catch-up fetches (completed,
interrupted: the node went offline again mid-fetch; retries of a window), latency (back
online → last page), envelopes and bytes at the server (126 in, 127 + 125 out); CPU and wall
seconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
from pathlib import Path
from typing import Any

from hush.sim.results import summarise
from hush.sim.runner import run_scenario
from hush.sim.scenario import load_scenario

EXAMPLE = Path(__file__).parents[1] / "examples" / "sim" / "churn.toml"


def run(nodes: int, degree: int, seed: int, catch_up: bool) -> dict[str, Any]:
    base = load_scenario(EXAMPLE)
    scenario = dataclasses.replace(
        base,
        seed=seed,
        topology=dataclasses.replace(base.topology, nodes=nodes, degree=degree),
        churn=dataclasses.replace(base.churn, catch_up=catch_up),
    )
    trace = run_scenario(scenario)
    numbers = summarise(trace)
    c = numbers["catch_up"]
    return {
        "nodes": nodes,
        "seed": seed,
        "catch_up": catch_up,
        "churning_ever": numbers["delivery_ratio_churning_nodes_ever"],
        "held_pairs": c["held_pairs"],
        "held_delivered": c["held_pairs_delivered_ratio"],
        "steady": numbers["delivery_ratio_steady_nodes"],
        "fetches": c["fetches"],
        "completed": c["completed"],
        "interrupted": c["interrupted"],
        "retries": c["retries"],
        "fetched_pairs": c["held_pairs_fetched"],
        "fetched_delivered": c["held_pairs_fetched_delivered_ratio"],
        "latency_p50": c["latency_s"]["p50"],
        "latency_max": c["latency_s"]["max"],
        "envelopes": c["envelopes"],
        "bytes": c["bytes_requests_in"] + c["bytes_envelopes_out"] + c["bytes_completions_out"],
        "cpu_s": trace.cpu_seconds,
        "wall_s": trace.wall_seconds,
    }


def _f(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="1,2,3,4,5")
    parser.add_argument("--nodes", default="16")
    parser.add_argument("--degree", type=int, default=6)
    args = parser.parse_args()
    rows = [
        run(nodes, args.degree, seed, catch_up)
        for nodes in (int(n) for n in args.nodes.split(","))
        for seed in (int(s) for s in args.seeds.split(","))
        for catch_up in (False, True)
    ]
    print(
        "| N | seed | catch-up | churning nodes, delivered by the end | held pairs | of those "
        "delivered | steady nodes | fetches (completed) | latency p50 / max | envelopes | "
        "bytes at server | CPU s | wall s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['nodes']} | {r['seed']} | {'yes' if r['catch_up'] else 'no'} "
            f"| {_f(r['churning_ever'])} | {r['held_pairs']} | {_f(r['held_delivered'])} "
            f"| {r['fetched_pairs']}: {_f(r['fetched_delivered'])} | {_f(r['steady'])} "
            f"| {r['fetches']} ({r['completed']}, {r['interrupted']}, {r['retries']}) "
            f"| {_f(r['latency_p50'])} / {_f(r['latency_max'])} s | {r['envelopes']} "
            f"| {r['bytes']:,} | {r['cpu_s']:.1f} | {r['wall_s']:.1f} |"
        )
    for nodes in sorted({r["nodes"] for r in rows}):
        for catch_up in (False, True):
            mine = [r for r in rows if r["nodes"] == nodes and r["catch_up"] == catch_up]
            held = [r["held_delivered"] for r in mine if r["held_delivered"] is not None]
            fetched = [r["fetched_delivered"] for r in mine if r["fetched_delivered"] is not None]
            print(
                f"N={nodes} catch-up={'yes' if catch_up else 'no'}: median churning "
                f"{statistics.median(r['churning_ever'] for r in mine):.3f}, held delivered "
                f"{statistics.median(held):.3f} (min {min(held):.3f}), before the last "
                f"completed fetch {min(fetched, default=float('nan')):.3f} (min), steady "
                f"{statistics.median(r['steady'] for r in mine):.3f}"
            )


if __name__ == "__main__":
    main()
