"""A relaying node's receive path for one `messages` packet, before and after, in one run (issue 9:
a duplicate copy should cost one keccak and a dict look-up; figures in BENCHMARKS.md).

    .venv/bin/python benchmarks/ingest_copies.py --baseline /path/to/checkout-of-main [--runs 3]

`PoolKeeper.ingest` of a 30-envelope packet (~320-byte envelopes, 290-byte payloads, as in
`benchmarks/sim_scale.py`) from one peer, with the simulator's `Tap` as the node's observer and
seven other live peers to offer new envelopes to: `dup30` (every envelope already pooled, none
known to the sender), `new30` (none pooled), `mix30` (24 pooled, 6 new: the 80 % duplicates of a
relaying node); `mark30` is `EnvelopePool.mark_known_by` alone, a 30-entry batch marked known to
each of eight peers (as `Sessions.send_batch` does for every envelope sent to every peer; rate in
batches × peers per CPU second); `cold30` is a duplicate packet at a simulation's scale, where
every look-up misses the caches: 1,500 pools of 300 entries (as 1,000 nodes' pools hold), each
packet's 30 copies found by `EnvelopePool.copies_run` and marked known to the sender by
`mark_known_by`, the packets spread over the pools at random. Each figure runs in a fresh child
process, alternately against the baseline's
`src` and this checkout's (PYTHONPATH; the baseline needs its C extension built in place),
`--runs` times each; rates are packets per CPU second of the child (`time.process_time`), medians
and the after/before ratio in the table. Only APIs both sides have are used.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

FIGURES = ["dup30", "mix30", "new30", "mark30", "cold30"]
NOW = 1_700_000_000
PACKET = 30


def figure(name: str, packets: int) -> float:
    import asyncio  # noqa: PLC0415 - in the child, from the chosen src
    import random  # noqa: PLC0415
    import time  # noqa: PLC0415

    from hush.node.delivery import Delivery  # noqa: PLC0415
    from hush.node.fanout import Observers  # noqa: PLC0415
    from hush.node.live_peer import LivePeer  # noqa: PLC0415
    from hush.node.pool_keeper import PoolKeeper  # noqa: PLC0415
    from hush.shh.envelope import Envelope  # noqa: PLC0415
    from hush.shh.packets import encode_messages  # noqa: PLC0415
    from hush.shh.peer import Envelopes, ShhPeer  # noqa: PLC0415
    from hush.shh.pool import EnvelopePool  # noqa: PLC0415
    from hush.sim.measure import Tap  # noqa: PLC0415
    from hush.types import NodeID, Topic  # noqa: PLC0415

    rng = random.Random(1)
    topics = [Topic(rng.randbytes(4)) for _ in range(10)]

    def envelope() -> Envelope:
        return Envelope(NOW + 50, 50, rng.choice(topics), rng.randbytes(290), rng.getrandbits(64))

    if name == "cold30":
        return cold(envelope, rng, packets)

    class Link:
        def __init__(self, node_id: bytes) -> None:
            self.node_id = NodeID(node_id)

    class Clock:
        def time(self) -> float:
            return float(NOW)

        def monotonic(self) -> float:
            return 0.0

    tap = Tap(0)
    observers = Observers([tap])
    pool = EnvelopePool(min_pow=0.0)
    peers = {
        NodeID(bytes([i]) * 64): LivePeer(cast(Any, Link(bytes([i]) * 64)), ShhPeer(), False)
        for i in range(8)
    }
    sender = peers[NodeID(bytes([0]) * 64)]
    keeper = PoolKeeper(pool, cast(Any, Clock()), observers, Delivery(os.urandom, observers), peers)
    pooled = [envelope() for _ in range(4000)]
    for one in pooled:
        pool.add(one, NOW)
    if name == "mark30":
        return marks(pool, rng, packets)
    fresh = {"dup30": 0, "mix30": 6, "new30": PACKET}[name]
    batches = []
    for _ in range(packets):
        chosen = [rng.choice(pooled) for _ in range(PACKET - fresh)]
        chosen += [envelope() for _ in range(fresh)]
        rng.shuffle(chosen)
        batches.append(Envelopes(encode_messages([e.encode() for e in chosen])))

    async def run() -> float:
        start = time.process_time()
        for batch in batches:
            sender.shh.known.clear()  # the sender's marks are new every packet
            await keeper.ingest(sender, batch)
            for peer in peers.values():
                peer.fresh.clear()
        return time.process_time() - start

    spent = asyncio.run(run())
    assert tap.copies == packets * PACKET, (tap.copies, tap.duplicates)
    assert tap.duplicates == packets * (PACKET - fresh)
    return packets / spent


def marks(pool: Any, rng: Any, packets: int) -> float:
    """`mark_known_by` of `packets` 30-entry batches, each for eight peers' known sets (the
    clock read around each call only)."""
    import time  # noqa: PLC0415

    entries = list(pool)
    batches = [rng.sample(entries, PACKET) for _ in range(packets)]
    # Known sets of a live peer's size (2,000 other hashes), the batch taken out again untimed.
    knowns = [dict.fromkeys(rng.randbytes(32) for _ in range(2000)) for _ in range(8)]
    spent = 0.0
    for batch in batches:
        for known in knowns:
            start = time.process_time()
            pool.mark_known_by(known, batch)
            spent += time.process_time() - start
            for entry in batch:
                del known[entry.hash]
    assert pool.bytes_used > 0
    return packets * len(knowns) / spent


def cold(envelope: Any, rng: Any, packets: int) -> float:
    """`cold30`: copies found and marked known across many pools (the clock read around each
    packet's two calls only)."""
    import time  # noqa: PLC0415

    from hush.shh.packets import encode_messages, messages_bounds  # noqa: PLC0415
    from hush.shh.pool import EnvelopePool  # noqa: PLC0415

    pools = []
    for _ in range(1500):
        pool = EnvelopePool(min_pow=0.0)
        mine = [envelope() for _ in range(300)]
        for one in mine:
            pool.add(one, NOW, source=rng.randrange(8))
        known = dict.fromkeys(rng.randbytes(32) for _ in range(300))  # the sender's known set
        pools.append((pool, mine, known))
    work = []
    for _ in range(packets):
        pool, mine, known = rng.choice(pools)
        payload = encode_messages([one.encode() for one in rng.sample(mine, PACKET)])
        work.append((pool, known, payload, *messages_bounds(payload)))
    spent = 0.0
    for pool, known, payload, pos, stop in work:
        start = time.process_time()
        copies, end, decoded = pool.copies_run(payload, pos, stop, PACKET, NOW)
        pool.mark_known_by(known, copies)
        spent += time.process_time() - start
        assert len(copies) == PACKET and end == stop and decoded is None
        for entry in copies:
            del known[entry.hash]
    return packets / spent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", type=Path, help="a checkout whose src is the 'before'")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--packets", type=int, default=3000)
    parser.add_argument("--figure", help=argparse.SUPPRESS)  # the child's job
    args = parser.parse_args()
    if args.figure:
        print(json.dumps(figure(args.figure, args.packets)))
        return
    here = Path(__file__).resolve().parent.parent
    sides = {"after": here / "src"}
    if args.baseline:
        sides = {"before": args.baseline / "src", **sides}
    rates: dict[str, dict[str, list[float]]] = {f: {s: [] for s in sides} for f in FIGURES}
    for _ in range(args.runs):
        for name in FIGURES:
            for side, src in sides.items():
                env = {**os.environ, "PYTHONPATH": str(src)}
                command = [sys.executable, __file__, "--figure", name]
                command += ["--packets", str(args.packets)]
                out = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
                rates[name][side].append(json.loads(out.stdout))
    print(f"{'figure':8} " + " ".join(f"{s + ' pkt/CPU s':>18}" for s in sides) + "   ratio")
    for name in FIGURES:
        medians = {s: statistics.median(rates[name][s]) for s in sides}
        line = f"{name:8} " + " ".join(f"{medians[s]:18,.0f}" for s in sides)
        if "before" in medians:
            per_envelope = {s: 1e6 / medians[s] / PACKET for s in sides}
            line += f"   {medians['after'] / medians['before']:.2f}x"
            line += f"   ({per_envelope['before']:.2f} -> {per_envelope['after']:.2f} us/envelope)"
        print(line)


if __name__ == "__main__":
    main()
