"""The ingest queue (hush.archive.ingest) against real stores: bounded in rows and memory (rows in
a commit included), drops counted never queued, group commits of at most `commit_rows`, a failed
commit's rows kept and committed later, in order. The writer is held with an explicit signal (a
threading.Event the test sets), never a sleep."""

from __future__ import annotations

import asyncio
import os
import threading
import tracemalloc
from collections.abc import Sequence

import pytest

from hush.archive.config import ArchiveConfig
from hush.archive.ingest import ROW_OVERHEAD
from hush.archive.server import ArchiveServer
from hush.archive.store import ArchivedEnvelope, EnvelopeStore, open_store
from hush.shh.envelope import Envelope
from hush.shh.pool_entry import PooledEnvelope
from hush.types import EnvelopeHash, Topic


def _entries(count: int, size: int = 300) -> list[tuple[PooledEnvelope, Envelope]]:
    out = []
    for i in range(count):
        envelope = Envelope(2_000_000_000 + i, 60, Topic(i.to_bytes(4, "big")), os.urandom(size), i)
        raw = envelope.encode()
        out.append((PooledEnvelope(raw, EnvelopeHash(envelope.hash), 1.0, None), envelope))
    return out


class HeldStore:
    """The real store behind a gate: each `put` waits for `release` (and records its size), or
    fails while `failing` is set (the database gone)."""

    def __init__(self, store: EnvelopeStore) -> None:
        self.store = store
        self.release = threading.Event()
        self.entered = threading.Event()
        self.failing = False
        self.batches: list[int] = []
        self.committed: list[bytes] = []

    def put(self, rows: Sequence[ArchivedEnvelope]) -> int:
        self.entered.set()
        if not self.release.wait(30):
            raise TimeoutError("the test never released the writer")
        if self.failing:
            raise OSError("database unavailable")
        self.batches.append(len(rows))
        added = self.store.put(rows)
        self.committed += [row.hash for row in rows]
        return added

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)


def _server(store_url: str, **config: object) -> tuple[ArchiveServer, HeldStore]:
    settings: dict[str, object] = {"retention_days": 0, "flush_interval": 3600.0, **config}
    server = ArchiveServer(open_store(store_url, None), ArchiveConfig(**settings))  # type: ignore[arg-type]
    held = HeldStore(server.store)
    server.store = held  # type: ignore[assignment]
    return server, held


async def test_full_queue_drops_and_counts_and_keeps_what_it_queued(store_url: str) -> None:
    server, held = _server(store_url, ingest_rows=50, flush_rows=10_000)
    entries = _entries(80)
    async with server:
        for entry, envelope in entries[:30]:
            server.archive(entry, envelope)
        flushing = asyncio.create_task(server.flush())  # 30 rows in a commit, held
        await asyncio.to_thread(held.entered.wait, 30)
        for entry, envelope in entries[30:]:
            server.archive(entry, envelope)  # room for 20 more: rows in the commit count
        assert server.ingest.queued == 50
        assert server.dropped == 30
        held.release.set()
        await flushing
        await server.flush()
        assert server.archived == 50
        assert held.batches == [30, 20]
        assert server.store.count() == 50
        assert server.ingest.queued == server.ingest.queued_bytes == 0


async def test_memory_cap_counts_raw_plus_overhead(store_url: str) -> None:
    entries = _entries(20, size=1000)
    cost = len(entries[0][0].raw) + ROW_OVERHEAD
    server, held = _server(store_url, ingest_bytes=5 * cost)
    held.release.set()
    async with server:
        for entry, envelope in entries:
            server.archive(entry, envelope)
        assert server.ingest.queued == 5
        assert server.ingest.queued_bytes == 5 * cost
        assert server.dropped == 15
        await server.flush()
        assert server.store.count() == 5


async def test_commits_at_most_commit_rows(store_url: str) -> None:
    server, held = _server(store_url, commit_rows=5)
    held.release.set()
    async with server:
        for entry, envelope in _entries(12):
            server.archive(entry, envelope)
        assert await server.flush() == 12
        assert held.batches == [5, 5, 2]


async def test_failed_commit_keeps_its_rows_in_order(store_url: str) -> None:
    server, held = _server(store_url, commit_rows=4)
    entries = _entries(10)
    held.failing = True
    held.release.set()
    async with server:
        for entry, envelope in entries:
            server.archive(entry, envelope)
        with pytest.raises(OSError, match="unavailable"):
            await server.flush()
        assert server.archived == 0
        assert server.ingest.queued == 10
        assert server.ingest.errors == 1
        held.failing = False
        assert await server.flush() == 10
        assert server.archived == 10
        assert held.batches == [4, 4, 2]
        assert held.committed == [entry.hash for entry, _ in entries]
        assert server.store.count() == 10
        assert server.ingest.queued == 0


async def test_flush_loop_group_commits_on_the_size_budget(store_url: str) -> None:
    """`flush_rows` queued wake the writer at once (the interval here is an hour)."""
    server, held = _server(store_url, flush_rows=10)
    held.release.set()
    async with server:
        for entry, envelope in _entries(10):
            server.archive(entry, envelope)
        async with asyncio.timeout(10):
            while server.archived < 10:
                await asyncio.sleep(0.01)
        assert held.batches == [10]


def test_row_overhead_covers_what_a_queued_row_costs(tmp_path: object) -> None:
    """What the queue holds per row beyond the raw bytes (shared with the pool's entry)."""

    async def run() -> int:
        server = ArchiveServer(
            open_store(f"{tmp_path}/a.sqlite", None),
            ArchiveConfig(retention_days=0, flush_interval=3600.0, flush_rows=10_000),
        )
        entries = _entries(2000)
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for entry, envelope in entries:
            server.archive(entry, envelope)
        grown = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        async with server:
            await server.flush()
        return grown // len(entries)

    per_row = asyncio.run(run())
    assert 0 < per_row <= ROW_OVERHEAD
