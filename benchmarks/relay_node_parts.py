"""The relay's node-side steps for one 256-envelope `messages` packet, old way vs new (issue 13).

    .venv/bin/python benchmarks/relay_node_parts.py

`hush bench relay` measures the whole relay, whose run-to-run spread on a shared machine (±20 %)
hides a step worth a few per cent; this times each step alone, best of 7 × 50 in CPU time (the
machine is shared), in µs per packet of 256 distinct 256-byte envelopes (`hush bench relay`'s):
decoding it for `ingest` (per envelope vs `ShhPeer.decode_slices`), offering the new envelopes
to 8 peers (`LivePeer.offer` per envelope vs `offer_all` per slice) and building one peer's turn
in the write loop (`pool.get` then `in pool` per entry vs one `map` over `pool.get`). The old
ways are written out here.
"""

from __future__ import annotations

import time
import timeit
from collections.abc import Callable
from typing import cast

from hush.cli.bench_relay import relay_envelopes
from hush.net.transport import PeerLink
from hush.node.live_peer import LivePeer
from hush.shh import packets
from hush.shh.envelope import Envelope
from hush.shh.peer import Envelopes, ShhPeer
from hush.shh.pool import EnvelopePool, PooledEnvelope


def main() -> None:
    now = int(time.time())
    raws = relay_envelopes(256, now)
    shh = ShhPeer()
    event = Envelopes(packets.encode_messages(raws))
    pool = EnvelopePool(min_pow=0.0)
    entries: list[PooledEnvelope] = []
    for raw in raws:
        entry = pool.add(Envelope.decode(raw), now).entry
        assert entry is not None
        entries.append(entry)
    peers = [LivePeer(cast(PeerLink, None), ShhPeer(), static=False) for _ in range(8)]
    fresh = [entry.hash for entry in entries]

    def decode_each() -> object:
        return [shh.decode_envelope(raw) for raw in shh.encoded_envelopes(event)]

    def decode_slices() -> object:
        return [envelope for chunk in shh.decode_slices(event, 256) for envelope in chunk]

    def offer_each() -> None:
        for entry in entries:
            for peer in peers:
                peer.offer(entry)
        for peer in peers:
            peer.fresh, peer.rescan = [], False

    def offer_all() -> None:
        for peer in peers:
            peer.offer_all(entries)
        for peer in peers:
            peer.fresh, peer.rescan = [], False

    def turn_get_then_in() -> object:
        candidates = [e for h in fresh if (e := pool.get(h)) is not None]
        return [e for e in candidates[0:2048] if e.hash in pool]

    def turn_map() -> object:
        return list(filter(None, map(pool.get, fresh)))[0:2048]

    offer_each()
    pairs: list[tuple[str, Callable[[], object], Callable[[], object]]] = [
        ("decode a packet for ingest", decode_each, decode_slices),
        ("offer it to 8 peers", offer_each, offer_all),
        ("one peer's write-loop turn", turn_get_then_in, turn_map),
    ]
    for name, old, new in pairs:
        before, after = (
            min(timeit.repeat(f, time.process_time, number=50, repeat=7)) / 50 * 1e6
            for f in (old, new)
        )
        print(f"{name:28s} old {before:8.1f} us  new {after:8.1f} us  new/old {after / before:.2f}")


if __name__ == "__main__":
    main()
