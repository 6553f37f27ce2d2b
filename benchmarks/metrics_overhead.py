"""What counting costs: one loopback link with and without a NodeStats on both nodes (same run).

Usage: .venv/bin/python benchmarks/metrics_overhead.py [--envelopes 10000] [--runs 3]

Two nodes on 127.0.0.1, min PoW 0; pre-built 256-byte envelopes injected at A are counted as
they enter B's pool (as `hush bench net` does). Runs alternate plain / observed so the machine's
other load falls on both alike. Prints JSON: per variant the median envelopes/s and CPU seconds
per 1,000 envelopes (both nodes share this process), and the observed/plain ratios. Bounded:
at most 50,000 envelopes a run, 60 s a run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time

from hush.crypto.symmetric import SymmetricKey
from hush.metrics import NodeStats
from hush.node import Node, NodeConfig
from hush.shh.envelope import Envelope
from hush.shh.message import wrap
from hush.types import Topic

TOPIC = Topic(b"\xbe\x7c\x40\x01")
KEY = SymmetricKey(bytes(range(64, 96)))


def _config() -> NodeConfig:
    return NodeConfig(
        datadir=None, listen_host="127.0.0.1", listen_port=0, min_pow=0.0, pow_processes=1
    )


async def _run(envelopes: list[Envelope], observed: bool) -> tuple[float, float]:
    observers = (lambda: [NodeStats()]) if observed else (lambda: [])
    a, b = Node(_config(), observers=observers()), Node(_config(), observers=observers())
    await a.start()
    await b.start()
    try:
        a.add_peer(b.enode)
        async with asyncio.timeout(10):
            while not (len(a.peers()) and len(b.peers())):
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)  # both status packets handled
        count = len(envelopes)
        cpu0, t0 = time.process_time(), time.perf_counter()
        for index, envelope in enumerate(envelopes):
            await a.inject(envelope)
            if index % 500 == 499:
                await asyncio.sleep(0)
        async with asyncio.timeout(60):
            while len(b.pool) < count:
                await asyncio.sleep(0.002)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    finally:
        await a.stop()
        await b.stop()
    return count / elapsed, cpu / count * 1000


async def main(count: int, runs: int) -> dict[str, object]:
    results: dict[str, list[tuple[float, float]]] = {"plain": [], "observed": []}
    for _ in range(runs):
        for name in ("plain", "observed"):
            now = int(time.time())
            envelopes = [
                wrap(os.urandom(150), TOPIC, now, os.urandom, ttl=300, sym_key=KEY)
                for _ in range(count)
            ]
            results[name].append(await _run(envelopes, name == "observed"))
    summary: dict[str, object] = {"envelopes": count, "runs": runs}
    for name, values in results.items():
        summary[name] = {
            "envelopes_per_s": round(statistics.median(v[0] for v in values)),
            "cpu_s_per_1000": round(statistics.median(v[1] for v in values), 4),
            "all_envelopes_per_s": [round(v[0]) for v in values],
        }
    plain, observed = results["plain"], results["observed"]
    summary["ratio_envelopes_per_s"] = round(
        statistics.median(v[0] for v in observed) / statistics.median(v[0] for v in plain), 3
    )
    summary["ratio_cpu"] = round(
        statistics.median(v[1] for v in observed) / statistics.median(v[1] for v in plain), 3
    )
    return summary


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envelopes", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    count = max(100, min(args.envelopes, 50_000))
    print(json.dumps(asyncio.run(main(count, max(1, min(args.runs, 10)))), indent=2))
