"""Discovery at a few hundred nodes in one process, under the virtual clock: wall and CPU seconds
per run (issue 12; the workload of tests/discovery/test_network_memory.py, scaled).

Usage: .venv/bin/python benchmarks/discovery_network.py [--sizes 100,200,400] [--runs 1]

Per size N: one bootnode, N/2 shh Nodes and N/2 eth-only nodes on the in-memory datagram
network and `hush.net.memory` (log-normal TCP latency, median 50 ms), geth's default timers.
Once every shh node has 6 shh peers, a fifth of them stop; the ones left short dial again;
`--hold` more virtual seconds pass; then one message is posted. Prints JSON per size: medians
of wall and CPU seconds, virtual seconds to converge and to rejoin, how many were left short,
the smallest shh-peer count at the end, the most handshakes one shh node had with one eth-only
node (1: never redialled), the nodes the message reached and how long it took (virtual).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from hush.testing.discovery import discover
from hush.vclock import run_virtual


def one(size: int, hold: float, seed: int) -> dict[str, Any]:
    shh = size // 2
    wall, cpu = time.perf_counter(), time.process_time()
    run = run_virtual(
        discover(shh=shh, others=size - shh, seed=seed, churn=shh // 5, hold=hold, limit=900.0)
    )
    return {
        "wall_s": time.perf_counter() - wall,
        "cpu_s": time.process_time() - cpu,
        "converged_at": run.converged_at,
        "left_short": run.left_short,
        "rejoined_at": run.rejoined_at,
        "min_shh_peers": min(run.shh_peers),
        "max_handshakes_per_pair": max(run.handshakes.values(), default=0),
        "eth_only_dialled": len({target for _, target in run.handshakes}),
        "dials": run.dials,
        "reached": f"{run.reached} of {len(run.shh_peers) - 1}",
        "delivered_in": run.delivered_in,
        "datagrams": run.datagrams,
        "virtual_s": run.virtual_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100,200,400")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--hold", type=float, default=660.0)
    args = parser.parse_args()
    results: dict[str, Any] = {}
    for size in (int(s) for s in args.sizes.split(",")):
        runs = [one(size, args.hold, seed) for seed in range(1, args.runs + 1)]
        summary = dict(runs[0])
        for key in ("wall_s", "cpu_s"):
            summary[key] = round(statistics.median(r[key] for r in runs), 2)
            summary[f"{key}_runs"] = [round(r[key], 2) for r in runs]
        results[str(size)] = summary
        print(json.dumps({str(size): summary}), flush=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
