"""LivePeer's relay queue: offering a slice at once is offering its envelopes one by one."""

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
    one_by_one, at_once = _peer(fresh, rescan), _peer(fresh, rescan)
    entries = _entries(offered)
    for entry in entries:
        one_by_one.offer(entry)
    at_once.offer_all(entries)
    assert at_once.fresh == one_by_one.fresh
    assert at_once.rescan == one_by_one.rescan == (rescan or fresh + offered > FRESH_LIMIT)
    assert at_once.wake.is_set() == one_by_one.wake.is_set() == bool(offered)
