"""What one pooled envelope really costs in memory: tracemalloc over many inserts, per size class.

Counts everything a received envelope leaves behind in the node: its encoding (sliced out of the
packet, as on receipt), the pool's entry, index and expiry/eviction structures, and one "known"
mark per peer in two peers' known sets (the sender's and the peer it is relayed to). Envelopes
are built directly (PoW 0, a pool with minimum PoW 0): sealing is not what is measured.

    .venv/bin/python benchmarks/hostile_pool_memory.py [--count 100000] [--json]

Runs against whichever `hush` is importable (PYTHONPATH=/path/to/other/src for a baseline); it
adapts to the older API (pool.add(envelope, now), mark_known(hash, expiry)).
"""

from __future__ import annotations

import argparse
import gc
import inspect
import json
import os
import time
import tracemalloc
from typing import Any

from hush.shh.envelope import Envelope
from hush.shh.peer import ShhPeer
from hush.shh.pool import EnvelopePool
from hush.shh.topic import topic_to_bloom
from hush.types import Topic

_NEW_API = "source" in inspect.signature(EnvelopePool.add).parameters


def measure(count: int, payload: int, peers: int = 2) -> dict[str, float]:
    now = int(time.time())
    encoded = [
        Envelope(now + 10 + i % 50, 60, Topic(os.urandom(4)), os.urandom(payload), i).encode()
        for i in range(count)
    ]
    packet = b"".join(encoded)
    bounds, offset = [], 0
    for raw in encoded:
        bounds.append((offset, offset + len(raw)))
        offset += len(raw)
    del encoded
    wire = len(packet)
    for _ in range(70_000):  # fill the process-wide topic → bloom cache (bounded) beforehand
        topic_to_bloom(Topic(os.urandom(4)))
    gc.collect()
    tracemalloc.start()
    pool = EnvelopePool(min_pow=0.0, max_bytes=1 << 40)
    known = [ShhPeer() for _ in range(peers)]
    before = tracemalloc.get_traced_memory()[0]
    for start, stop in bounds:
        envelope = Envelope.decode(packet[start:stop])
        if _NEW_API:
            outcome = pool.add(envelope, now, source=b"peer")
            assert outcome.entry is not None
            for peer in known:  # as the node does: the entry's hash object, shared
                if peer.mark_known(outcome.entry.hash):  # type: ignore[call-arg]
                    pool.mark_known(outcome.entry.hash)  # type: ignore[attr-defined]
        else:
            outcome = pool.add(envelope, now)
            assert outcome.entry is not None
            for peer in known:
                peer.mark_known(outcome.entry.hash, envelope.expiry)  # type: ignore[call-arg]
    del envelope, outcome
    gc.collect()
    total = tracemalloc.get_traced_memory()[0] - before
    known_bytes = 0
    for peer in known:  # what the known sets alone hold: drop them and see
        start = tracemalloc.get_traced_memory()[0]
        peer.known = type(peer.known)()
        known_bytes += start - tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    entry_bytes = total - known_bytes
    return {
        "payload": payload,
        "count": count,
        "wire_b": wire / count,
        "traced_b": total / count,
        "entry_overhead_b": (entry_bytes - wire) / count,
        "known_mark_b": known_bytes / count / peers,
        "accounted_b": pool.bytes_used / count,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results: list[dict[str, Any]] = [
        measure(count, payload)
        for payload in (4, 100, 1000)
        for count in sorted({args.count // 3, 43_700, 87_400, args.count * 2 // 3, args.count})
    ]
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print("payload count  wire  traced/env  entry-overhead  known-mark  accounted/env (bytes)")
    for r in results:
        print(
            f"{r['payload']:>7} {r['count']:>6} {r['wire_b']:>5.0f} {r['traced_b']:>11.0f}"
            f" {r['entry_overhead_b']:>15.0f} {r['known_mark_b']:>11.0f} {r['accounted_b']:>14.0f}"
        )


if __name__ == "__main__":
    main()
