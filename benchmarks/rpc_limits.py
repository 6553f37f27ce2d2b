"""Issue 7's RPC attacks, measured: key creation cost as the store grows, one batch of
shh_newKeyPair against the event loop, and a polled filter fed 1 MiB messages.

Uses only APIs the code before the fix had too, so the baseline runs from the same script:
    .venv/bin/python benchmarks/rpc_limits.py                     # this tree
    PYTHONPATH=/path/to/old/src .venv/bin/python benchmarks/rpc_limits.py   # a baseline
Bounded: ~25,000 keys, one batch (4,000 items, or the server's batch cap), 120 messages.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
import tracemalloc
from typing import Any

from hush.node import Node, NodeConfig
from hush.node.keystore import KeyStore
from hush.rpc import CallContext, Dispatcher, ShhApi
from hush.shh.filters import Filter, FilterSet
from hush.shh.message import wrap
from hush.types import KeyID, Topic


def key_creation() -> dict[str, float]:
    """µs per new symmetric key id with 0 and with 20,000 keys already held (median of 5 x 500)."""
    store = KeyStore(os.urandom)
    out = {}
    for held in (0, 20_000):
        while len(store.sym_keys) < held:
            store.new_sym_key()
        runs = []
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(500):
                store.new_sym_key()
            runs.append((time.perf_counter() - start) / 500 * 1e6)
            for key_id in list(store.sym_keys)[held:]:
                store.delete_sym_key(key_id)
        out[f"us_per_key_with_{held}"] = statistics.median(runs)
    return out


async def batch_stall(items: int) -> dict[str, Any]:
    """One batch of `items` shh_newKeyPair through the dispatcher, with a 1 ms ticker beside it:
    the longest gap between ticks is how long the node was frozen."""
    async with Node(NodeConfig(listen=False, datadir=None, pow_processes=1)) as node:
        dispatcher = Dispatcher(ShhApi(node).methods())
        body = json.dumps(
            [{"jsonrpc": "2.0", "id": i, "method": "shh_newKeyPair"} for i in range(items)]
        )
        gaps: list[float] = []
        done = asyncio.Event()

        async def ticker() -> None:
            last = time.perf_counter()
            while not done.is_set():
                await asyncio.sleep(0.001)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        tick = asyncio.ensure_future(ticker())
        await asyncio.sleep(0.01)
        start = time.perf_counter()
        reply = await dispatcher.handle_body(body, CallContext())
        elapsed = time.perf_counter() - start
        done.set()
        await tick
        answered = len(reply) if isinstance(reply, list) else 0
        refused = isinstance(reply, list) and "error" in reply[0] and answered == 1
        return {
            "items": items,
            "seconds": round(elapsed, 3),
            "keys_made": len(node.keys.private_keys),
            "refused_as_too_large": refused,
            "longest_loop_stall_ms": round(max(gaps) * 1e3, 1),
        }


def filter_store(messages: int = 120, size: int = 1024 * 1024) -> dict[str, float]:
    """MiB a never-polled filter holds after `messages` 1 MiB messages (tracemalloc)."""
    key = KeyStore(os.urandom)
    key_id = key.new_sym_key()
    sym = key.sym_key(key_id)
    topic = Topic(b"\x01\x02\x03\x04")
    filters = FilterSet()
    filters.install(KeyID("f"), Filter(sym_key=sym))
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    peak_held = 0
    for _ in range(messages):
        envelope = wrap(os.urandom(size), topic, 1_700_000_000, os.urandom, sym_key=sym)
        filters.notify(envelope, 1.0, envelope.hash)
        del envelope
        peak_held = max(peak_held, tracemalloc.get_traced_memory()[0] - base)
    held = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return {"messages": messages, "held_mib": round(held / 2**20, 1)}


def main() -> None:
    result: dict[str, Any] = {"key_creation": key_creation()}
    result["batch_1000"] = asyncio.run(batch_stall(1000))
    result["batch_4000"] = asyncio.run(batch_stall(4000))
    result["filter_store"] = filter_store()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
