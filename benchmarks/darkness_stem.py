"""First-spy detection of a post's sender, real hush nodes, geth-style flooding vs the stem.

Usage: .venv/bin/python benchmarks/darkness_stem.py [--nodes 100] [--degree 8] [--seeds 3]
       [--messages 60] [--spy-draws 40]

A small real-node stand-in for `hush sim darkness` (simulation.md §6): per seed, a random
`degree`-regular graph of real nodes over the memory transport, under virtual time; every node
relays with geth's 300 ms tick (`GETH_TICK`); link latency Uniform(20, 120) ms per segment.
`messages` posts (`Node.post`) from uniformly random nodes, 3 virtual seconds apart. Two modes
on the same graph and schedule: `geth` (stem off: the source floods at once) and `stem` (the
default one-hop stem; the other nodes' relaying is unchanged, i.e. geth-like), and with
`--modes ...,hops` the opt-in multi-hop stem on every node (spies log stem hops too). Every node's first
copy of every envelope is logged (time, who sent it). The adversary is a uniformly random set
of ⌊pN⌋ spies, drawn `spy-draws` times per seed after the run (spies are passive and follow the
protocol, so one run serves every draw); posts whose source is a spy are skipped. First-spy
estimator: the sender of the earliest copy any spy got. Prints JSON: P_detect per mode and p with
a 95 % CI over seeds (normal, from the per-seed means), and reach p50 / p95 (time for 50 % /
95 % of nodes to hold the envelope), medians over posts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import statistics
import time
from typing import Any

from hush.crypto.symmetric import SymmetricKey
from hush.net.memory import LinkModel, MemoryNetwork, Uniform
from hush.node import GETH_TICK, PostRequest
from hush.node.hooks import NodeObserver
from hush.shh import packets
from hush.shh.envelope import Envelope
from hush.testing import MemoryCluster, node_id_of
from hush.testing.gossip import random_regular_graph
from hush.types import NodeID, Topic
from hush.vclock import run_virtual

TOPIC = Topic(b"dark")
KEY = SymmetricKey(bytes(range(32)))
SPACING = 3.0


class _First(NodeObserver):
    def __init__(self, index: int, log: dict[bytes, dict[int, tuple[float, NodeID | None]]]):
        self.index, self.log = index, log

    def envelope_accepted(
        self, entry: Any, envelope: Envelope, source: NodeID | None, local: bool
    ) -> None:
        now = asyncio.get_running_loop().time()
        self.log.setdefault(bytes(envelope.hash), {}).setdefault(self.index, (now, source))


def _tap_hops(
    node: Any, index: int, log: dict[bytes, dict[int, tuple[float, NodeID | None]]]
) -> None:
    """A spy logs stem hops too (they never reach its pool until fluffed)."""
    handler = node._sessions.on_stem_hop

    async def tapped(peer: Any, code: int, payload: bytes) -> None:
        now = asyncio.get_running_loop().time()
        for envelope in packets.decode_messages(payload):
            log.setdefault(bytes(envelope.hash), {}).setdefault(index, (now, peer.node_id))
        await handler(peer, code, payload)

    node._sessions.on_stem_hop = tapped


async def _run(
    seed: int, nodes: int, degree: int, messages: int, mode: str, embargo: float = 2.0
) -> dict[str, Any]:
    rng = random.Random(seed)
    edges = random_regular_graph(nodes, degree, rng)
    schedule = [rng.randrange(nodes) for _ in range(messages)]
    log: dict[bytes, dict[int, tuple[float, NodeID | None]]] = {}
    network = MemoryNetwork(seed=seed, model=LinkModel(Uniform(0.02, 0.12)))
    loop = asyncio.get_running_loop()
    async with MemoryCluster(
        network,
        seed=seed,
        relay_policy=lambda: GETH_TICK,
        observers=lambda i: (_First(i, log),),
        max_peers=max(25, 2 * degree),
        stem=mode != "geth",
        stem_hops=mode == "hops",
        stem_embargo=embargo,
    ) as cluster:
        members = await cluster.add_nodes(nodes)
        if mode == "hops":
            for i, member in enumerate(members):
                _tap_hops(member, i, log)
        for a, b in edges:
            members[a].add_peer(members[b].enode)
        for a, b in edges:
            await cluster.connected(members[a], members[b])
        ids = {node_id_of(n): i for i, n in enumerate(members)}
        keys = [n.add_sym_key(KEY.secret) for n in members]
        posts: list[tuple[bytes, int, float]] = []
        start = loop.time() + 1.0
        for m, source in enumerate(schedule):
            await asyncio.sleep(start + m * SPACING - loop.time())
            request = PostRequest(
                payload=m.to_bytes(4, "big"),
                topic=TOPIC,
                sym_key_id=keys[source],
                ttl=120,
                pow_target=0.01,
                pow_time=1.0,
            )
            posted = loop.time()
            posts.append((bytes(await members[source].post(request)), source, posted))
        await asyncio.sleep(SPACING * 4)
    return {"posts": posts, "log": log, "ids": ids, "nodes": nodes}


def _analyse(run: dict[str, Any], p: float, draws: int, seed: int) -> tuple[float, int]:
    rng = random.Random(seed * 7919 + int(p * 1000))
    nodes, ids, log = run["nodes"], run["ids"], run["log"]
    hits = total = 0
    for _ in range(draws):
        spies = set(rng.sample(range(nodes), math.floor(p * nodes)))
        for envelope_hash, source, _posted in run["posts"]:
            if source in spies:
                continue
            seen = [(t, sender) for i, (t, sender) in log[envelope_hash].items() if i in spies]
            if not seen:
                continue
            first = min(t for t, _ in seen)
            senders = [sender for t, sender in seen if t == first]
            guess = ids.get(rng.choice(senders))
            hits += guess == source
            total += 1
    return hits / total, total


def _reach(run: dict[str, Any]) -> tuple[float, float, float]:
    p50, p95, delivered = [], [], []
    for envelope_hash, _source, posted in run["posts"]:
        times = sorted(t - posted for t, _ in run["log"][envelope_hash].values())
        n = run["nodes"]
        delivered.append(len(times) / n)
        p50.append(times[math.ceil(0.5 * n) - 1])
        p95.append(times[math.ceil(0.95 * n) - 1])
    return statistics.median(p50), statistics.median(p95), min(delivered)


def _ci(values: list[float]) -> list[float]:
    mean = statistics.fmean(values)
    half = 1.96 * statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return [round(mean, 3), round(half, 3)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--degree", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--messages", type=int, default=60)
    parser.add_argument("--spy-draws", type=int, default=40)
    parser.add_argument("--modes", default="geth,stem", help="of geth, stem, hops")
    parser.add_argument("--embargo", type=float, default=2.0, help="mean stem embargo, s")
    args = parser.parse_args()
    out: dict[str, Any] = {"setup": vars(args)}
    wall = time.perf_counter()
    for mode in args.modes.split(","):
        detect: dict[float, list[float]] = {0.1: [], 0.2: []}
        reach50, reach95, worst = [], [], []
        for seed in range(1, args.seeds + 1):
            run = run_virtual(
                _run(seed, args.nodes, args.degree, args.messages, mode, args.embargo)
            )
            for p, found in detect.items():
                found.append(_analyse(run, p, args.spy_draws, seed)[0])
            r50, r95, low = _reach(run)
            reach50.append(r50)
            reach95.append(r95)
            worst.append(low)
        out[mode] = {
            "first_spy_p0.1": _ci(detect[0.1]),
            "first_spy_p0.2": _ci(detect[0.2]),
            "per_seed_p0.1": [round(x, 3) for x in detect[0.1]],
            "per_seed_p0.2": [round(x, 3) for x in detect[0.2]],
            "reach_p50_s": round(statistics.median(reach50), 3),
            "reach_p95_s": round(statistics.median(reach95), 3),
            "min_delivery": min(worst),
        }
    out["wall_s"] = round(time.perf_counter() - wall, 1)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
