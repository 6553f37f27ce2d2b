"""LivePeer's relay queue: offering a slice at once is offering its envelopes one by one, and a
parked write loop's wake-up (`on_pending`) is called exactly once, by what makes the peer pending."""

from __future__ import annotations

from typing import cast

import pytest

from hush.crypto.keccak import keccak256
from hush.net.transport import PeerLink
from hush.node.live_peer import FRESH_LIMIT, LivePeer
from hush.shh.peer import ShhPeer
from hush.shh.pool import PooledEnvelope
from hush.types import EnvelopeHash


def _entries(count: int, start: int = 0) -> list[PooledEnvelope]:
    raw = bytes.fromhex("c984000000018401020304")  # only its list header and expiry are read
    return [
        PooledEnvelope(raw, EnvelopeHash(keccak256(i.to_bytes(4, "big"))), 1.0, None)
        for i in range(start, start + count)
    ]


def _peer(fresh: int, rescan: bool) -> LivePeer:
    peer = LivePeer(cast(PeerLink, None), ShhPeer(), static=False)  # offers touch no link
    peer.rescan = rescan
    peer.fresh = [entry.hash for entry in _entries(fresh, 1 << 20)]
    return peer


@pytest.mark.parametrize("rescan", [False, True])
@pytest.mark.parametrize(
    ("fresh", "offered"),
    [(0, 0), (0, 5), (FRESH_LIMIT - 3, 3), (FRESH_LIMIT - 3, 4), (FRESH_LIMIT, 1)],
)
def test_offer_all_is_offer_each(fresh: int, offered: int, rescan: bool) -> None:
    one_by_one, at_once, hashed = _peer(fresh, rescan), _peer(fresh, rescan), _peer(fresh, rescan)
    entries = _entries(offered)
    for entry in entries:
        one_by_one.offer(entry)
    at_once.offer_all(entries)
    hashes = [entry.hash for entry in entries]
    hashed.offer_hashes(hashes)  # what `ingest` hands every peer: one list for all of them
    assert at_once.fresh == one_by_one.fresh == hashed.fresh
    assert at_once.rescan == one_by_one.rescan == (rescan or fresh + offered > FRESH_LIMIT)
    assert hashed.rescan == at_once.rescan
    assert at_once.pending == one_by_one.pending == hashed.pending == bool(offered)
    assert hashed.fresh is not hashes  # copied in: the next peer's queue is its own


def _parked(peer: LivePeer) -> list[int]:
    calls: list[int] = []
    peer.on_pending = lambda: calls.append(len(peer.fresh))
    return calls


def test_offer_calls_a_parked_writer_once_with_the_envelope_queued() -> None:
    peer = _peer(0, rescan=False)
    calls = _parked(peer)
    first, second = _entries(2)
    peer.offer(first)
    assert calls == [1] and peer.pending and peer.on_pending is None  # called after queueing
    peer.offer(second)  # the writer is no longer parked: nothing more to call
    assert calls == [1] and peer.fresh == [first.hash, second.hash]


@pytest.mark.parametrize("fresh", [0, FRESH_LIMIT - 1, FRESH_LIMIT])
def test_offer_all_calls_a_parked_writer_once(fresh: int) -> None:
    peer = _peer(fresh, rescan=False)
    calls = _parked(peer)
    peer.offer_all([])
    assert calls == [] and not peer.pending and peer.on_pending is not None
    peer.offer_all(_entries(2))
    assert len(calls) == 1 and peer.pending and peer.on_pending is None
    assert peer.rescan == (fresh + 2 > FRESH_LIMIT)


@pytest.mark.parametrize("fresh", [0, FRESH_LIMIT])
def test_rescan_and_overflow_call_a_parked_writer(fresh: int) -> None:
    peer = _peer(fresh, rescan=False)
    calls = _parked(peer)
    if fresh:
        peer.offer(_entries(1)[0])  # past the limit: a rescan instead
    else:
        peer.rescan_pool()
    assert calls == [0] and peer.rescan and peer.pending and peer.on_pending is None
