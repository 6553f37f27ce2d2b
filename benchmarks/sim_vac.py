"""Vac's Waku v1-vs-v2 bandwidth replica on real nodes, over several seeds (issue 9;
simulation.md §4.1, §4.3, §4.4).

Usage: .venv/bin/python benchmarks/sim_vac.py [--nodes 10,30,50,85,150] [--relays geth,push]
       [--seeds 5] [--seconds 1] [--seconds-at 50:0.6,85:0.4,150:0.1] [--seeds-at N:K,...]
       [--tail 2] [--plot FILE] [--json FILE]

Each run is `examples/sim/vac.toml` (full mesh, 50 msg/s of 8-byte encrypted payloads from 10
distinct random publishers, round-robin over 10 topics, full blooms, U(1, 10) ms links,
unlimited bandwidth) at N nodes, one relay mode — `geth` (every node on geth's 300 ms tick) or
`push` (hush's relay, forward on arrival) — and one seed (1..K: link latencies, tick phases,
publishers, keys), publishing for `--seconds` virtual seconds (`--seconds-at` per N: a full
mesh costs ~0.8·N² envelope copies per post, ~19 k at N = 150), then `--tail` seconds for the
last copies. Per run: delivery, bytes in/out per node per second at 50 msg/s (bytes per post ×
rate, so the idle tail does not dilute it), the duplicate factor, latency p50/p99
(publish → filter), CPU and wall seconds. Per (N, relay): the mean over seeds and its 95 %
confidence interval (Student's t, n − 1 degrees of freedom: `hush.sim.confidence.mean_ci`), next
to the models for the same N and wire bytes per copy (`hush.sim.models.flood_model`). Prints
the per-run lines and a Markdown table; `--json` writes runs and summaries, `--plot` the
measured-vs-model PNG with error bars. The runs for one N alternate the relay modes seed by
seed, so machine load falls on both alike.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from hush.sim.confidence import Interval, mean_ci
from hush.sim.models import duplicate_bounds, flood_model
from hush.sim.results import summarise
from hush.sim.runner import run_scenario
from hush.sim.scenario import load_scenario

EXAMPLE = Path(__file__).parents[1] / "examples" / "sim" / "vac.toml"
CASE_6 = "case 6 duplicates (D = 2)"


def run(nodes: int, relay: str, seconds: float, seed: int, tail: float = 2.0) -> dict[str, Any]:
    base = load_scenario(EXAMPLE)
    scenario = dataclasses.replace(
        base,
        name=f"vac-{relay}-{nodes}-{seed}",
        seed=seed,
        relay=relay,
        duration=seconds + tail,
        topology=dataclasses.replace(base.topology, nodes=nodes),
        workload=dataclasses.replace(base.workload, publish_over=seconds),
    )
    trace = run_scenario(scenario)
    numbers = summarise(trace)
    vac = numbers["vac_v1"]
    return {
        "nodes": nodes,
        "relay": relay,
        "seed": seed,
        "posts": numbers["posts"],
        "virtual_s": round(trace.virtual_seconds, 2),
        "delivery_ratio": numbers["delivery_ratio"],
        "latency_p50_s": numbers["latency_s"]["p50"],
        "latency_p99_s": numbers["latency_s"]["p99"],
        "duplicate_factor": numbers["duplicate_factor"],
        "copies": sum(t.copies for t in trace.taps),
        "cpu_s": round(trace.cpu_seconds, 2),
        "wall_s": round(trace.wall_seconds, 2),
        "peak_rss_mb": round(trace.peak_rss_mb),
        "measured_over_case_6": vac["in_per_node_per_s"] / vac["model_in_per_node_per_s"][CASE_6],
        **vac,
    }


_MEANS = (
    "in_per_node_per_s",
    "out_per_node_per_s",
    "in_plus_out_kbps",
    "duplicate_factor",
    "latency_p50_s",
    "latency_p99_s",
    "measured_over_case_6",
    "wire_bytes_per_copy",
)


def summarise_seeds(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (N, relay): each figure's mean over the seeds and its 95 % CI half-width (`…_ci`),
    the lowest delivery ratio, the models at the mean wire bytes per copy, CPU and wall totals."""
    out = []
    for nodes, relay in dict.fromkeys((r["nodes"], r["relay"]) for r in runs):
        mine = [r for r in runs if (r["nodes"], r["relay"]) == (nodes, relay)]
        row: dict[str, Any] = {
            "nodes": nodes,
            "relay": relay,
            "seeds": [r["seed"] for r in mine],
            "posts": mine[0]["posts"],
            "rate": mine[0]["rate"],
            "delivery_ratio_min": min(r["delivery_ratio"] for r in mine),
            "duplicate_bounds": duplicate_bounds(nodes, None, True),
            "cpu_s": round(sum(r["cpu_s"] for r in mine), 1),
            "wall_s": round(sum(r["wall_s"] for r in mine), 1),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in mine),
        }
        for key in _MEANS:
            interval = mean_ci([float(r[key]) for r in mine])
            row[key], row[f"{key}_ci"] = interval.mean, interval.half
        row["model_in_per_node_per_s"] = flood_model(nodes, row["rate"], row["wire_bytes_per_copy"])
        out.append(row)
    return out


def _ci(row: dict[str, Any], key: str, digits: int = 2, scale: float = 1.0) -> str:
    return Interval(row[key], row[f"{key}_ci"], len(row["seeds"])).line(digits, scale)


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| N | relay | seeds × posts | delivery (min) | duplicate factor, 95 % CI "
        "[(N−1)/2, N−2+1/N] | in KiB/s per node | in+out kbps | latency p50 ms | latency p99 ms "
        "| model KiB/s: case 2 · case 6 (D = 2) · d/2 · d−1+1/N | measured / case 6 "
        "| CPU s (all seeds) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        low, high = r["duplicate_bounds"]
        inside = "ok" if low <= r["duplicate_factor"] <= high else "OUT"
        model = " · ".join(f"{v / 1024:,.1f}" for v in r["model_in_per_node_per_s"].values())
        lines.append(
            f"| {r['nodes']} | {r['relay']} | {len(r['seeds'])} × {r['posts']} "
            f"| {r['delivery_ratio_min']:.4f} "
            f"| {_ci(r, 'duplicate_factor')} [{low:.1f}, {high:.2f}] {inside} "
            f"| {_ci(r, 'in_per_node_per_s', 1, 1 / 1024)} | {_ci(r, 'in_plus_out_kbps', 0)} "
            f"| {_ci(r, 'latency_p50_s', 0, 1000)} | {_ci(r, 'latency_p99_s', 0, 1000)} "
            f"| {model} | {_ci(r, 'measured_over_case_6', 1)}× | {r['cpu_s']} |"
        )
    return "\n".join(lines)


def _per_n(text: str, kind: type[float] | type[int]) -> dict[int, Any]:
    """Per-N values: "85:0.4,150:0.2" → {85: 0.4, 150: 0.2}."""
    pairs = (item.split(":") for item in text.split(",") if item)
    return {int(n): kind(value) for n, value in pairs}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", default="10,30,50,85,150")
    parser.add_argument("--relays", default="geth,push")
    parser.add_argument("--seeds", type=int, default=5, help="Seeds 1..K per N and relay.")
    parser.add_argument("--seeds-at", default="", help="Fewer seeds at some N: 'N:K,...'.")
    parser.add_argument("--seconds", type=float, default=1.0, help="Virtual seconds of posting.")
    parser.add_argument(
        "--seconds-at", default="50:0.6,85:0.4,150:0.1", help="The same at some N: 'N:seconds,...'."
    )
    parser.add_argument("--tail", type=float, default=2.0, help="Virtual seconds after posting.")
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    seconds_at = _per_n(args.seconds_at, float)
    seeds_at = _per_n(args.seeds_at, int)
    runs = []
    for nodes in (int(n) for n in args.nodes.split(",")):
        seconds = seconds_at.get(nodes, args.seconds)
        for seed in range(1, seeds_at.get(nodes, args.seeds) + 1):
            for relay in args.relays.split(","):
                r = run(nodes, relay, seconds, seed, args.tail)
                runs.append(r)
                print(
                    f"N={nodes} {relay} seed {seed}: {r['posts']} posts, delivery "
                    f"{r['delivery_ratio']:.4f}, duplicates {r['duplicate_factor']:.2f}, in "
                    f"{r['in_per_node_per_s'] / 1024:,.1f} KiB/s, latency p50/p99 "
                    f"{r['latency_p50_s'] * 1000:.0f}/{r['latency_p99_s'] * 1000:.0f} ms, "
                    f"{r['copies']:,} copies, {r['cpu_s']} CPU s, {r['wall_s']} wall s",
                    flush=True,
                )
    rows = summarise_seeds(runs)
    print(table(rows))
    print(
        f"total: {len(runs)} runs, {sum(r['cpu_s'] for r in runs):.0f} CPU s, "
        f"{sum(r['wall_s'] for r in runs):.0f} wall s"
    )
    if args.json is not None:
        args.json.write_text(json.dumps({"runs": runs, "summary": rows}, indent=2) + "\n")
    if args.plot is not None:
        from hush.sim.plots import plot_vac_v1  # noqa: PLC0415

        plot_vac_v1(rows, args.plot)


if __name__ == "__main__":
    main()
