"""A flood of tiny (or, with --size, large) envelopes against one node, on loopback (issue 7).

Three processes, so that each one's CPU and memory are its own:
- the node under attack (`--serve`): a hush node with JSON-RPC, a 32 MiB pool, minimum PoW 0.01,
  and a monitor task that records the event loop's longest stall;
- the flooder (`--flood`): a raw shh peer built with hush.net.dial that sends `--count` tiny
  envelopes (4-byte data, TTL 30, PoW just over 0.01: 3 bits) in `messages` packets of 20,000;
  with `--size N`, envelopes of N bytes of data (as many per packet as fit in 1 MiB), so that
  `--count` × N can be many times the pool's cap;
- this process: an honest hush node peered with the attacked one, posting pre-sealed envelopes
  (PoW 0.2) every 25 ms during the flood, and an honest JSON-RPC client calling `shh_info` every
  10 ms and timing each call. The attacked node holds a filter for the honest topic (over RPC);
  delivery is what that filter holds at the end.
Reported: RPC latency p50/p99/max during the flood, honest delivery, the attacked node's RSS growth
and accounted pool memory, and its longest event-loop stall.

    .venv/bin/python benchmarks/hostile_flood.py [--count 200000] [--size 4] [--json]
    .venv/bin/python benchmarks/hostile_flood.py --count 3400 --size 100000   # 10x the cap

Runs against whichever `hush` is importable (PYTHONPATH=/path/to/other/src for a baseline).
Everything is bounded: the flood's size, the honest posts (200), and a 300 s overall timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from typing import Any

import aiohttp

from hush.crypto import PrivateKey, SymmetricKey
from hush.crypto.keccak import keccak256
from hush.enode import Enode
from hush.net import P2PConfig, dial
from hush.node import Node, NodeConfig
from hush.rpc.server import RpcServer
from hush.sealer import Sealer
from hush.shh import packets
from hush.shh.envelope import Envelope, leading_zero_bits
from hush.shh.message import wrap
from hush.shh.packets import PacketCode, Status
from hush.shh.pow import NonceSearch, target_bits
from hush.types import Topic

FLOOD_TOPIC = Topic(b"\xde\xad\x00\x01")
HONEST_TOPIC = Topic(b"\x0b\x0e\x57\x01")
HONEST_KEY = SymmetricKey(bytes(range(100, 132)))
POOL_BYTES = 32 * 1024 * 1024
MIN_POW = 0.01
PER_PACKET = 20_000
HONEST_POSTS = 200
_MARK = 7.0  # the flooder's PoW requirement once its flood is sent


def _config(**changes: Any) -> NodeConfig:
    settings: dict[str, Any] = {
        "datadir": None,
        "listen_host": "127.0.0.1",
        "listen_port": 0,
        "min_pow": MIN_POW,
        "pool_bytes": POOL_BYTES,
        "pow_processes": 1,
    }
    settings.update(changes)
    return NodeConfig(**settings)


def _rss_mib(pid: int | str = "self") -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# -- the node under attack -----------------------------------------------------------------------


async def _serve() -> None:
    node = Node(_config())
    await node.start()
    rpc = RpcServer(node)
    await rpc.start("127.0.0.1", 0)
    loop = asyncio.get_running_loop()
    worst = 0.0

    async def monitor() -> None:
        nonlocal worst
        while True:
            start = loop.time()
            await asyncio.sleep(0.005)
            worst = max(worst, loop.time() - start - 0.005)

    def report() -> None:
        stats = {
            "max_stall_ms": worst * 1000,
            "rss_mib": _rss_mib(),
            "pooled": len(node.pool),
            "flood_processed": any(p.pow_requirement == _MARK for p in node.peers()),
        }
        print(json.dumps(stats), flush=True)

    def reset() -> None:
        nonlocal worst
        worst = 0.0

    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGUSR1, report)
    loop.add_signal_handler(signal.SIGUSR2, reset)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    watcher = asyncio.ensure_future(monitor())
    print(json.dumps({"enode": node.enode, "rpc": rpc.url}), flush=True)
    await stop.wait()
    watcher.cancel()
    await rpc.stop()
    await node.stop()


# -- the flooder ---------------------------------------------------------------------------------


def _large_envelopes(first: int, count: int, size: int) -> list[bytes]:
    """Envelopes of `size` data bytes with just enough PoW, sealed now by the C nonce loop
    (thousands of hashes each: sealed packet by packet, so none is stale when it is sent)."""
    now = int(time.time())
    result = []
    for i in range(first, first + count):
        data = i.to_bytes(4, "big") + bytes(size - 4)
        envelope = Envelope(now + 30, 30, FLOOD_TOPIC, data, 0)
        found = NonceSearch(envelope.short_rlp()).find(0, 1 << 40, target_bits(MIN_POW, size, 30))
        assert found is not None
        result.append(envelope.with_nonce(found.nonce).encode())
    return result


def _flood_envelopes(count: int) -> list[bytes]:
    """Tiny envelopes with just enough PoW (searched here: ~8 hashes each)."""
    now = int(time.time())
    result = []
    for i in range(count):
        envelope = Envelope(now + 30, 30, FLOOD_TOPIC, i.to_bytes(4, "big"), 0)
        short = envelope.short_rlp()
        nonce = 0
        while True:
            bits = leading_zero_bits(keccak256(short + nonce.to_bytes(8, "big")))
            if 2**bits / len(short) / 30 >= MIN_POW:
                break
            nonce += 1
        result.append(envelope.with_nonce(nonce).encode())
    return result


async def _flood(enode: str, count: int, size: int) -> None:
    large = size > 64
    per_packet = min(PER_PACKET, (1024 * 1024 - 1024) // (size + 32)) if large else PER_PACKET
    encoded = [] if large else _flood_envelopes(count)
    payloads = [
        packets.encode_messages(encoded[i : i + per_packet])
        for i in range(0, len(encoded), per_packet)
    ]
    config = P2PConfig(client_id="flooder", capabilities=(("shh", 6, 128),))
    connection = await dial(PrivateKey.generate(os.urandom), Enode.parse(enode), config)
    await connection.send_message("shh", PacketCode.STATUS, packets.encode_status(Status()))
    print("ready", flush=True)
    sys.stdin.readline()  # go
    start = time.perf_counter()
    for payload in payloads:
        await connection.send_message("shh", PacketCode.MESSAGES, payload)
    for first in range(0, count if large else 0, per_packet):
        batch = _large_envelopes(first, min(per_packet, count - first), size)
        await connection.send_message("shh", PacketCode.MESSAGES, packets.encode_messages(batch))
    # Processed in order after the flood: when the node has it, it has worked through the flood.
    await connection.send_message(
        "shh", PacketCode.POW_REQUIREMENT, packets.encode_pow_requirement(_MARK)
    )
    print(json.dumps({"sent": count, "send_s": time.perf_counter() - start}), flush=True)
    sys.stdin.readline()  # done
    connection.close()


# -- the honest side and the measurement ---------------------------------------------------------


async def _rpc(session: aiohttp.ClientSession, url: str, method: str, *params: Any) -> Any:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    async with session.post(url, json=body) as response:
        reply = await response.json()
    if "error" in reply:
        raise RuntimeError(f"{method}: {reply['error']}")
    return reply["result"]


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(  # our own interpreter and script
        [sys.executable, __file__, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ,
    )


async def _line(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    return await asyncio.get_running_loop().run_in_executor(None, process.stdout.readline)


async def _measure(count: int, size: int) -> dict[str, Any]:
    server = _spawn("--serve")
    flooder: subprocess.Popen[str] | None = None
    honest = Node(_config(min_pow=0.2))
    await honest.start()
    try:
        info = json.loads(await _line(server))
        flooder = _spawn("--flood", info["enode"], str(count), str(size))
        now = int(time.time())
        with Sealer(processes=1) as sealer:
            posts = [
                sealer.seal(
                    wrap(
                        b"honest %d" % i, HONEST_TOPIC, now, os.urandom, sym_key=HONEST_KEY, ttl=60
                    ),
                    0.2,
                    5,
                )
                for i in range(HONEST_POSTS)
            ]
        honest.add_peer(info["enode"])
        async with asyncio.timeout(10):
            while not (honest._peers and all(p.shh.active for p in honest._peers.values())):
                await asyncio.sleep(0.01)
        async with aiohttp.ClientSession() as session:
            url = info["rpc"]
            key = await _rpc(session, url, "shh_addSymKey", "0x" + HONEST_KEY.secret.hex())
            criteria = {"symKeyID": key, "topics": ["0x" + HONEST_TOPIC.hex()]}
            filter_id = await _rpc(session, url, "shh_newMessageFilter", criteria)
            assert (await _line(flooder)).strip() == "ready"
            server.send_signal(signal.SIGUSR1)
            idle = json.loads(await _line(server))
            server.send_signal(signal.SIGUSR2)
            latencies: list[float] = []
            flooding = True

            async def probe() -> None:
                while flooding:
                    start = time.perf_counter()
                    await _rpc(session, url, "shh_info")
                    latencies.append((time.perf_counter() - start) * 1000)
                    await asyncio.sleep(0.01)

            async def post() -> None:
                for envelope in posts:
                    await honest.inject(envelope)
                    await asyncio.sleep(0.025)

            assert flooder.stdin is not None
            flooder.stdin.write("go\n")
            flooder.stdin.flush()
            start = time.perf_counter()
            prober = asyncio.ensure_future(probe())
            await post()
            sent = json.loads(await _line(flooder))
            # The flood is on the wire: wait until the node has worked through all of it.
            settle = time.perf_counter()
            delivered = 0
            processed = False
            while time.perf_counter() - settle < 60:
                delivered += len(await _rpc(session, url, "shh_getFilterMessages", filter_id))
                server.send_signal(signal.SIGUSR1)
                processed = json.loads(await _line(server))["flood_processed"]
                if processed and delivered >= HONEST_POSTS:
                    break
                await asyncio.sleep(0.2)
            elapsed = time.perf_counter() - start
            flooding = False
            await prober
            info_now = await _rpc(session, url, "shh_info")
            server.send_signal(signal.SIGUSR1)
            loaded = json.loads(await _line(server))
            flooder.stdin.write("done\n")
            flooder.stdin.flush()
        latencies.sort()
        return {
            "flood_envelopes": count,
            "flood_envelope_bytes": size,
            "flood_mib": count * size / 2**20,
            "flood_send_s": sent["send_s"],
            "elapsed_s": elapsed,
            "flood_processed": processed,
            "rpc_calls": len(latencies),
            "rpc_p50_ms": statistics.median(latencies),
            "rpc_p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
            "rpc_max_ms": latencies[-1],
            "honest_delivered": delivered / HONEST_POSTS,
            "node_rss_idle_mib": idle["rss_mib"],
            "node_rss_growth_mib": loaded["rss_mib"] - idle["rss_mib"],
            "node_pooled": loaded["pooled"],
            "node_accounted_mib": info_now["memory"] / 2**20,
            "pool_cap_mib": POOL_BYTES / 2**20,
            "node_max_stall_ms": loaded["max_stall_ms"],
        }
    finally:
        await honest.stop()
        for process in (flooder, server):
            if process is not None:
                process.terminate()
                process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, default=4, help="data bytes per flood envelope")
    parser.add_argument(
        "--flood", nargs=3, metavar=("ENODE", "COUNT", "SIZE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve())
        return
    if args.flood:
        asyncio.run(_flood(args.flood[0], int(args.flood[1]), int(args.flood[2])))
        return
    result = asyncio.run(asyncio.wait_for(_measure(args.count, args.size), 300))
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for name, value in result.items():
        print(f"{name}: {value:,.2f}" if isinstance(value, float) else f"{name}: {value}")


if __name__ == "__main__":
    main()
