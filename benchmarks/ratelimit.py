"""What the ingress rate limiter costs per shh packet, against decoding that packet (same run).

Usage: .venv/bin/python benchmarks/ratelimit.py [--packets 20000] [--runs 5]

Prints JSON: the median µs per `RateLimiter.check` over `runs` runs of `packets` calls, for a
packet that passes, one that exceeds (observe and enforce), the off mode and an exempt peer; and,
as the baseline, decoding a `messages` packet of one small envelope and computing its PoW (what
the node does next with a packet that passes, and skips for one enforce mode drops).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import timeit
from collections.abc import Callable

from hush.crypto import SymmetricKey
from hush.node.ratelimit import RateLimitConfig, RateLimiter, RateLimitMode
from hush.shh import packets
from hush.shh.message import wrap
from hush.types import Topic

PEER = bytes(range(64))


def per_call_us(function: Callable[[], object], calls: int, runs: int) -> float:
    return statistics.median(
        timeit.timeit(function, number=calls) / calls * 1e6 for _ in range(runs)
    )


def limiter_cases(calls: int, runs: int) -> dict[str, float]:
    results: dict[str, float] = {}
    for mode in (RateLimitMode.OBSERVE, RateLimitMode.ENFORCE):
        limiter = RateLimiter(RateLimitConfig(mode=mode, exempt_loopback=False))
        clock = [0.0]

        def passing(limiter: RateLimiter = limiter, clock: list[float] = clock) -> None:
            clock[0] += 0.06  # a 1000-byte packet every 60 ms: within 20/s and 1 MiB/s
            limiter.check(PEER, "192.0.2.1", 1000, clock[0])

        def exceeding(limiter: RateLimiter = limiter, clock: list[float] = clock) -> None:
            limiter.check(PEER, "192.0.2.1", 1000, clock[0])  # no time passes: over the limit

        results[f"{mode.value}_pass_us"] = per_call_us(passing, calls, runs)
        for _ in range(100):
            exceeding()
        results[f"{mode.value}_exceed_us"] = per_call_us(exceeding, calls, runs)
    off = RateLimiter(RateLimitConfig(mode=RateLimitMode.OFF))
    results["off_us"] = per_call_us(lambda: off.check(PEER, "192.0.2.1", 1000, 0.0), calls, runs)
    exempt = RateLimiter(RateLimitConfig())
    results["exempt_loopback_us"] = per_call_us(
        lambda: exempt.check(PEER, "127.0.0.1", 1000, 0.0), calls, runs
    )
    return results


def baseline(calls: int, runs: int) -> dict[str, float]:
    key = SymmetricKey(bytes(range(1, 33)))
    envelope = wrap(b"x", Topic(b"abcd"), int(time.time()), os.urandom, sym_key=key)
    payload = packets.encode_messages([envelope.encode()])
    return {
        "baseline_decode_us": per_call_us(lambda: packets.decode_messages(payload), calls, runs),
        "baseline_decode_and_pow_us": per_call_us(
            lambda: [e.pow() for e in packets.decode_messages(payload)], calls // 4, runs
        ),
        "baseline_packet_bytes": len(payload),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--packets", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    calls, runs = max(100, min(args.packets, 1_000_000)), max(1, min(args.runs, 20))
    results = {"calls": calls, "runs": runs, **limiter_cases(calls, runs), **baseline(calls, runs)}
    results["pass_vs_decode_and_pow"] = (
        results["enforce_pass_us"] / results["baseline_decode_and_pow_us"]
    )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
