"""The archive server in a node: archive at first pool insertion, answer code 126 requests
(archive.md §1.3, §1.7; whisper-v6.md §6).

* Ingest (`hush.archive.ingest`): `observer` is a `NodeObserver`; `envelope_accepted` (first
  pool insertion, never a direct 127 message) appends the raw bytes to a bounded queue that a
  writer thread group-commits (`flush_interval` / `flush_rows`, ≤ `commit_rows` a transaction).
  Rows the store committed are *acknowledged* (`archived`); if the queue is full, new envelopes
  are dropped and counted (`dropped`), never blocking the node.
* Requests: `handle` is the node's `mail_handler`. It runs on the peer's read loop, so it only
  admits (per-peer and per-IP token buckets, ≤ 2 per peer, a global queue) and queues; workers
  take requests off the queue (answered "server busy" past its deadline), decrypt and query on
  reader threads, and send the reply: one raw envelope per 127 packet, or lists of them when the
  client asked for batches, then 125. A refusal is `ERROR=…` on 125, never a disconnect.
* Memory: requests over `max_request_bytes` are refused unread; a reply holds one page, capped at
  `page_bytes`; the ingest buffer is capped in rows and bytes.
* Server↔server sync (`hush.archive.sync`, only with trusted peers, which the node's shh layer
  checks): a 123 is admitted like a request and answered with one 124 page; `sync_from` asks a
  peer for a range page by page and archives what comes (raw, as received), one sync per peer
  at a time (a 124 carries no request ID); an unasked 124 is ignored. A sync is bounded in
  pages, envelopes and seconds (`sync_*`), and a 124 that breaks its 123 (too many envelopes,
  a cursor outside the range or not moving back) ends it with an error.
* Retention: every `prune_interval`, envelopes older than `retention_days` go in batches, then the
  oldest while the store exceeds `max_db_bytes`.

This module is the facade: lifecycle, admission and the request queue with its workers (`handle`,
on the peer's read loop), and `sync_from`. Its parts: `config` (`ArchiveConfig`), `ingest`
(observer, ingest buffer, writer, retention) and `serving` (answering one request per dialect,
sync pages, replies and refusals).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING

from hush.archive.admission import Admission
from hush.archive.config import ArchiveConfig
from hush.archive.cursor import Cursor
from hush.archive.ingest import ArchiveObserver, Ingest, run_in
from hush.archive.serving import REQUEST_COMPLETE, Job, PeerGone, RequestServer, direct_id
from hush.archive.store import ArchivedEnvelope, EnvelopeStore
from hush.archive.sync import (
    MAX_SYNC_LIMIT,
    check_sync_response,
    decode_sync_response,
    encode_sync_request,
    encode_sync_response,
)
from hush.clock import SYSTEM_CLOCK, Clock
from hush.crypto.keccak import keccak256
from hush.crypto.symmetric import SymmetricKey
from hush.errors import DecodeError, HushError, UsageError
from hush.metrics.archive import ArchiveStats
from hush.node.hooks import NodeObserver
from hush.shh.envelope import Envelope
from hush.shh.peer import SYNC_REQUEST, SYNC_RESPONSE, MailPacket
from hush.shh.pool import PooledEnvelope
from hush.shh.topic import FULL_BLOOM, bloom_matches, topic_to_bloom
from hush.types import Bloom, NodeID

if TYPE_CHECKING:
    from hush.node.node import Node

__all__ = ["REQUEST_COMPLETE", "ArchiveConfig", "ArchiveServer", "SyncResult"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class SyncResult:
    """What `ArchiveServer.sync_from` got from a peer."""

    pages: int = 0
    received: int = 0
    """Envelopes in the 124s."""
    archived: int = 0
    """Of those, new to this store."""
    invalid: int = 0
    """Not envelopes, or outside the range or the bloom asked for: not stored."""
    cursor: Cursor | None = None
    """Where the peer had more (`follow_cursor` off, a cap reached, or an error)."""
    error: str | None = None
    limited: bool = False
    """The sync stopped at a cap (pages, envelopes, seconds); `cursor` goes on from there."""


class ArchiveServer:
    """`Node(observers=[server.observer], mail_handler=server.handle)`; `async with server:`
    starts its workers (before the node) and stops them (after)."""

    def __init__(
        self,
        store: EnvelopeStore,
        config: ArchiveConfig | None = None,
        clock: Clock = SYSTEM_CLOCK,
        stats: ArchiveStats | None = None,
    ):
        self._store = store
        self.stats = stats if stats is not None else ArchiveStats()
        """Counters for metrics (`NodeStats.archive`; docs/metrics.md)."""
        self.backend = getattr(store, "backend", "other")
        self.config = config = config or ArchiveConfig()
        self._clock = clock
        self.sym_key = SymmetricKey.from_password(config.password) if config.password else None
        self.admission = Admission(config.admission)
        self._queue: asyncio.Queue[Job] = asyncio.Queue()
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="archive-writer")
        self._readers = ThreadPoolExecutor(config.workers, thread_name_prefix="archive-reader")
        self._ingest = Ingest(store, config, clock, self.stats, self.backend, self._writer)
        self._requests = RequestServer(
            store, config, clock, self.stats, self.backend, self._readers, self.sym_key
        )
        self.observer: NodeObserver = ArchiveObserver(self._ingest)
        self._tasks: list[asyncio.Task[None]] = []
        self._syncs: dict[NodeID, asyncio.Future[bytes]] = {}
        """The 124 awaited from each peer a sync runs with."""

    @property
    def store(self) -> EnvelopeStore:
        """The store the server and its parts use (a test may swap in a wrapper)."""
        return self._store

    @store.setter
    def store(self, store: EnvelopeStore) -> None:
        self._store = self._ingest.store = self._requests.store = store

    @property
    def clock(self) -> Clock:
        """The clock the server and its parts read (a test may swap in a fake one)."""
        return self._clock

    @clock.setter
    def clock(self, clock: Clock) -> None:
        self._clock = self._ingest.clock = self._requests.clock = clock

    @property
    def ingest(self) -> Ingest:
        """The ingest queue and its writer (queue depth, peak, errors)."""
        return self._ingest

    @property
    def archived(self) -> int:
        """Envelopes the store acknowledged (committed)."""
        return self._ingest.archived

    @property
    def dropped(self) -> int:
        """Envelopes dropped because the ingest queue was full."""
        return self._ingest.dropped

    @property
    def served(self) -> int:
        return self._requests.served

    @property
    def refused(self) -> int:
        return self._requests.refused

    # Lifecycle.

    async def __aenter__(self) -> ArchiveServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        if self._tasks:
            return
        self.stats.set_archived(self.backend, await run_in(self._writer, self.store.count))
        self._tasks.append(asyncio.create_task(self._ingest.flush_loop()))
        self._tasks.extend(
            asyncio.create_task(self._work_loop()) for _ in range(self.config.workers)
        )
        if self.config.retention_days > 0 or self.config.max_db_bytes > 0:
            self._tasks.append(asyncio.create_task(self._ingest.prune_loop()))

    async def stop(self) -> None:
        """Stop serving, commit what is buffered, close the store."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(Exception):
            await self.flush()
        self._readers.shutdown(wait=True, cancel_futures=True)
        self._writer.shutdown(wait=True)
        self.store.close()

    # Ingest.

    def archive(self, entry: PooledEnvelope, envelope: Envelope) -> None:
        """Buffer one envelope for the writer (the node's observer calls this; never raises)."""
        self._ingest.archive(entry, envelope)

    async def flush(self) -> int:
        """Commit what is buffered now; returns how many rows were new. When it returns, every
        envelope archived before the call is acknowledged."""
        return await self._ingest.flush()

    async def prune(self) -> int:
        """One retention pass, in batches that give the writer back between them."""
        return await self._ingest.prune()

    # Requests.

    async def handle(self, node: Node, node_id: NodeID, request: Envelope | MailPacket) -> None:
        """The node's mail handler: admit and queue, on the peer's read loop (so: no waiting).
        `request` is the request envelope, or a `MailPacket`: a 126 payload that is not an
        envelope, or a 123/124 from a trusted peer."""
        request_id: bytes
        if isinstance(request, Envelope):
            size, request_id = request.size(), request.hash
        elif request.code == SYNC_RESPONSE:
            waiting = self._syncs.get(node_id)
            if waiting is not None and not waiting.done():
                waiting.set_result(request.payload)
            return
        else:
            size, request_id = len(request.payload), direct_id(request.payload)
        why = "request too large" if size > self.config.max_request_bytes else None
        if why is None:
            why = self.admission.admit(node_id, self._ip(node, node_id), self.clock.monotonic())
        if why is not None:
            if isinstance(request, MailPacket) and request.code == SYNC_REQUEST:
                self._requests.refused += 1
                with contextlib.suppress(PeerGone):
                    refusal = encode_sync_response([], None, why)
                    await self._requests.send(node, node_id, SYNC_RESPONSE, refusal)
            else:
                await self._requests.refuse(node, node_id, request_id, why)
            return
        self._queue.put_nowait(Job(node, node_id, request, self.clock.monotonic()))

    @staticmethod
    def _ip(node: Node, node_id: NodeID) -> str:
        for info in node.peers():
            if info.node_id == node_id:
                return info.remote_address.rsplit(":", 1)[0]
        return ""

    async def _work_loop(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                await self._requests.serve(job)
            except PeerGone:
                pass
            except Exception:
                log.exception("archive: serving a request failed")
            finally:
                self.admission.done(job.node_id)

    async def sync_from(
        self,
        node: Node,
        node_id: NodeID,
        lower: int,
        upper: int,
        bloom: bytes = FULL_BLOOM,
        *,
        limit: int = MAX_SYNC_LIMIT,
        cursor: Cursor | None = None,
        follow_cursor: bool = True,
        timeout: float = 10.0,
        max_pages: int | None = None,
        max_envelopes: int | None = None,
        max_seconds: float | None = None,
    ) -> SyncResult:
        """Fetch `lower..upper` from a trusted archive peer (123/124) into this store.

        Bounded per sync: each page must come within `timeout`; at most `max_pages` pages,
        `max_envelopes` envelopes received and `max_seconds` in all (defaults: the config's
        `sync_*`); past one, the sync stops with `limited` set and `cursor` where to go on.
        A 124 with more envelopes than the limit, or a cursor that is outside the range or did
        not move back, ends the sync with `error` (nothing of that page stored); envelopes that
        don't decode, or lie outside the range or the bloom, are counted `invalid`, not stored."""
        config = self.config
        max_pages = config.sync_max_pages if max_pages is None else max_pages
        max_envelopes = config.sync_max_envelopes if max_envelopes is None else max_envelopes
        max_seconds = config.sync_seconds if max_seconds is None else max_seconds
        if not 1 <= limit <= MAX_SYNC_LIMIT:
            raise UsageError(f"limit must be 1..{MAX_SYNC_LIMIT}")
        if lower > upper:
            raise UsageError("lower must not be after upper")
        if max_pages < 1 or max_envelopes < 1 or max_seconds <= 0:
            raise UsageError("a sync needs at least one page, one envelope and some time")
        if node_id in self._syncs:
            raise UsageError("a sync from this peer is already running")
        result = SyncResult()
        loop = asyncio.get_running_loop()
        started = self.clock.monotonic()
        try:
            while True:
                answer: asyncio.Future[bytes] = loop.create_future()
                self._syncs[node_id] = answer
                request = encode_sync_request(lower, upper, bloom, limit, cursor)
                await self._requests.send(node, node_id, SYNC_REQUEST, request)
                left = max_seconds - (self.clock.monotonic() - started)
                try:
                    async with asyncio.timeout(max(0.0, min(timeout, left))):
                        payload = await answer
                    response = decode_sync_response(payload)
                    check_sync_response(response, lower, upper, limit, cursor)
                except TimeoutError:
                    if left < timeout:
                        result.limited = True
                        result.cursor = cursor
                    else:
                        result.error = "sync expired: no answer from the peer in time"
                    break
                except DecodeError as exc:
                    result.error = f"invalid sync response: {exc}"
                    break
                result.pages += 1
                result.received += len(response.raw_envelopes)
                rows = self._sync_rows(response.raw_envelopes, lower, upper, bloom, result)
                if rows:
                    new = await run_in(self._writer, self.store.put, rows)
                    result.archived += new
                    self.stats.archived(self.backend, new)
                if response.error:
                    result.error = response.error
                    break
                result.cursor = cursor = response.cursor
                if cursor is None or not follow_cursor:
                    break
                if (
                    result.pages >= max_pages
                    or result.received >= max_envelopes
                    or self.clock.monotonic() - started >= max_seconds
                ):
                    result.limited = True
                    break
        except PeerGone as exc:
            result.error = f"the peer is gone: {exc}"
        finally:
            self._syncs.pop(node_id, None)
        return result

    @staticmethod
    def _sync_rows(
        raws: list[bytes], lower: int, upper: int, bloom: bytes, result: SyncResult
    ) -> list[ArchivedEnvelope]:
        """The page's envelopes that decode and were asked for (range, bloom), as rows."""
        full = bloom == FULL_BLOOM
        rows = []
        for raw in raws:
            try:
                envelope = Envelope.decode(raw)
            except HushError:
                result.invalid += 1
                continue
            if not lower <= envelope.sent <= upper or (
                not full and not bloom_matches(Bloom(bloom), topic_to_bloom(envelope.topic))
            ):
                result.invalid += 1
                continue
            rows.append(ArchivedEnvelope.of(envelope, raw, keccak256(raw)))
        return rows
