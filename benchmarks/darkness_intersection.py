"""The intersection attack of simulation.md §5.4 on a topic-linked user (`hush.sim.intersection`).

Usage: .venv/bin/python benchmarks/darkness_intersection.py [--nodes 1000] [--seeds 5]
       [--users 10] [--hours 24] [--interval 600] [--p 0.1,0.2]

Per graph seed, ⌊pN⌋ spies and `users` honest users who post on one topic every `interval`
seconds for `hours`, under hush's default one-hop stem (the `stem` policy: geth everywhere
else). Two stem epochs, same graphs, users and spies: the default (the stem peer kept all day,
as hush keeps it per connection, ≤ 1 day) and a stem peer drawn anew for every post (what §5.4
calls fatal). Prints JSON: for each p and epoch, each aggregation's fraction of users uniquely
identified, inside their final set, the final set's size (mean ± 95 % CI over seeds), the median
posts until unique, and the fraction whose stem peer is a spy; CPU and wall seconds.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from typing import Any

from hush.sim.intersection import DAY, IntersectionConfig, run_intersection


def _ci(estimate: Any) -> list[float]:
    return [round(estimate.mean, 3), round(estimate.ci95, 3)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--degree", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--interval", type=float, default=600.0)
    parser.add_argument("--p", default="0.1,0.2")
    args = parser.parse_args()
    out: dict[str, Any] = {"setup": vars(args)}
    wall, cpu = time.perf_counter(), time.process_time()
    for p in (float(x) for x in args.p.split(",")):
        for label, epoch in (("day", DAY), ("per_post", args.interval)):
            config = IntersectionConfig(
                nodes=args.nodes,
                degree=args.degree,
                p=p,
                seeds=args.seeds,
                users=args.users,
                hours=args.hours,
                interval=args.interval,
                epoch=epoch,
            )
            result = run_intersection(config)
            out[f"p{p:g}_{label}"] = {
                "posts": result.posts,
                "users": result.users,
                "stem_peer_spy": _ci(result.stem_peer_spy),
                **{
                    name: {
                        "identified": _ci(v.identified),
                        "in_set": _ci(v.in_set),
                        "set_size": _ci(v.set_size),
                        "posts_to_unique": None
                        if math.isinf(v.posts_to_unique)
                        else v.posts_to_unique,
                    }
                    for name, v in result.verdicts.items()
                },
            }
    out["wall_s"] = round(time.perf_counter() - wall, 1)
    out["cpu_s"] = round(time.process_time() - cpu, 1)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
