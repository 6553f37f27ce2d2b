"""The archive server in a node: archive at first pool insertion, answer code 126 requests
(archive.md §1.3, §1.7; whisper-v6.md §6).

* Ingest: `observer` is a `NodeObserver`; `envelope_accepted` (first pool insertion, never a
  direct 127 message) appends the raw bytes to a bounded buffer that a writer thread commits every
  `flush_interval` or `flush_rows`. Rows the store committed are *acknowledged* (`archived`); if
  the buffer is full, new envelopes are dropped and counted (`dropped`), never blocking the node.
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
  at a time (a 124 carries no request ID); an unasked 124 is ignored.
* Retention: every `prune_interval`, envelopes older than `retention_days` go in batches, then the
  oldest while the store exceeds `max_db_bytes`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from hush import rlp
from hush.archive.admission import Admission, AdmissionConfig
from hush.archive.complete import (
    NO_HASH,
    CompleteForm,
    bundle_envelopes,
    encode_complete,
    encode_error,
)
from hush.archive.cursor import Cursor
from hush.archive.page import PageQuery, resolve, topics_for_bloom
from hush.archive.request import (
    Dialect,
    HistoryRequest,
    RequestRefused,
    decode_p2p_request,
    open_request,
    parse_request_payload,
)
from hush.archive.store import ArchivedEnvelope, EnvelopeStore
from hush.archive.sync import (
    MAX_SYNC_LIMIT,
    decode_sync_request,
    decode_sync_response,
    encode_sync_request,
    encode_sync_response,
)
from hush.clock import SYSTEM_CLOCK, Clock
from hush.crypto.keccak import keccak256
from hush.crypto.keys import PrivateKey
from hush.crypto.symmetric import SymmetricKey
from hush.enode import short_id
from hush.errors import DecodeError, HushError, UsageError
from hush.metrics.archive import ArchiveStats
from hush.node.hooks import NodeObserver
from hush.shh.envelope import Envelope
from hush.shh.packets import PacketCode
from hush.shh.peer import SYNC_REQUEST, SYNC_RESPONSE, MailPacket
from hush.shh.pool import PooledEnvelope
from hush.shh.topic import FULL_BLOOM, bloom_matches, topic_to_bloom
from hush.types import Bloom, EnvelopeHash, NodeID

if TYPE_CHECKING:
    from collections.abc import Callable

    from hush.node.node import Node

__all__ = ["REQUEST_COMPLETE", "ArchiveConfig", "ArchiveServer", "SyncResult"]

log = logging.getLogger(__name__)

REQUEST_COMPLETE = 125  # status-im/whisper p2pRequestCompleteCode
_SEND_TIMEOUT = 60.0  # status-go processRequestTimeout, per packet here
_BUNDLE_HEADROOM = 1024
_T = TypeVar("_T")
_DIALECT_LABELS = {  # hush.metrics.archive.DIALECTS
    Dialect.RAW: "raw",
    Dialect.RAW_PAGED: "raw",
    Dialect.STATUS_V1: "status_v1",
    Dialect.SPEC_V03: "status_v1",
    Dialect.STATUS_V2: "status_v2",
    Dialect.WAKU: "waku",
    Dialect.DIRECT: "direct",
}
_RATE_REFUSALS = frozenset({"rate limit exceeded", "too many concurrent requests", "server busy"})


@dataclass(frozen=True, slots=True)
class ArchiveConfig:
    """The archive server's settings (`hush node --archive …`)."""

    db_url: str | None = None
    """`postgresql://…`, a SQLite path, or None: `archive.sqlite` in the data directory."""
    password: str | None = None
    """Requests may be encrypted with the key derived from this password (PBKDF2, like geth)."""
    accept_node_key: bool = True
    """Requests may be encrypted to the node's key."""
    accept_direct: bool = True
    """Direct `MessagesRequest`s (dialect E: unencrypted, unsigned, as status-im/whisper
    accepts them) are served; False: refused."""
    min_request_pow: float = 0.0
    complete_form: CompleteForm = CompleteForm.BYTES
    raw_max_range: int = 0
    """Seconds a raw (wnode) request may span; 0: no cap."""
    raw_max_envelopes: int = 10_000
    """A raw request has no limit field: the server follows its own cursor up to this many."""
    max_bloom_topics: int = 1000
    """A bloom request is answered by topic lookups when at most this many topics match (and
    the range has at most 10x as many); beyond, by reading the range and filtering."""
    max_request_bytes: int = 65_536
    page_bytes: int = 8 * 1024 * 1024
    admission: AdmissionConfig = field(default_factory=AdmissionConfig)
    queue_deadline: float = 10.0
    """Seconds a request may wait for a worker before it is answered "server busy"."""
    workers: int = 4
    """Requests served at once (each on its own reader thread)."""
    flush_interval: float = 0.1
    flush_rows: int = 500
    ingest_rows: int = 100_000
    ingest_bytes: int = 64 * 1024 * 1024
    retention_days: float = 30.0
    """0: keep forever (geth's mailserver)."""
    max_db_bytes: int = 0
    """0: no size cap."""
    prune_interval: float = 3600.0
    prune_batch: int = 5000


@dataclass(slots=True)
class _Job:
    node: Node
    node_id: NodeID
    request: Envelope | MailPacket
    """The request envelope, a 126 payload that is not one (dialect E, or garbage), or a 123."""
    queued_at: float


@dataclass(slots=True)
class SyncResult:
    """What `ArchiveServer.sync_from` got from a peer."""

    pages: int = 0
    received: int = 0
    """Envelopes in the 124s."""
    archived: int = 0
    """Of those, new to this store."""
    invalid: int = 0
    """Not envelopes: skipped."""
    cursor: Cursor | None = None
    """Where the peer had more (`follow_cursor` off, or an error)."""
    error: str | None = None


class _PeerGone(Exception):
    """The requester left, or stopped reading; the reply is abandoned."""


class _Observer(NodeObserver):
    def __init__(self, server: ArchiveServer) -> None:
        self._server = server

    def envelope_accepted(
        self, entry: PooledEnvelope, envelope: Envelope, source: NodeID | None, local: bool
    ) -> None:
        self._server.archive(entry, envelope)


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
        self.store = store
        self.stats = stats if stats is not None else ArchiveStats()
        """Counters for metrics (`NodeStats.archive`; docs/metrics.md)."""
        self.backend = getattr(store, "backend", "other")
        self.config = config = config or ArchiveConfig()
        self.clock = clock
        self.sym_key = SymmetricKey.from_password(config.password) if config.password else None
        self.observer: NodeObserver = _Observer(self)
        self.admission = Admission(config.admission)
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._buffer: list[ArchivedEnvelope] = []
        self._buffer_bytes = 0
        self._wake = asyncio.Event()
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="archive-writer")
        self._readers = ThreadPoolExecutor(config.workers, thread_name_prefix="archive-reader")
        self._tasks: list[asyncio.Task[None]] = []
        self._flush_lock = asyncio.Lock()
        self.archived = 0
        """Envelopes the store acknowledged (committed)."""
        self.dropped = 0
        """Envelopes dropped because the ingest buffer was full."""
        self.served = 0
        self.refused = 0
        self._syncs: dict[NodeID, asyncio.Future[bytes]] = {}
        """The 124 awaited from each peer a sync runs with."""

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
        self.stats.set_archived(self.backend, await self._run(self._writer, self.store.count))
        self._tasks.append(asyncio.create_task(self._flush_loop()))
        self._tasks.extend(
            asyncio.create_task(self._work_loop()) for _ in range(self.config.workers)
        )
        if self.config.retention_days > 0 or self.config.max_db_bytes > 0:
            self._tasks.append(asyncio.create_task(self._prune_loop()))

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
                new = await self._run(self._writer, self.store.put, rows)
            except Exception:
                self.stats.archive_error(self.backend)
                raise
            self.archived += len(rows)
            self.stats.archived(self.backend, new)
            return new

    async def _flush_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.flush_interval):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
            except Exception:  # a database error must not end archiving: retry next round
                log.exception("archive: storing envelopes failed")

    async def _prune_loop(self) -> None:
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
                count = await self._run(self._writer, self.store.prune, before, config.prune_batch)
                removed += count
                self.stats.pruned(self.backend, count)
                if count < config.prune_batch:
                    break
        if config.max_db_bytes > 0:
            while True:
                count = await self._run(
                    self._writer, self.store.shrink, config.max_db_bytes, config.prune_batch
                )
                removed += count
                self.stats.pruned(self.backend, count)
                if count == 0:
                    break
        return removed

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
            size, request_id = len(request.payload), _direct_id(request.payload)
        why = "request too large" if size > self.config.max_request_bytes else None
        if why is None:
            why = self.admission.admit(node_id, self._ip(node, node_id), self.clock.monotonic())
        if why is not None:
            if isinstance(request, MailPacket) and request.code == SYNC_REQUEST:
                self.refused += 1
                with contextlib.suppress(_PeerGone):
                    refusal = encode_sync_response([], None, why)
                    await self._send(node, node_id, SYNC_RESPONSE, refusal)
            else:
                await self._refuse(node, node_id, request_id, why)
            return
        self._queue.put_nowait(_Job(node, node_id, request, self.clock.monotonic()))

    @staticmethod
    def _ip(node: Node, node_id: NodeID) -> str:
        for info in node.peers():
            if info.node_id == node_id:
                return info.remote_address.rsplit(":", 1)[0]
        return ""

    async def _refuse(
        self,
        node: Node,
        node_id: NodeID,
        request_id: bytes,
        why: str,
        dialect: str = "other",
        result: str = "invalid",
    ) -> None:
        self.refused += 1
        if why in _RATE_REFUSALS:
            result = "rate_limited"
        self.stats.request(dialect, result, backend=self.backend)
        log.debug("archive: refused a request from %s: %s", short_id(node_id), why)
        with contextlib.suppress(_PeerGone):
            await self._send(node, node_id, REQUEST_COMPLETE, encode_error(request_id, why))

    async def _send(self, node: Node, node_id: NodeID, code: int, payload: bytes) -> None:
        try:
            async with asyncio.timeout(_SEND_TIMEOUT):
                await node.send_packet(node_id, code, payload)
        except (HushError, OSError, TimeoutError) as exc:
            raise _PeerGone(str(exc)) from exc

    async def _work_loop(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                await self._serve(job)
            except _PeerGone:
                pass
            except Exception:
                log.exception("archive: serving a request failed")
            finally:
                self.admission.done(job.node_id)

    async def _serve(self, job: _Job) -> None:
        if isinstance(job.request, MailPacket) and job.request.code == SYNC_REQUEST:
            await self._serve_sync(job, job.request.payload)
            return
        raw = job.request if isinstance(job.request, Envelope) else job.request.payload
        request_id: bytes = raw.hash if isinstance(raw, Envelope) else _direct_id(raw)
        dialect = "other" if isinstance(raw, Envelope) else "direct"
        started = self.clock.monotonic()
        try:
            if self.clock.monotonic() - job.queued_at > self.config.queue_deadline:
                raise RequestRefused("server busy")
            node_key = job.node.node_key if self.config.accept_node_key else None
            request = await self._run(self._readers, self._open, raw, node_key)
            request_id = request.request_id
            dialect = _DIALECT_LABELS[request.dialect]
            await self._reply(job, request)
            self.served += 1
            seconds = self.clock.monotonic() - started
            self.stats.request(dialect, "ok", seconds, backend=self.backend)
        except RequestRefused as exc:
            await self._refuse(job.node, job.node_id, request_id, str(exc), dialect)
        except _PeerGone:
            raise
        except Exception:
            log.exception("archive: query failed")
            await self._refuse(
                job.node, job.node_id, request_id, "internal error", dialect, result="error"
            )

    def _open(self, request: Envelope | bytes, node_key: PrivateKey | None) -> HistoryRequest:
        if isinstance(request, Envelope):
            envelope = request
        else:
            decoded = decode_p2p_request(request)  # dialect E, or RequestRefused
            if isinstance(decoded, HistoryRequest):
                if not self.config.accept_direct:
                    raise RequestRefused("direct requests are not accepted here")
                return decoded
            envelope = decoded
        payload = open_request(envelope, self.sym_key, node_key, self.config.min_request_pow)
        return parse_request_payload(payload, envelope.hash)

    async def _serve_sync(self, job: _Job, payload: bytes) -> None:
        """Answer a 123 with one 124 page (an error in its `Error` field, never a disconnect)."""
        try:
            if self.clock.monotonic() - job.queued_at > self.config.queue_deadline:
                raise RequestRefused("server busy")
            request = decode_sync_request(payload)
            bloom = None if request.bloom == FULL_BLOOM else request.bloom
            query = PageQuery(
                request.lower, request.upper, None, request.limit, request.cursor, bloom
            )
            query, post_filter = await self._topics_for(query)
            room = min(job.node.max_message_size, 1024 * 1024) - _BUNDLE_HEADROOM
            page = await self._run(
                self._readers, self.store.page, query, min(room, self.config.page_bytes)
            )
            raws = page.raw_envelopes
            if post_filter is not None:
                raws = [raw for raw in raws if _in_bloom(raw, post_filter)]
            self.stats.sent(len(raws), sum(map(len, raws)))
            response = encode_sync_response(raws, page.next_cursor)
            self.served += 1
        except RequestRefused as exc:
            self.refused += 1
            response = encode_sync_response([], None, str(exc))
        await self._send(job.node, job.node_id, SYNC_RESPONSE, response)

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
    ) -> SyncResult:
        """Fetch `lower..upper` from a trusted archive peer (123/124) into this store. Each page
        must come within `timeout`, and its cursor must move back in time (so the loop ends)."""
        if not 1 <= limit <= MAX_SYNC_LIMIT:
            raise UsageError(f"limit must be 1..{MAX_SYNC_LIMIT}")
        if node_id in self._syncs:
            raise UsageError("a sync from this peer is already running")
        result = SyncResult()
        loop = asyncio.get_running_loop()
        try:
            while True:
                answer: asyncio.Future[bytes] = loop.create_future()
                self._syncs[node_id] = answer
                request = encode_sync_request(lower, upper, bloom, limit, cursor)
                await self._send(node, node_id, SYNC_REQUEST, request)
                try:
                    async with asyncio.timeout(timeout):
                        payload = await answer
                    response = decode_sync_response(payload)
                except TimeoutError:
                    result.error = "sync expired: no answer from the peer in time"
                    break
                except DecodeError as exc:
                    result.error = f"invalid sync response: {exc}"
                    break
                result.pages += 1
                result.received += len(response.raw_envelopes)
                rows = []
                for raw in response.raw_envelopes:
                    try:
                        envelope = Envelope.decode(raw)
                    except HushError:
                        result.invalid += 1
                        continue
                    rows.append(ArchivedEnvelope.of(envelope, raw, keccak256(raw)))
                if rows:
                    new = await self._run(self._writer, self.store.put, rows)
                    result.archived += new
                    self.stats.archived(self.backend, new)
                if response.error:
                    result.error = response.error
                    break
                if response.cursor is not None and cursor is not None and response.cursor >= cursor:
                    result.error = "sync response: the cursor did not move back"
                    break
                result.cursor = cursor = response.cursor
                if cursor is None or not follow_cursor:
                    break
        except _PeerGone as exc:
            result.error = f"the peer is gone: {exc}"
        finally:
            self._syncs.pop(node_id, None)
        return result

    async def _topics_for(self, query: PageQuery) -> tuple[PageQuery, Bloom | None]:
        """A bloom becomes a topic list (index lookups) unless the range holds too many
        distinct topics, or too many match: then every row is read and filtered by the caller
        (the returned bloom), and pages may carry fewer envelopes than the limit (the cursor
        stays exact)."""
        if query.bloom is None:
            return query, None
        most = self.config.max_bloom_topics
        candidates = await self._run(
            self._readers, self.store.topics_between, query.lower, query.upper, 10 * most + 1
        )
        topics = topics_for_bloom(candidates, query.bloom)
        if len(candidates) > 10 * most or len(topics) > most:
            return replace(query, topics=None, bloom=None), query.bloom
        return replace(query, topics=topics, bloom=None), None

    async def _reply(self, job: _Job, request: HistoryRequest) -> None:
        config = self.config
        query = resolve(request, int(self.clock.time()), config.raw_max_range)
        kind = "topics" if query.bloom is None else "bloom"
        query, post_filter = await self._topics_for(query)
        follow = request.dialect is Dialect.RAW  # wnode: no limit, no cursor; send it all
        bundle = min(job.node.max_message_size, 1024 * 1024) - _BUNDLE_HEADROOM
        sent = 0
        last_hash: bytes | None = None
        cursor = query.cursor
        while True:
            limit = min(query.limit, config.raw_max_envelopes - sent) if follow else query.limit
            asked = self.clock.monotonic()
            page = await self._run(
                self._readers,
                self.store.page,
                replace(query, cursor=cursor, limit=limit),
                config.page_bytes,
            )
            self.stats.query(self.backend, kind, self.clock.monotonic() - asked)
            raws = page.raw_envelopes
            page_last = page.last_hash
            if post_filter is not None:
                raws = [raw for raw in raws if _in_bloom(raw, post_filter)]
                page_last = EnvelopeHash(keccak256(raws[-1])) if raws else None
            self.stats.sent(len(raws), sum(map(len, raws)))
            if request.batch:
                for packet in bundle_envelopes(raws, bundle):
                    await self._send(job.node, job.node_id, PacketCode.P2P_MESSAGE, packet)
            else:
                for raw in raws:
                    await self._send(job.node, job.node_id, PacketCode.P2P_MESSAGE, raw)
            sent += len(raws)
            last_hash = page_last or last_hash
            cursor = page.next_cursor
            if not follow or cursor is None or sent >= config.raw_max_envelopes:
                break
        complete = encode_complete(
            request.request_id, last_hash or NO_HASH, cursor, config.complete_form
        )
        await self._send(job.node, job.node_id, REQUEST_COMPLETE, complete)

    async def _run(self, executor: ThreadPoolExecutor, fn: Callable[..., _T], *args: Any) -> _T:
        return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)


def _direct_id(payload: bytes) -> bytes:
    """The ID to answer a non-envelope 126 payload with: its item 0 if that looks like a
    MessagesRequest ID (so a refused direct request is matched by its sender), else the
    payload's keccak."""
    with contextlib.suppress(DecodeError):
        item, _ = rlp.decode_prefix(payload)
        if isinstance(item, list) and item and isinstance(item[0], bytes) and len(item[0]) == 32:
            return item[0]
    return keccak256(payload)


def _in_bloom(raw: bytes, bloom: Bloom) -> bool:
    try:
        return bloom_matches(bloom, topic_to_bloom(Envelope.decode(raw).topic))
    except HushError:  # a stored row that no longer decodes is not served
        return False
