"""`hush sim` at scale: real nodes on a random 8-regular graph under geth's 300 ms tick, one
gossip run; prints wall and CPU seconds, packets handled per wall second, peak RSS, and the
measured bytes received per node per day against Vac's model cases (issue 9 "Scale and speed").
Progress lines (virtual time, CPU and wall seconds, peak RSS) go to stderr.

Usage: .venv/bin/python benchmarks/sim_scale.py [--nodes 200] [--messages 200] [--relay geth]
       [--workers 2]   (one run on two processes: CPU s is both processes', wall the parent's)
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

from hush.sim.results import checks, summarise
from hush.sim.runner import run_scenario
from hush.sim.scenario import LinksSpec, Scenario, TopologySpec, WorkloadSpec


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--degree", type=int, default=8)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--relay", default="geth")
    parser.add_argument("--publish-over", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=1, help="processes (2: both cores)")
    args = parser.parse_args()
    scenario = Scenario(
        name="scale",
        seed=1,
        duration=args.publish_over + 5.0,
        relay=args.relay,
        sample_every=5.0,
        workers=args.workers,
        topology=TopologySpec(kind="regular", nodes=args.nodes, degree=args.degree),
        links=LinksSpec(latency="uniform", low=0.02, high=0.12),
        workload=WorkloadSpec(
            kind="gossip", messages=args.messages, topics=10, publish_over=args.publish_over
        ),
    )

    def progress(done: float, total: float, posts: int) -> None:
        # on stderr: a run killed at its bound still says how far it got (the first line comes
        # once every link is up)
        # (with --workers 2: the parent's worker, which holds node 0)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"virtual {done:.1f}/{total:.1f} s, {posts} posts, {time.process_time():.1f} CPU s, "
            f"{time.perf_counter() - began:.1f} wall s, peak RSS {rss:.0f} MB",
            file=sys.stderr,
            flush=True,
        )

    began = time.perf_counter()
    trace = run_scenario(scenario, progress)
    numbers = summarise(trace)
    packets = sum(sum(t.packets_in.values()) for t in trace.taps)
    print(
        json.dumps(
            {
                "nodes": args.nodes,
                "messages": args.messages,
                "relay": args.relay,
                "virtual_s": round(trace.virtual_seconds, 1),
                "wall_s": round(trace.wall_seconds, 1),
                "cpu_s": round(trace.cpu_seconds, 1),
                "packets_handled": packets,
                "packets_per_wall_s": round(packets / trace.wall_seconds),
                "peak_rss_mb": round(trace.peak_rss_mb),
                "delivery_ratio": numbers["delivery_ratio"],
                "latency_p50_s": numbers["latency_s"]["p50"],
                "duplicate_factor": round(numbers["duplicate_factor"], 2),
                "checks": [c.line() for c in checks(trace, numbers)],
                "parallel": trace.parallel,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
