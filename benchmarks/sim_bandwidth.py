"""Bytes per node per day from the simulator against Vac's model, cases 4–7 (issue 9; simulation.md
§4.3), at N = 100, 1,000, 10,000 on random 8-regular graphs under geth's 300 ms tick.

Usage: .venv/bin/python benchmarks/sim_bandwidth.py [--real-seconds 120] [--plot FILE]

Vac's traffic: every user sends r·e = 1,000 envelopes of about 1 KB a day (u = 1,024,000 B).
* **Real nodes, N = 100**: a `chat` run (Poisson senders at 1,000/24 messages per node per
  hour, 900-byte payloads, so envelopes pad to 1,024 bytes of data) for `--real-seconds`
  virtual seconds; bytes received per node (every shh packet, all codes), scaled to a day.
* **N = 1,000 and 10,000**: the copies each node receives per envelope (first included) from
  the first-arrival engine's known-peer suppression model (`hush.sim.spread.copies_received`,
  checked against the real run at N = 100, printed side by side), times N·1,000 envelopes a
  day, times the wire bytes per copy measured in the real run.
Prints JSON; `--plot` writes the measured-vs-model PNG.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from pathlib import Path

from hush.sim.models import vac_cases
from hush.sim.results import summarise
from hush.sim.runner import run_scenario
from hush.sim.scenario import LinksSpec, Scenario, TopologySpec, WorkloadSpec
from hush.sim.spread import Graph, copies_received, policy_named, propagate
from hush.sim.topologies import regular

ENVELOPES_PER_USER_DAY = 1000
DAY = 86_400


def _engine_copies(nodes: int, sources: int, seed: int = 1) -> float:
    rng = random.Random(seed)
    graph = Graph.build(nodes, regular(nodes, 8, rng).edges, rng)
    spread = policy_named("geth").spread(graph, rng)
    per_envelope = []
    for source in rng.sample(range(nodes), sources):
        copies = copies_received(spread, graph, propagate(spread, nodes, source))
        assert copies is not None
        per_envelope.append(sum(copies) / nodes)
    return statistics.fmean(per_envelope)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--real-seconds", type=float, default=120.0)
    parser.add_argument("--plot", type=Path, default=None)
    args = parser.parse_args()
    scenario = Scenario(
        name="vac-bandwidth",
        seed=7,
        duration=args.real_seconds,
        relay="geth",
        topology=TopologySpec(kind="regular", nodes=100, degree=8),
        links=LinksSpec(latency="uniform", low=0.02, high=0.12),
        workload=WorkloadSpec(
            kind="chat",
            topics=10,
            rate=ENVELOPES_PER_USER_DAY / 24,
            payload=900,
            ttl=60,
            publish_over=args.real_seconds,
        ),
    )
    trace = run_scenario(scenario)
    numbers = summarise(trace)
    copies_total = sum(t.copies for t in trace.taps)
    message_bytes = sum(t.bytes_in.get(1, 0) for t in trace.taps)
    per_copy = message_bytes / copies_total
    real_day = numbers["bytes_in_per_node_per_day_mean"]
    # The real run's own rate, scaled to Vac's 1,000 envelopes per user per day.
    real_rate = len(trace.published) / trace.virtual_seconds * DAY / 100
    rows = [
        {
            "nodes": 100,
            "source": "real nodes",
            "duplicate_factor": round(numbers["duplicate_factor"], 2),
            "bytes_per_day": real_day * ENVELOPES_PER_USER_DAY / real_rate,
        }
    ]
    engine_100 = _engine_copies(100, 100)
    rows.append(
        {
            "nodes": 100,
            "source": "engine",
            "duplicate_factor": round(engine_100, 2),
            "bytes_per_day": 100 * ENVELOPES_PER_USER_DAY * per_copy * engine_100,
        }
    )
    for nodes, sources in ((1000, 60), (10_000, 12)):
        dup = _engine_copies(nodes, sources)
        rows.append(
            {
                "nodes": nodes,
                "source": "engine",
                "duplicate_factor": round(dup, 2),
                "bytes_per_day": nodes * ENVELOPES_PER_USER_DAY * per_copy * dup,
            }
        )
    for row in rows:
        cases = vac_cases(int(row["nodes"]))
        row["vac_bytes_per_day"] = {k: round(v) for k, v in cases.items()}
        row["measured_over_case6"] = round(row["bytes_per_day"] / cases["6 + duplicates"], 2)
        row["bytes_per_day"] = round(row["bytes_per_day"])
    result = {
        "wire_bytes_per_copy": round(per_copy, 1),
        "real_run": {
            "posts": len(trace.published),
            "virtual_s": trace.virtual_seconds,
            "wall_s": round(trace.wall_seconds, 1),
            "cpu_s": round(trace.cpu_seconds, 1),
            "delivery_ratio": numbers["delivery_ratio"],
        },
        "rows": rows,
    }
    print(json.dumps(result, indent=2))
    if args.plot is not None:
        from hush.sim.plots import plot_model_vs_measured  # noqa: PLC0415

        plot_model_vs_measured(
            [
                (
                    int(r["nodes"]),
                    float(r["bytes_per_day"]),
                    f"full relay node, geth tick, d = 8 ({r['source']})",
                )
                for r in rows
            ],
            args.plot,
        )


if __name__ == "__main__":
    main()
