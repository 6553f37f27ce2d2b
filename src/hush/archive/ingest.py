"""Ingest of the archive server: what the node's pool accepts goes to the store (archive.md §1.3).

* `ArchiveObserver` is the `NodeObserver`: `envelope_accepted` (first pool insertion, never a
  direct 127 message) hands the raw bytes to `Ingest.archive`.
* `Ingest` owns the bounded buffer (rows and bytes) that a writer thread commits every
  `flush_interval` or `flush_rows`; rows the store committed are *acknowledged* (`archived`); if
  the buffer is full, new envelopes are dropped and counted (`dropped`), never blocking the node.
  It also runs retention (`prune`): envelopes older than `retention_days` go in batches, then
  the oldest while the store exceeds `max_db_bytes`.
* `run_in`: a blocking store call on one of the server's thread pools.

`ArchiveServer` (hush.archive.server) owns one `Ingest` and runs its loops.
"""

from __future__ import annotations

import asyncio
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
from hush.types import NodeID

if TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import ThreadPoolExecutor

__all__ = ["ArchiveObserver", "Ingest", "run_in"]

log = logging.getLogger(
    "hush.archive.server"
)  # the server's name in log lines, as before the split

_T = TypeVar("_T")


async def run_in(executor: ThreadPoolExecutor, fn: Callable[..., _T], *args: Any) -> _T:
    return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)


class Ingest:
    """The ingest buffer, its writer and retention, on the writer thread pool."""

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
        self._buffer: list[ArchivedEnvelope] = []
        self._buffer_bytes = 0
        self._wake = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self.archived = 0
        """Envelopes the store acknowledged (committed)."""
        self.dropped = 0
        """Envelopes dropped because the ingest buffer was full."""

    def archive(self, entry: PooledEnvelope, envelope: Envelope) -> None:
        """Buffer one envelope for the writer (the node's observer calls this; never raises)."""
        raw = entry.raw
        config = self.config
        if (
            len(self._buffer) >= config.ingest_rows
            or self._buffer_bytes + len(raw) > config.ingest_bytes
        ):
            self.dropped += 1
            return
        self._buffer.append(
            ArchivedEnvelope(envelope.sent, entry.hash, envelope.topic, envelope.expiry, raw)
        )
        self._buffer_bytes += len(raw)
        if len(self._buffer) >= config.flush_rows:
            self._wake.set()

    async def flush(self) -> int:
        """Commit what is buffered now; returns how many rows were new. When it returns, every
        envelope archived before the call is acknowledged."""
        async with self._flush_lock:
            rows, self._buffer, self._buffer_bytes = self._buffer, [], 0
            if not rows:
                return 0
            try:
                new = await run_in(self._writer, self.store.put, rows)
            except Exception:
                self.stats.archive_error(self.backend)
                raise
            self.archived += len(rows)
            self.stats.archived(self.backend, new)
            return new

    async def flush_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.flush_interval):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
            except Exception:  # a database error must not end archiving: retry next round
                log.exception("archive: storing envelopes failed")

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
