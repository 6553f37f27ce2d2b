"""`hush bench rpc`: JSON-RPC throughput and delivery latency (numbers go to BENCHMARKS.md).

- posts/s: a node with its HTTP server runs in a child process; 8 clients (one aiohttp session
  each, the parent process) call `shh_post` back to back: symmetric key, PoW target 0.2, TTL 60,
  100-byte payload, random padding. geth 1.9.7 did 368/s on the same load.
- delivery latency: in one process, pre-sealed envelopes are handed to the node (`Node.inject`, the
  same path a peer's envelope takes after decoding) one at a time; the clock stops when the message
  reaches the client, over a WebSocket subscription or a polled filter (`--poll-interval`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import statistics
import time
from typing import Any

import aiohttp
import click

from hush.crypto.symmetric import SymmetricKey
from hush.node import Node, NodeConfig
from hush.rpc import RpcServer
from hush.sealer import Sealer
from hush.shh.message import wrap
from hush.types import Topic

__all__ = ["GETH_POSTS_PER_SECOND", "bench_latency", "bench_posts", "bench_posts_cpu", "command"]

GETH_POSTS_PER_SECOND = 368.0
TOPIC = "0x0b0e0c0d"
PAYLOAD = "0x" + "ab" * 100


def _serve(ready: Any, stop: Any, min_pow: float) -> None:  # pragma: no cover - child process
    async def main() -> None:
        async with Node(NodeConfig(listen=False, datadir=None, min_pow=min_pow)) as node:
            server = RpcServer(node)
            await server.start("127.0.0.1", 0)
            ready.put(server.url)
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, stop.wait)
            await server.stop()

    asyncio.run(main())


async def _rpc(session: aiohttp.ClientSession, url: str, method: str, *params: Any) -> Any:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    async with session.post(url, json=body) as response:
        reply = await response.json()
    if "error" in reply:
        raise RuntimeError(reply["error"]["message"])
    return reply["result"]


async def _load(url: str, clients: int, seconds: float, pow_target: float) -> tuple[int, float]:
    sessions = [aiohttp.ClientSession() for _ in range(clients)]
    try:
        sym_id = await _rpc(sessions[0], url, "shh_newSymKey")
        message = {
            "symKeyID": sym_id,
            "topic": TOPIC,
            "payload": PAYLOAD,
            "ttl": 60,
            "powTarget": pow_target,
            "powTime": 5,
        }
        for session in sessions:  # warm-up: connections open, code paths hot
            await _rpc(session, url, "shh_post", message)
        done = 0
        started = time.perf_counter()
        deadline = started + seconds

        async def worker(session: aiohttp.ClientSession) -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                await _rpc(session, url, "shh_post", message)
                done += 1

        await asyncio.gather(*(worker(s) for s in sessions))
        return done, time.perf_counter() - started
    finally:
        for session in sessions:
            await session.close()


def _cpu_seconds(pid: int) -> float:
    """CPU time of a process, its threads and (recursively) its live children, from /proc;
    0 where /proc isn't there."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as children:
                total += sum(_cpu_seconds(int(child)) for child in children.read().split())
    except (OSError, IndexError, ValueError):
        return 0.0
    return total


def bench_posts(clients: int = 8, seconds: float = 5.0, pow_target: float = 0.2) -> float:
    """shh_post calls per second against a node in a child process."""
    return bench_posts_cpu(clients, seconds, pow_target)[0]


def bench_posts_cpu(
    clients: int = 8, seconds: float = 5.0, pow_target: float = 0.2
) -> tuple[float, float]:
    """shh_post calls per second, and the node's CPU milliseconds per call (its sealing
    processes, if any, included): the second varies less with the machine's other load."""
    context = multiprocessing.get_context("spawn")
    ready, stop = context.Queue(), context.Event()
    child = context.Process(target=_serve, args=(ready, stop, min(pow_target, 0.2)))
    child.start()
    try:
        url = ready.get(timeout=30)
        assert child.pid is not None
        before = _cpu_seconds(child.pid)
        done, elapsed = asyncio.run(_load(url, clients, seconds, pow_target))
        used = _cpu_seconds(child.pid) - before  # includes the warm-up's few posts
        return done / elapsed, used * 1e3 / max(1, done)
    finally:
        stop.set()
        child.join(10)
        if child.is_alive():
            child.terminate()


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"p50_ms": statistics.median(ordered) * 1e3, "p99_ms": p99 * 1e3}


async def _latency(count: int, poll_interval: float) -> dict[str, dict[str, float]]:
    key = SymmetricKey(os.urandom(32))
    topic = Topic(bytes.fromhex(TOPIC[2:]))
    with Sealer(1) as sealer:
        envelopes = [
            sealer.seal(
                wrap(bytes(100), topic, int(time.time()), os.urandom, ttl=60, sym_key=key), 0.2, 5
            )
            for _ in range(2 * count)
        ]
    results: dict[str, dict[str, float]] = {}
    async with Node(NodeConfig(listen=False, datadir=None, pow_processes=1)) as node:
        server = RpcServer(node)
        await server.start("127.0.0.1", 0)
        try:
            async with aiohttp.ClientSession() as session:
                sym_id = await _rpc(session, server.url, "shh_addSymKey", "0x" + key.secret.hex())
                criteria = {"symKeyID": sym_id, "topics": [TOPIC]}
                ws_url = server.url.replace("http://", "ws://")
                samples: list[float] = []
                async with session.ws_connect(ws_url) as ws:
                    await ws.send_json(
                        {
                            "jsonrpc": "2.0",
                            "id": 1,
                            "method": "shh_subscribe",
                            "params": ["messages", criteria],
                        }
                    )
                    await ws.receive_json()
                    for envelope in envelopes[:count]:
                        started = time.perf_counter()
                        await node.inject(envelope)
                        await ws.receive_json()
                        samples.append(time.perf_counter() - started)
                results["subscription"] = _percentiles(samples)
                filter_id = await _rpc(session, server.url, "shh_newMessageFilter", criteria)
                injected: dict[str, float] = {}
                samples = []

                async def poll() -> None:
                    while True:
                        found = await _rpc(session, server.url, "shh_getFilterMessages", filter_id)
                        now = time.perf_counter()
                        samples.extend(now - injected[m["hash"]] for m in found)
                        await asyncio.sleep(poll_interval)

                poller = asyncio.ensure_future(poll())
                for envelope in envelopes[count:]:
                    # arrivals at a random phase of the poll cycle, as real ones would be
                    await asyncio.sleep(poll_interval * (1 + os.urandom(1)[0] / 256))
                    injected["0x" + envelope.hash.hex()] = time.perf_counter()
                    await node.inject(envelope)
                while len(samples) < count:
                    await asyncio.sleep(poll_interval)
                poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poller
                results["polled"] = _percentiles(samples)
        finally:
            await server.stop()
    return results


def bench_latency(count: int = 200, poll_interval: float = 0.05) -> dict[str, dict[str, float]]:
    return asyncio.run(_latency(count, poll_interval))


@click.command(name="rpc")
@click.option("--clients", type=int, default=8, show_default=True)
@click.option("--seconds", type=float, default=5.0, show_default=True)
@click.option("--messages", type=int, default=200, show_default=True, help="Latency samples.")
@click.option("--poll-interval", type=float, default=0.05, show_default=True)
@click.option(
    "--pow",
    "pow_target",
    type=float,
    default=0.2,
    show_default=True,
    help="PoW target of the posts (0: the cost of RPC and pool alone).",
)
@click.option("--json", "as_json", is_flag=True)
def command(
    clients: int,
    seconds: float,
    messages: int,
    poll_interval: float,
    pow_target: float,
    as_json: bool,
) -> None:
    """shh_post/s with concurrent HTTP clients; subscription and polled delivery latency."""
    rate, cpu_ms = bench_posts_cpu(clients, seconds, pow_target)
    latency = bench_latency(messages, poll_interval)
    result = {
        "posts_per_second": rate,
        "node_cpu_ms_per_post": cpu_ms,
        "clients": clients,
        "pow_target": pow_target,
        "geth_posts_per_second": GETH_POSTS_PER_SECOND,
        "latency": latency,
        "poll_interval_s": poll_interval,
    }
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(
        f"shh_post: {rate:.0f}/s with {clients} clients (geth 1.9.7: {GETH_POSTS_PER_SECOND:.0f}/s),"
        f" {cpu_ms:.2f} ms of node CPU per post"
    )
    for mode, numbers in latency.items():
        click.echo(
            f"{mode} delivery: p50 {numbers['p50_ms']:.2f} ms, p99 {numbers['p99_ms']:.2f} ms"
        )
