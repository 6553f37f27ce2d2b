"""50 real nodes in one process, under the virtual clock: wall and CPU seconds per run against the
virtual seconds simulated (issue 8; the workload of tests/node/test_network50.py).

Usage: .venv/bin/python benchmarks/network50.py [--runs 3] [--seconds 300]

Each mode runs `runs` times in this process: a random 6-regular graph of 50 nodes, 30 messages
posted in the first 30 virtual seconds, log-normal latency (median 50 ms, sigma 0.5) at
1 MB/s, then the rest of `--seconds` of virtual time. Modes: plain links with push relay (hush's
default), plain links with geth's 300 ms tick, real RLPx links with push relay. Prints JSON:
medians of wall and CPU seconds, the virtual seconds, the ratio virtual/wall, the deliveries
and the median delivery delay (virtual).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from hush.net.memory import LinkModel, LogNormal, MemoryNetwork
from hush.node import GETH_TICK
from hush.testing import GossipRun, gossip
from hush.vclock import run_virtual

MODEL = LinkModel(LogNormal(median=0.05, sigma=0.5), bandwidth=1_000_000)
MODES = {
    "plain, push": (False, False),
    "plain, geth tick": (False, True),
    "rlpx, push": (True, False),
}


def _once(rlpx: bool, tick: bool, seconds: float) -> tuple[float, float, GossipRun]:
    wall, cpu = time.perf_counter(), time.process_time()
    run: GossipRun = run_virtual(
        gossip(
            seed=1,
            network=MemoryNetwork(seed=1, model=MODEL, rlpx=rlpx),
            relay_policy=(lambda: GETH_TICK) if tick else None,
            run_for=seconds,
        )
    )
    return time.perf_counter() - wall, time.process_time() - cpu, run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=300.0)
    args = parser.parse_args()
    results: dict[str, Any] = {}
    for name, (rlpx, tick) in MODES.items():
        runs = [_once(rlpx, tick, args.seconds) for _ in range(max(1, min(args.runs, 10)))]
        walls = [wall for wall, _, _ in runs]
        run = runs[0][2]
        published = {m: at for at, _, m in run.published}
        delays = sorted(at - published[m] for at, _, m in run.deliveries)
        results[name] = {
            "wall_s_median": round(statistics.median(walls), 2),
            "wall_s_runs": [round(wall, 2) for wall in walls],
            "cpu_s_median": round(statistics.median(cpu for _, cpu, _ in runs), 2),
            "virtual_s": round(run.virtual_seconds, 1),
            "virtual_per_wall": round(run.virtual_seconds / statistics.median(walls), 1),
            "deliveries": len(run.deliveries),
            "delivery_delay_p50_s": round(delays[len(delays) // 2], 3),
            "megabytes_on_links": round(run.bytes_carried / 1e6, 2),
            "replayed_identically": all(r.deliveries == run.deliveries for _, _, r in runs),
        }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
