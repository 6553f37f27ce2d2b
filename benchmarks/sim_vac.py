"""Vac's Waku v1-vs-v2 bandwidth replica on real nodes (issue 9; simulation.md §4.1, §4.3, §4.4).

Usage: .venv/bin/python benchmarks/sim_vac.py [--nodes 10,30,50,85,150] [--relays geth,push]
       [--seconds 2] [--seconds-150 1] [--plot FILE] [--json FILE]

Each run is `examples/sim/vac.toml` (full mesh, 50 msg/s of 8-byte encrypted payloads from 10
distinct random publishers, round-robin over 10 topics, full blooms, U(1, 10) ms links,
unlimited bandwidth) at N nodes and one relay mode: `geth` (every node on geth's 300 ms tick)
or `push` (hush's relay, forward on arrival), publishing for `--seconds` virtual seconds
(`--seconds-150` at N ≥ 150: full mesh at 150 nodes is ~1.1 M envelope copies per virtual
second, ~40 CPU s), then 2 s for the last copies. Reported per run: delivery, bytes in/out
per node per second at 50 msg/s (bytes per post × rate, so the idle tail does not dilute
it) and per day, the duplicate factor against [(N−1)/2, N−2+1/N], and the models for the
same N and wire bytes per copy (`hush.sim.models.flood_model`); CPU and wall seconds. Prints a
Markdown table; `--json` writes the rows, `--plot` the measured-vs-model PNG.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from hush.sim.results import summarise
from hush.sim.runner import run_scenario
from hush.sim.scenario import load_scenario

EXAMPLE = Path(__file__).parents[1] / "examples" / "sim" / "vac.toml"
MIB = 1024 * 1024


def run(nodes: int, relay: str, seconds: float) -> dict[str, Any]:
    base = load_scenario(EXAMPLE)
    scenario = dataclasses.replace(
        base,
        name=f"vac-{relay}-{nodes}",
        relay=relay,
        duration=seconds + 2.0,
        topology=dataclasses.replace(base.topology, nodes=nodes),
        workload=dataclasses.replace(base.workload, publish_over=seconds),
    )
    trace = run_scenario(scenario)
    numbers = summarise(trace)
    vac = numbers["vac_v1"]
    low, high = vac["duplicate_bounds"]
    return {
        "nodes": nodes,
        "relay": relay,
        "posts": numbers["posts"],
        "virtual_s": round(trace.virtual_seconds, 2),
        "delivery_ratio": numbers["delivery_ratio"],
        "latency_p50_s": numbers["latency_s"]["p50"],
        "duplicate_factor": numbers["duplicate_factor"],
        "duplicate_bounds": [low, high],
        "copies": sum(t.copies for t in trace.taps),
        "cpu_s": round(trace.cpu_seconds, 1),
        "wall_s": round(trace.wall_seconds, 1),
        "peak_rss_mb": round(trace.peak_rss_mb),
        **vac,
    }


def _kib(value: float) -> str:
    return f"{value / 1024:,.1f}"


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| N | relay | posts | delivery | duplicate factor [(N−1)/2, N−2+1/N] | B/copy "
        "| in KiB/s | out KiB/s | in per day | in+out kbps | model KiB/s: case 2 · case 6 "
        "(D = 2) · d/2 · d−1+1/N | measured / case 6 | CPU s | wall s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        model = r["model_in_per_node_per_s"]
        low, high = r["duplicate_bounds"]
        inside = "ok" if low <= r["duplicate_factor"] <= high else "OUT"
        case6 = model["case 6 duplicates (D = 2)"]
        lines.append(
            f"| {r['nodes']} | {r['relay']} | {r['posts']} | {r['delivery_ratio']:.4f} "
            f"| {r['duplicate_factor']:.2f} [{low:.1f}, {high:.2f}] {inside} "
            f"| {r['wire_bytes_per_copy']:.0f} | {_kib(r['in_per_node_per_s'])} "
            f"| {_kib(r['out_per_node_per_s'])} | {r['in_per_node_per_day'] / MIB / 1024:,.1f} GiB "
            f"| {r['in_plus_out_kbps']:,.0f} | "
            + " · ".join(_kib(v) for v in model.values())
            + f" | {r['in_per_node_per_s'] / case6:.1f}× | {r['cpu_s']} | {r['wall_s']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", default="10,30,50,85,150")
    parser.add_argument("--relays", default="geth,push")
    parser.add_argument("--seconds", type=float, default=2.0, help="Virtual seconds of posting.")
    parser.add_argument("--seconds-150", type=float, default=1.0, help="The same at N ≥ 150.")
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    rows = []
    for nodes in (int(n) for n in args.nodes.split(",")):
        for relay in args.relays.split(","):
            seconds = args.seconds_150 if nodes >= 150 else args.seconds
            row = run(nodes, relay, seconds)
            rows.append(row)
            print(
                f"N={nodes} {relay}: delivery {row['delivery_ratio']:.4f}, duplicates "
                f"{row['duplicate_factor']:.2f}, in {_kib(row['in_per_node_per_s'])} KiB/s, "
                f"{row['cpu_s']} CPU s, {row['wall_s']} wall s",
                flush=True,
            )
    print(table(rows))
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    if args.plot is not None:
        from hush.sim.plots import plot_vac_v1  # noqa: PLC0415

        plot_vac_v1(rows, args.plot)


if __name__ == "__main__":
    main()
