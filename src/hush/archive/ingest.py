"""Ingest of the archive server: what the node's pool accepts goes to the store (archive.md §1.3).

* `ArchiveObserver` is the `NodeObserver`: `envelope_accepted` (first pool insertion, never a
  direct 127 message) hands the raw bytes to `Ingest.archive`, which only appends to a queue:
  the node's relay never waits for the database.
* **The queue is bounded** in rows (`ingest_rows`) and in memory (`ingest_bytes`, charged at
  the raw size plus `ROW_OVERHEAD` per row, and counting the rows a commit has in flight, so the
  cap is what the process really holds). When the database is slower than the network the queue
  fills and each new envelope is **dropped and counted** (`dropped`); it never grows, never
  blocks the node, and what was queued before is kept.
* **Group commit**: the writer thread commits when `flush_rows` are queued or `flush_interval`
  has passed, at most `commit_rows` rows per transaction (a slow database gets bigger batches,
  up to that size: the size/time budget). A row is **acknowledged** when its transaction
  committed (`archived` counts them; `flush()` returning means every envelope archived before the
  call is): a SIGKILL at any moment loses nothing acknowledged (see `hush.archive.store`).
* A failed commit (the database went away) puts its rows back at the head of the queue, counts
  an error and retries with backoff (up to `_MAX_BACKOFF` s); new envelopes meanwhile are queued
  while there is room, then dropped and counted.
* Retention (`prune`): envelopes older than `retention_days` go in batches, then the oldest
  while the store exceeds `max_db_bytes`.
* `run_in`: a blocking store call on one of the server's thread pools.

`ArchiveServer` (hush.archive.server) owns one `Ingest` and runs its loops.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from typing import TYPE_CHECKING, Any, TypeVar

from hush.archive.config import ArchiveConfig
from hush.archive.store import ArchivedEnvelope, EnvelopeStore
from hush.clock import Clock
from hush.metrics.archive import ArchiveStats
from hush.node.hooks import NodeObserver
from hush.shh.envelope import Envelope
from hush.shh.pool import PooledEnvelope
from hush.types import NodeID, Topic

if TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import ThreadPoolExecutor

__all__ = ["ROW_OVERHEAD", "ArchiveObserver", "Ingest", "run_in"]

log = logging.getLogger(
    "hush.archive.server"
)  # the server's name in log lines, as before the split

_T = TypeVar("_T")

ROW_OVERHEAD = 200
"""Bytes a queued row costs beyond its raw envelope (whose bytes object it shares with the pool's
entry while that lives): its tuple and ints, the deque slot (tracemalloc says ~100:
tests/archive/test_ingest.py), with room for the `ArchivedEnvelope` the writer makes of it. A commit in flight holds one more copy of its rows as the
driver's parameters: at most `commit_rows` rows (5 MiB at 1 KiB)."""
_MAX_BACKOFF = 5.0

_Row = tuple[int, bytes, Topic, int, bytes]
"""A queued envelope: `ArchivedEnvelope`'s fields, in its order."""


async def run_in(executor: ThreadPoolExecutor, fn: Callable[..., _T], *args: Any) -> _T:
    return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)


class Ingest:
    """The bounded ingest queue, its group-committing writer and retention."""

    def __init__(
        self,
        store: EnvelopeStore,
        config: ArchiveConfig,
        clock: Clock,
        stats: ArchiveStats,
        backend: str,
        writer: ThreadPoolExecutor,
    ) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.stats = stats
        self.backend = backend
        self._writer = writer
        self._queue: collections.deque[_Row] = collections.deque()
        self._rows = 0
        """Rows queued or in a commit."""
        self._bytes = 0
        """What they cost in memory (raw + `ROW_OVERHEAD` each)."""
        self._wake = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self._backoff = 0.0
        self.archived = 0
        """Envelopes the store acknowledged (committed)."""
        self.dropped = 0
        """Envelopes dropped because the ingest queue was full."""
        self.errors = 0
        """Commits that failed (their rows were queued again)."""
        self.peak_rows = 0
        """The most rows queued or in a commit at once."""

    @property
    def queued(self) -> int:
        """Rows waiting or in a commit."""
        return self._rows

    @property
    def queued_bytes(self) -> int:
        return self._bytes

    def archive(self, entry: PooledEnvelope, envelope: Envelope) -> None:
        """Queue one envelope for the writer (the node's observer calls this; never raises, never
        waits): dropped and counted when the queue is full."""
        raw = entry.raw
        cost = len(raw) + ROW_OVERHEAD
        config = self.config
        if self._rows >= config.ingest_rows or self._bytes + cost > config.ingest_bytes:
            self.dropped += 1
            return
        # A plain tuple here (0.05 µs against a frozen dataclass's 1.8): the rows are built on
        # the writer's thread.
        self._queue.append((envelope.sent, entry.hash, envelope.topic, envelope.expiry, raw))
        self._rows += 1
        self._bytes += cost
        self.peak_rows = max(self.peak_rows, self._rows)
        if len(self._queue) >= config.flush_rows:
            self._wake.set()

    async def flush(self) -> int:
        """Commit what is queued now, in transactions of at most `commit_rows`; returns how many
        rows were new. When it returns, every envelope archived before the call is acknowledged;
        if a commit fails, its rows are back at the head of the queue and the error is raised."""
        async with self._flush_lock:
            new = 0
            todo = len(self._queue)
            while todo > 0:
                count = min(todo, self.config.commit_rows)
                rows = [self._queue.popleft() for _ in range(count)]
                try:
                    added = await run_in(self._writer, self._put, rows)
                except BaseException as exc:  # cancelled too: the rows stay queued
                    self._queue.extendleft(reversed(rows))  # not acknowledged: kept, in order
                    if isinstance(exc, Exception):
                        self.errors += 1
                        self.stats.archive_error(self.backend)
                    raise
                todo -= count
                self._rows -= count
                self._bytes -= sum(len(row[4]) for row in rows) + ROW_OVERHEAD * count
                self.archived += count
                new += added
                self.stats.archived(self.backend, added)
            return new

    def _put(self, rows: list[_Row]) -> int:
        """On the writer's thread: the queued tuples as rows, stored and committed."""
        return self.store.put([ArchivedEnvelope(*row) for row in rows])

    async def flush_loop(self) -> None:
        while True:
            if self._backoff:  # the database failed: wait, however full the queue is
                await asyncio.sleep(self._backoff)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.flush_interval):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
                self._backoff = 0.0
            except Exception:  # a database error must not end archiving: retry with backoff
                self._backoff = min(_MAX_BACKOFF, max(0.1, 2 * self._backoff))
                log.exception("archive: storing envelopes failed (kept, retrying)")

    async def prune_loop(self) -> None:
        config = self.config
        while True:
            try:
                await self.prune()
            except Exception:
                log.exception("archive: pruning failed")
            await asyncio.sleep(config.prune_interval)

    async def prune(self) -> int:
        """One retention pass, in batches that give the writer back between them."""
        config = self.config
        removed = 0
        if config.retention_days > 0:
            before = int(self.clock.time() - config.retention_days * 86400)
            while True:
                count = await run_in(self._writer, self.store.prune, before, config.prune_batch)
                removed += count
                self.stats.pruned(self.backend, count)
                if count < config.prune_batch:
                    break
        if config.max_db_bytes > 0:
            while True:
                count = await run_in(
                    self._writer, self.store.shrink, config.max_db_bytes, config.prune_batch
                )
                removed += count
                self.stats.pruned(self.backend, count)
                if count == 0:
                    break
        return removed


class ArchiveObserver(NodeObserver):
    """Archives each envelope at its first pool insertion (never a direct 127 message)."""

    def __init__(self, ingest: Ingest) -> None:
        self._ingest = ingest

    def envelope_accepted(
        self, entry: PooledEnvelope, envelope: Envelope, source: NodeID | None, local: bool
    ) -> None:
        self._ingest.archive(entry, envelope)
