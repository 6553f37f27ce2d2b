"""`PoolKeeper.ingest`'s receive path for copies (issue 9: a duplicate costs one keccak and a
look-up) against the general path, packet by packet: every envelope decoded first, then each
through `_pool_one` (`EnvelopePool.add`) and `note_known`, as geth's `add` judges it.

Mixed packets — new, duplicate (of pooled and of own envelopes: the echo), duplicated within the
packet, expired within and beyond the tolerance, future-dated within and beyond it, low PoW,
bloom-mismatched, too big, tiny ones the C part leaves to the strict decoder, malformed in the
middle — on pools with a minimum PoW, a bloom, a tolerance spell, a small cap (evictions),
with and without the C part: the same pool state (entries, PoW, knowers, accounting), known
sets, offers, observer calls in order (and the simulator's copy counts), echoes, and the same
peer failure with the same error.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any, cast

import pytest

from hush.errors import EnvelopeRejected, PeerError
from hush.node import pool_keeper as pool_keeper_module
from hush.node.delivery import Delivery
from hush.node.fanout import Observers
from hush.node.hooks import NodeObserver
from hush.node.live_peer import LivePeer
from hush.node.pool_keeper import PoolKeeper
from hush.shh import envelope as envelope_module
from hush.shh.envelope import ACCELERATED, Envelope
from hush.shh.packets import encode_messages
from hush.shh.peer import Envelopes, ShhPeer
from hush.shh.pool import AddOutcome, AddStatus, EnvelopePool, PooledEnvelope
from hush.shh.topic import aggregate_blooms, topic_to_bloom
from hush.sim.measure import Tap
from hush.types import EnvelopeHash, NodeID, Topic

NOW = 1_700_000_000
TOPICS = [Topic(bytes([i, 7 * i % 256, 3 * i, i ^ 5])) for i in range(1, 7)]
WANTED = aggregate_blooms(*(topic_to_bloom(t) for t in TOPICS[:4]))


class Clock:
    def __init__(self) -> None:
        self.wall = float(NOW)

    def time(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return 0.0


class Link:
    def __init__(self, node_id: NodeID) -> None:
        self.node_id = node_id


class Recorder(NodeObserver):
    """Every envelope verdict, in order (duplicates through `duplicates_received`'s default)."""

    def __init__(self) -> None:
        self.events: list[tuple[object, ...]] = []

    def envelope_received(self, outcome: AddOutcome, source: NodeID | None, local: bool) -> None:
        entry = outcome.entry
        self.events.append(
            (outcome.status, outcome.reason, entry and entry.hash, outcome.evicted, source, local)
        )

    def envelope_accepted(
        self, entry: PooledEnvelope, envelope: Envelope, source: NodeID | None, local: bool
    ) -> None:
        self.events.append(("accepted", entry.hash, envelope.hash, source))


class Node:
    """A pool keeper with a recorder, the simulator's tap, three live peers and an echo log."""

    def __init__(self, pool: EnvelopePool) -> None:
        self.clock = Clock()
        self.recorder, self.tap = Recorder(), Tap(0)
        observers = Observers([self.recorder, self.tap])
        ids = [NodeID(bytes([i]) * 64) for i in range(3)]
        self.peers = {i: LivePeer(cast(Any, Link(i)), ShhPeer(), False) for i in ids}
        self.sender = self.peers[ids[0]]
        self.keeper = PoolKeeper(
            pool,
            cast(Any, self.clock),
            observers,
            Delivery(random.randbytes, observers),
            self.peers,
        )
        self.echoes: list[EnvelopeHash] = []
        self.keeper.on_echo = self.echoes.append

    def state(self) -> tuple[object, ...]:
        pool = self.keeper.pool
        entries = [
            (e.hash, e.raw, e.pow, e.source, e.knowers, e.local, e.expiry)
            for e in pool._entries.values()
        ]
        return (
            entries,
            pool.bytes_used,
            dict(pool._usage),
            dict(pool._rank_bytes),
            [list(p.shh.known) for p in self.peers.values()],
            [list(p.fresh) for p in self.peers.values()],
            self.recorder.events,
            (self.tap.copies, self.tap.duplicates),
            self.echoes,
            self.sender.shh._state,
        )


def general_ingest(node: Node, batch: Envelopes) -> None:
    """The general path: decode the whole packet, then `add` each envelope (INGEST_SLICE at a
    time, offered and settled per slice), then fail the peer if any was rejected."""
    keeper, peer = node.keeper, node.sender
    envelopes = [peer.shh.decode_envelope(raw) for raw in peer.shh.encoded_envelopes(batch)]
    failure = ""
    size = pool_keeper_module.INGEST_SLICE
    for start in range(0, len(envelopes), size):
        pooled = []
        for envelope in envelopes[start : start + size]:
            outcome = keeper._pool_one(envelope, False, peer.node_id)
            if outcome.status is AddStatus.ACCEPTED and outcome.entry is not None:
                pooled.append(outcome.entry)
            if outcome.known and outcome.entry is not None:
                keeper.note_known(peer, outcome.entry.hash)
            elif outcome.status is AddStatus.REJECTED and not failure:
                failure = outcome.reason
        for live in node.peers.values():
            live.offer_all(pooled)
        keeper.settle()
    if failure:
        raise EnvelopeRejected(f"invalid envelope: {failure}")


def run(ingest: Any, node: Node, batch: Envelopes) -> tuple[str, str]:
    try:
        result = ingest(node, batch)
        if asyncio.iscoroutine(result):
            asyncio.run(result)
    except PeerError as exc:
        return type(exc).__name__, str(exc)
    return "ok", ""


def fast_ingest(node: Node, batch: Envelopes) -> Any:
    return node.keeper.ingest(node.sender, batch)


def envelope(rng: random.Random, expiry: int, ttl: int = 50, size: int = 0) -> Envelope:
    data = rng.randbytes(size or rng.choice((1, 40, 60, 200, 290)))
    return Envelope(expiry, ttl, rng.choice(TOPICS), data, rng.getrandbits(rng.choice((7, 64))))


def scenario(seed: int) -> tuple[list[tuple[int, Envelopes]], Any]:
    """Packets and a pool factory (called once per side: the same pool twice)."""
    rng = random.Random(seed)
    pooled = [envelope(rng, NOW + rng.randrange(1, 60)) for _ in range(30)]
    future_then = [envelope(rng, NOW + 4 + 50) for _ in range(3)]  # sent 9 s ahead of NOW - 5
    own = [envelope(rng, NOW + 40) for _ in range(3)]
    pows = sorted(e.pow() for e in pooled)
    min_pow = rng.choice((0.0, 0.0, pows[10], pows[20]))
    bloom = rng.random() < 0.4
    spell = rng.random() < 0.3
    cap = rng.random() < 0.25
    small_max = rng.random() < 0.2

    def make_pool() -> EnvelopePool:
        pool = EnvelopePool(min_pow=0.0, max_bytes=1 << 30)
        for one in pooled:
            pool.add(one, NOW - 15, source="earlier")
        for one in future_then:
            pool.add(one, NOW - 5, source="earlier")
        for one in own:
            pool.add(one, NOW - 15, local=True)
        pool.set_min_pow(min_pow, NOW - 30)
        if bloom:
            pool.set_bloom(WANTED, NOW - 30)
        if not spell:  # the spells are over (and noticed): copies are the fast path's
            pool._min_pow.tolerance_at(NOW)
            pool._bloom.tolerance_at(NOW)
        if cap:
            pool.max_bytes = pool.bytes_used + 2000  # the new ones evict the cheapest
        if small_max:
            pool.max_message_size = 200
        return pool

    kinds = {
        "new": lambda: envelope(rng, NOW + rng.randrange(1, 60)),
        "dup": lambda: rng.choice(pooled),
        "dup-future-then": lambda: rng.choice(future_then),
        "own": lambda: rng.choice(own),
        "expired": lambda: envelope(rng, NOW - rng.randrange(1, 20)),
        "too-old": lambda: envelope(rng, NOW - 30),
        "future": lambda: envelope(rng, NOW + 55),  # sent 5 s ahead: accepted with a diff
        "too-far-ahead": lambda: envelope(rng, NOW + 70),
        "tiny": lambda: Envelope(NOW + 5, 5, rng.choice(TOPICS), b"\x01", 1),  # under 12 bytes
        "big": lambda: envelope(rng, NOW + 30, size=400),
    }
    packets = []
    for _ in range(5):
        items = [kinds[rng.choice(list(kinds))]().encode() for _ in range(rng.randrange(0, 40))]
        items += items[: rng.randrange(0, 3)]  # repeats within the packet
        rng.shuffle(items)
        if rng.random() < 0.15 and items:  # malformed in the middle: nothing may be added
            at = rng.randrange(len(items))
            items.insert(
                at, rng.choice((b"\xc3\x01\x02\x03", b"\x81\x00", items[at][:-1] + b"\x00"))
            )
        packets.append((rng.choice((0, 0, 2, 6, 25, -12)), Envelopes(encode_messages(items))))
    return packets, make_pool


def compare(seed: int) -> set[str]:
    packets, make_pool = scenario(seed)
    fast, general = Node(make_pool()), Node(make_pool())
    assert fast.state() == general.state()
    outcomes = set()
    for later, batch in packets:  # time moves on (pooled envelopes expire, unswept) or back
        fast.clock.wall += later
        general.clock.wall += later
        got, expected = run(fast_ingest, fast, batch), run(general_ingest, general, batch)
        assert got == expected, (seed, got, expected)
        assert fast.state() == general.state(), seed
        outcomes.add(got[0] + (":" + got[1].split(":")[-1].strip() if got[1] else ""))
        if got[0] == "PeerError":
            break  # the peer is gone
    return outcomes


SEEDS = range(60)


def test_copies_path_matches_the_general_path() -> None:
    outcomes: set[str] = set()
    for seed in SEEDS:
        outcomes |= compare(seed)
    # every kind of verdict occurred: accepted, each rejection, a malformed packet
    assert "ok" in outcomes
    assert any("low PoW" in o for o in outcomes)
    assert any("bloom" in o for o in outcomes)
    assert any("future" in o for o in outcomes)
    assert any("very old" in o for o in outcomes)
    assert any(o.startswith("PeerError") for o in outcomes)


def test_copies_path_matches_without_the_c_part(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(envelope_module, "_envelope", None)
    for seed in range(0, 60, 3):
        compare(seed)


def test_copies_path_matches_across_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    """Packets of several slices: both passes yield between slices, each slice offered and
    settled at its end, as the general path does per slice."""
    monkeypatch.setattr(pool_keeper_module, "INGEST_SLICE", 7)
    for seed in range(0, 60, 4):
        compare(seed)


@pytest.mark.skipif(not ACCELERATED, reason="the C envelope part was not built here")
def test_a_plain_copy_is_one_hash_and_a_look_up() -> None:
    """Copies of pooled envelopes come back as their entries, with no Envelope built; the run
    stops after the first envelope that is not one, decoded in full."""
    rng = random.Random(5)
    pooled = [envelope(rng, NOW + 30) for _ in range(5)]
    pool = EnvelopePool(min_pow=0.0)
    for one in pooled:
        pool.add(one, NOW)
    stranger = envelope(rng, NOW + 30)
    payload = encode_messages([e.encode() for e in [*pooled[:3], stranger, *pooled[3:]]])
    pos, stop = 1 if payload[0] <= 0xF7 else payload[0] - 0xF6, len(payload)
    copies, pos, decoded = pool.copies_run(payload, pos, stop, 100, NOW)
    assert [c.hash for c in copies] == [e.hash for e in pooled[:3]]
    assert decoded == stranger and decoded.hash == stranger.hash
    assert decoded.pow() == stranger.pow()
    copies, pos, decoded = pool.copies_run(payload, pos, stop, 1, NOW)
    assert [c.hash for c in copies] == [pooled[3].hash] and decoded is None
    copies, end, decoded = pool.copies_run(payload, pos, stop, 100, NOW)
    assert [c.hash for c in copies] == [pooled[4].hash] and end == stop and decoded is None
    pool.set_min_pow(1.0, NOW)  # in its tolerance spell: every verdict is `add`'s
    copies, _, decoded = pool.copies_run(payload, 1 if payload[0] <= 0xF7 else 3, stop, 9, NOW)
    assert copies == [] and decoded == pooled[0]


def test_a_run_of_copies_reaches_every_observer(caplog: pytest.LogCaptureFixture) -> None:
    """`duplicates_received` fans out to each observer: by default as `envelope_received` per
    copy (in order), once where overridden (the tap), and one that raises is logged and the
    others are still told."""

    class Broken(NodeObserver):
        def duplicates_received(self, entries: Any, source: NodeID) -> None:
            raise RuntimeError("a bug")

    class Quiet(NodeObserver):  # overrides neither: nothing is built for it
        pass

    pool = EnvelopePool(min_pow=0.0)
    rng = random.Random(2)
    for _ in range(3):
        pool.add(envelope(rng, NOW + 30), NOW)
    entries = list(pool._entries.values())
    recorder, tap = Recorder(), Tap(0)
    source = NodeID(b"\x09" * 64)
    with caplog.at_level("ERROR", "hush.node.fanout"):
        Observers([Broken(), Quiet(), recorder, tap]).duplicates_received(entries, source)
    assert "failed in duplicates_received" in caplog.text
    assert recorder.events == [
        (AddStatus.DUPLICATE, "", e.hash, (), source, False) for e in entries
    ]
    assert (tap.copies, tap.duplicates) == (3, 3)
