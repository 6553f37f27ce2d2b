"""Admission (pure) and retention through the server, with a fixed clock."""

from __future__ import annotations

import hashlib

from hush.archive.admission import Admission, AdmissionConfig
from hush.archive.server import ArchiveConfig, ArchiveServer
from hush.archive.store import ArchivedEnvelope, open_store
from hush.node.ratelimit_config import Rate
from hush.types import Topic


def test_token_buckets_per_peer_and_ip() -> None:
    admission = Admission(AdmissionConfig(peer_rate=Rate(0.5, 2), ip_rate=Rate(1, 3), per_peer=9))
    assert admission.admit("a", "ip1", 0.0) is None
    assert admission.admit("a", "ip1", 0.0) is None
    assert admission.admit("a", "ip1", 0.0) == "rate limit exceeded"  # peer bucket empty
    assert admission.admit("b", "ip1", 0.0) is None
    assert admission.admit("c", "ip1", 0.0) == "rate limit exceeded"  # the IP's bucket
    assert admission.admit("c", "ip2", 0.0) is None
    assert admission.admit("a", "ip3", 2.0) is None  # refilled: one token per 2 s
    assert admission.refused == 2


def test_at_most_two_per_peer_and_a_global_queue() -> None:
    admission = Admission(
        AdmissionConfig(peer_rate=Rate(100, 100), ip_rate=Rate(100, 100), queue_size=3)
    )
    assert admission.admit("a", "x", 0) is None
    assert admission.admit("a", "x", 0) is None
    assert admission.admit("a", "x", 0) == "too many concurrent requests"
    admission.done("a")
    assert admission.admit("a", "x", 0) is None
    assert admission.admit("b", "x", 0) is None
    assert admission.admit("c", "x", 0) == "server busy"  # 3 queued or running in all
    for peer in ("a", "a", "b"):
        admission.done(peer)
    assert admission.total == 0
    assert admission.admit("c", "x", 0) is None


def test_tracked_keys_are_bounded() -> None:
    admission = Admission(AdmissionConfig(max_tracked=10, per_peer=1000, queue_size=10**6))
    for i in range(1000):
        admission.admit(f"peer{i}", f"ip{i}", 0.0)
    assert len(admission._peers) == 10 and len(admission._ips) == 10


class FixedClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now


async def test_retention_and_size_cap(store_url: str) -> None:
    now = 1_800_000_000
    store = open_store(store_url, None)
    config = ArchiveConfig(retention_days=1, max_db_bytes=1000, prune_batch=7)
    server = ArchiveServer(store, config, clock=FixedClock(now))

    def row(sent: int) -> ArchivedEnvelope:
        digest = hashlib.sha256(str(sent).encode()).digest()
        return ArchivedEnvelope(sent, digest, Topic(b"\x00\x00\x00\x01"), sent + 50, b"\xc0" * 100)

    store.put([row(now - 2 * 86400 + i) for i in range(20)])  # too old: 20 rows, 3 batches
    store.put([row(now - 3600 + i) for i in range(15)])  # 1500 bytes: 5 over the cap
    assert await server.prune() == 25
    assert store.count() == 10 and store.total_bytes() == 1000
    await server.stop()
