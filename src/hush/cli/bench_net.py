"""`hush bench net`: two nodes on loopback, one devp2p link between them.

- throughput: pre-sealed 256-byte envelopes injected at A, counted as they enter B's pool;
  sustained envelopes/s over the link, and CPU seconds per 1,000 envelopes (both nodes' work:
  they share this process and its core, so the rate is a floor).
- latency: one envelope at a time, from A's pool to B's subscription (one hop): p50/p99, with
  arrivals spaced at random (0–50 ms, or one tick) so the send interval's coalescing shows as it would; and,
  in the same run, the same with geth's timing (a fixed 300 ms tick) as the baseline.
- memory: resident size of a fresh process with one node idle, then with 10,000 pooled
  envelopes (a separate process, so the benchmark's own buffers don't count).
The nodes run with min PoW 0: sealing is measured by `hush bench pow`, not here.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import random
import statistics
import subprocess
import sys
import time
from typing import Any

import click

from hush.crypto.symmetric import SymmetricKey
from hush.node import GETH_TICK, Node, NodeConfig, RelayPolicy
from hush.shh.envelope import Envelope
from hush.shh.filters import Filter
from hush.shh.message import wrap
from hush.types import Topic

__all__ = ["bench_net", "command"]

_TOPIC = Topic(b"\xbe\x7c\x40\x00")
_KEY = SymmetricKey(bytes(range(64, 96)))
_PAYLOAD = 150  # flags+size+payload+padding = 256 bytes of plaintext


def _config() -> NodeConfig:
    return NodeConfig(
        datadir=None, listen_host="127.0.0.1", listen_port=0, min_pow=0.0, pow_processes=1
    )


def _envelopes(count: int, ttl: int = 300) -> list[Envelope]:
    now = int(time.time())
    return [
        wrap(os.urandom(_PAYLOAD), _TOPIC, now, os.urandom, ttl=ttl, sym_key=_KEY)
        for _ in range(count)
    ]


async def _linked(policy: RelayPolicy | None = None) -> tuple[Node, Node]:
    a, b = Node(_config(), relay_policy=policy), Node(_config(), relay_policy=policy)
    await a.start()
    await b.start()
    a.add_peer(b.enode)
    async with asyncio.timeout(10):
        while not (a._peers and b._peers and all(p.shh.active for p in a._peers.values())):
            await asyncio.sleep(0.01)
    return a, b


async def _throughput(count: int) -> dict[str, float]:
    a, b = await _linked()
    try:
        envelopes = _envelopes(count)
        cpu0, t0 = time.process_time(), time.perf_counter()
        for envelope in envelopes:
            await a.inject(envelope)
            if len(a.pool) % 500 == 0:
                await asyncio.sleep(0)  # let the link drain as a real sender would
        async with asyncio.timeout(120):
            while len(b.pool) < count:
                await asyncio.sleep(0.002)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    finally:
        await a.stop()
        await b.stop()
    return {
        "envelopes": count,
        "envelopes_per_s": count / elapsed,
        "cpu_s_per_1000": cpu / count * 1000,
    }


async def _latency(samples: int, policy: RelayPolicy | None = None) -> dict[str, float]:
    a, b = await _linked(policy)
    try:
        inbox = b.subscribe(Filter(sym_key=_KEY, topics=frozenset({_TOPIC})))
        delays = []
        spacing = random.Random(1)
        # Arrivals spread over at least one send interval, so they are not in step with it.
        longest_gap = max(0.05, a.relay_policy.interval)
        for envelope in _envelopes(samples):
            start = time.perf_counter()
            await a.inject(envelope)
            async with asyncio.timeout(5):
                await inbox.get()
            delays.append((time.perf_counter() - start) * 1000)
            await asyncio.sleep(spacing.uniform(0, longest_gap))
    finally:
        await a.stop()
        await b.stop()
    delays.sort()
    return {
        "samples": samples,
        "p50_ms": statistics.median(delays),
        "p99_ms": delays[min(len(delays) - 1, int(len(delays) * 0.99))],
    }


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def _memory_probe(count: int) -> dict[str, float]:
    node = Node(_config())
    await node.start()
    try:
        gc.collect()
        idle = _rss_mib()
        for envelope in _envelopes(count):
            await node.inject(envelope)
        gc.collect()
        return {"rss_idle_mib": idle, "rss_pooled_mib": _rss_mib(), "pooled": node.info().pooled}
    finally:
        await node.stop()


def _memory(count: int) -> dict[str, float]:
    """Run the probe in a fresh interpreter, so only a node's own memory is counted."""
    code = f"import asyncio, json; from hush.cli.bench_net import _memory_probe; print(json.dumps(asyncio.run(_memory_probe({count}))))"
    output = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    ).stdout
    result: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    return result


def bench_net(count: int, samples: int, pooled: int) -> dict[str, Any]:
    return {
        "link": asyncio.run(_throughput(count)),
        "one_hop_latency": asyncio.run(_latency(samples)),
        "one_hop_latency_geth_tick": asyncio.run(_latency(max(10, samples // 4), GETH_TICK)),
        "memory": _memory(pooled),
        "targets": {"envelopes_per_s": 5000, "p50_ms": 50, "rss_pooled_mib": 100},
        "geth_1_9_7": {"p50_ms": 140, "p99_ms": 290, "rss_pooled_mib": 428},
    }


@click.command(name="net")
@click.option("--envelopes", "count", type=click.IntRange(100), default=20_000, show_default=True)
@click.option("--samples", type=click.IntRange(10), default=200, show_default=True)
@click.option("--pooled", type=click.IntRange(0), default=10_000, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def command(count: int, samples: int, pooled: int, as_json: bool) -> None:
    """Envelopes/s over one link, one-hop latency, CPU per envelope and memory."""
    result = bench_net(count, samples, pooled)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    for section, values in result.items():
        click.echo(f"{section}:")
        for name, value in values.items():
            shown = f"{value:,.2f}" if isinstance(value, float) else str(value)
            click.echo(f"  {name}: {shown}")
