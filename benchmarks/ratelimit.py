"""What the ingress rate limiter costs per shh packet, against decoding that packet (same run).

Usage: .venv/bin/python benchmarks/ratelimit.py [--packets 20000] [--runs 5] [--flood SECONDS]

Prints JSON: the median µs per `RateLimiter.check` over `runs` runs of `packets` calls, for a
packet that passes, one that exceeds (observe and enforce), the off mode and an exempt peer; and,
as the baseline, decoding a `messages` packet of one small envelope and computing its PoW (what
the node does next with a packet that passes, and skips for one enforce mode drops).

`--flood SECONDS` (at most 10) also runs a flood on loopback for each mode with the default limits:
a peer dialling from 127.0.0.2 sends 40 `messages` packets of 100 envelopes of 8 KB (~800 KB
each, 32 MB in all) as fast as it can, and waits until SECONDS have passed or it is disconnected;
it reports what it sent, what the node pooled, and when it was disconnected.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import time
import timeit
from collections.abc import Callable

from hush.crypto import PrivateKey, SymmetricKey
from hush.enode import Enode
from hush.net import P2PConfig, PeerDisconnected, dial
from hush.node import Node, NodeConfig
from hush.node.ratelimit import RateLimiter
from hush.node.ratelimit_config import RateLimitConfig, RateLimitMode
from hush.shh import packets
from hush.shh.envelope import Envelope
from hush.shh.message import wrap
from hush.shh.packets import PacketCode, Status
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


async def flood(mode: RateLimitMode, seconds: float) -> dict[str, float]:
    config = NodeConfig(
        datadir=None,
        listen_host="127.0.0.1",
        listen_port=0,
        min_pow=0.0,
        pow_processes=1,
        ratelimit=mode,
        ratelimit_exempt_loopback=False,
    )
    async with Node(config) as node:
        real = asyncio.open_connection

        async def from_127_0_0_2(
            host: str, port: int
        ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            return await real(host, port, local_addr=("127.0.0.2", 0))

        asyncio.open_connection = from_127_0_0_2  # type: ignore[assignment]
        try:
            peer = await dial(
                PrivateKey.generate(os.urandom),
                Enode.parse(node.enode),
                P2PConfig(client_id="flood", capabilities=(("shh", 6, 128),)),
            )
        finally:
            asyncio.open_connection = real
        await peer.send_message("shh", PacketCode.STATUS, packets.encode_status(Status()))
        expiry = int(time.time()) + 60
        ready = [  # made before the clock starts: 40 distinct packets of ~800 KB
            packets.encode_messages(
                [
                    Envelope(expiry, 60, Topic(b"abcd"), os.urandom(8000)).encode()
                    for _ in range(100)
                ]
            )
            for _ in range(40)
        ]
        sent_packets = sent_bytes = 0
        disconnected_after = float("nan")
        start = time.monotonic()
        with contextlib.suppress(PeerDisconnected):
            for payload in ready:
                if time.monotonic() - start >= seconds:
                    break
                await peer.send_message("shh", PacketCode.MESSAGES, payload)
                sent_packets += 1
                sent_bytes += len(payload)
                await asyncio.sleep(0)  # the node runs in this process: let it read
            with contextlib.suppress(TimeoutError):  # until the node has read it all, or drops us
                async with asyncio.timeout(max(0.0, seconds - (time.monotonic() - start))):
                    while not peer.closed:
                        await asyncio.sleep(0.01)
        if peer.closed:
            disconnected_after = time.monotonic() - start
        peer.close()
        stats = node.rate_limit_stats()
        return {
            "packets_sent": sent_packets,
            "bytes_sent": sent_bytes,
            "envelopes_sent": sent_packets * 100,
            "envelopes_pooled": len(node.pool),
            "packets_over_limit": sum(
                v for (scope, _, _), v in stats.exceeded.items() if scope.value == "peer_id"
            ),
            "disconnected_after_s": disconnected_after,
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--packets", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--flood", type=float, default=0.0)
    args = parser.parse_args()
    calls, runs = max(100, min(args.packets, 1_000_000)), max(1, min(args.runs, 20))
    results = {"calls": calls, "runs": runs, **limiter_cases(calls, runs), **baseline(calls, runs)}
    results["pass_vs_decode_and_pow"] = (
        results["enforce_pass_us"] / results["baseline_decode_and_pow_us"]
    )
    if args.flood > 0:
        for mode in (RateLimitMode.OBSERVE, RateLimitMode.ENFORCE):
            results[f"flood_{mode.value}"] = asyncio.run(flood(mode, min(args.flood, 10.0)))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
