"""Request handling of the archive server: one admitted request answered, per dialect
(archive.md §1.3, §1.7; whisper-v6.md §6).

`RequestServer.serve` takes a `Job` off the queue (answered "server busy" past its deadline),
opens the request (decrypts on a reader thread; dialect E direct requests too), queries the
store and sends the reply: one raw envelope per 127 packet, or lists of them when the client
asked for batches, then 125. A 123 (server↔server sync) is answered with one 124 page. A
refusal is `ERROR=…` on 125 (or the 124's `Error`), never a disconnect; `served` and `refused`
count them. A reply holds one page, capped at `page_bytes`.

`ArchiveServer` (hush.archive.server) admits and queues; its workers call `serve`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from hush import rlp
from hush.archive.complete import NO_HASH, bundle_envelopes, encode_complete, encode_error
from hush.archive.config import ArchiveConfig
from hush.archive.ingest import run_in
from hush.archive.page import PageQuery, resolve, topics_for_bloom
from hush.archive.request import (
    Dialect,
    HistoryRequest,
    RequestRefused,
    decode_p2p_request,
    open_request,
    parse_request_payload,
)
from hush.archive.store import EnvelopeStore
from hush.archive.sync import decode_sync_request, encode_sync_response
from hush.clock import Clock
from hush.crypto.keccak import keccak256
from hush.crypto.keys import PrivateKey
from hush.crypto.symmetric import SymmetricKey
from hush.enode import short_id
from hush.errors import DecodeError, HushError
from hush.metrics.archive import ArchiveStats
from hush.shh.envelope import Envelope
from hush.shh.packets import PacketCode
from hush.shh.peer import SYNC_REQUEST, SYNC_RESPONSE, MailPacket
from hush.shh.topic import FULL_BLOOM, bloom_matches, topic_to_bloom
from hush.types import Bloom, EnvelopeHash, NodeID

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from hush.node.node import Node

__all__ = ["REQUEST_COMPLETE", "Job", "PeerGone", "RequestServer", "direct_id", "in_bloom"]

log = logging.getLogger(
    "hush.archive.server"
)  # the server's name in log lines, as before the split

REQUEST_COMPLETE = 125  # status-im/whisper p2pRequestCompleteCode
_SEND_TIMEOUT = 60.0  # status-go processRequestTimeout, per packet here
_BUNDLE_HEADROOM = 1024
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


@dataclass(slots=True)
class Job:
    """A request admitted and queued for a worker."""

    node: Node
    node_id: NodeID
    request: Envelope | MailPacket
    """The request envelope, a 126 payload that is not one (dialect E, or garbage), or a 123."""
    queued_at: float


class PeerGone(Exception):
    """The requester left, or stopped reading; the reply is abandoned."""


class RequestServer:
    """Answers admitted requests on the reader thread pool; sends and refuses for the server."""

    def __init__(
        self,
        store: EnvelopeStore,
        config: ArchiveConfig,
        clock: Clock,
        stats: ArchiveStats,
        backend: str,
        readers: ThreadPoolExecutor,
        sym_key: SymmetricKey | None,
    ) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.stats = stats
        self.backend = backend
        self.sym_key = sym_key
        self._readers = readers
        self.served = 0
        self.refused = 0

    async def refuse(
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
        with contextlib.suppress(PeerGone):
            await self.send(node, node_id, REQUEST_COMPLETE, encode_error(request_id, why))

    async def send(self, node: Node, node_id: NodeID, code: int, payload: bytes) -> None:
        try:
            async with asyncio.timeout(_SEND_TIMEOUT):
                await node.send_packet(node_id, code, payload)
        except (HushError, OSError, TimeoutError) as exc:
            raise PeerGone(str(exc)) from exc

    async def serve(self, job: Job) -> None:
        if isinstance(job.request, MailPacket) and job.request.code == SYNC_REQUEST:
            await self._serve_sync(job, job.request.payload)
            return
        raw = job.request if isinstance(job.request, Envelope) else job.request.payload
        request_id: bytes = raw.hash if isinstance(raw, Envelope) else direct_id(raw)
        dialect = "other" if isinstance(raw, Envelope) else "direct"
        started = self.clock.monotonic()
        try:
            if self.clock.monotonic() - job.queued_at > self.config.queue_deadline:
                raise RequestRefused("server busy")
            node_key = job.node.node_key if self.config.accept_node_key else None
            request = await run_in(self._readers, self._open, raw, node_key)
            request_id = request.request_id
            dialect = _DIALECT_LABELS[request.dialect]
            await self._reply(job, request)
            self.served += 1
            seconds = self.clock.monotonic() - started
            self.stats.request(dialect, "ok", seconds, backend=self.backend)
        except RequestRefused as exc:
            await self.refuse(job.node, job.node_id, request_id, str(exc), dialect)
        except PeerGone:
            raise
        except Exception:
            log.exception("archive: query failed")
            await self.refuse(
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

    async def _serve_sync(self, job: Job, payload: bytes) -> None:
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
            page = await run_in(
                self._readers, self.store.page, query, min(room, self.config.page_bytes)
            )
            raws = page.raw_envelopes
            if post_filter is not None:
                raws = [raw for raw in raws if in_bloom(raw, post_filter)]
            self.stats.sent(len(raws), sum(map(len, raws)))
            response = encode_sync_response(raws, page.next_cursor)
            self.served += 1
        except RequestRefused as exc:
            self.refused += 1
            response = encode_sync_response([], None, str(exc))
        await self.send(job.node, job.node_id, SYNC_RESPONSE, response)

    async def _topics_for(self, query: PageQuery) -> tuple[PageQuery, Bloom | None]:
        """A bloom becomes a topic list (index lookups) unless the range holds too many
        distinct topics, or too many match: then every row is read and filtered by the caller
        (the returned bloom), and pages may carry fewer envelopes than the limit (the cursor
        stays exact)."""
        if query.bloom is None:
            return query, None
        most = self.config.max_bloom_topics
        candidates = await run_in(
            self._readers, self.store.topics_between, query.lower, query.upper, 10 * most + 1
        )
        topics = topics_for_bloom(candidates, query.bloom)
        if len(candidates) > 10 * most or len(topics) > most:
            return replace(query, topics=None, bloom=None), query.bloom
        return replace(query, topics=topics, bloom=None), None

    async def _reply(self, job: Job, request: HistoryRequest) -> None:
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
            page = await run_in(
                self._readers,
                self.store.page,
                replace(query, cursor=cursor, limit=limit),
                config.page_bytes,
            )
            self.stats.query(self.backend, kind, self.clock.monotonic() - asked)
            raws = page.raw_envelopes
            page_last = page.last_hash
            if post_filter is not None:
                raws = [raw for raw in raws if in_bloom(raw, post_filter)]
                page_last = EnvelopeHash(keccak256(raws[-1])) if raws else None
            self.stats.sent(len(raws), sum(map(len, raws)))
            if request.batch:
                for packet in bundle_envelopes(raws, bundle):
                    await self.send(job.node, job.node_id, PacketCode.P2P_MESSAGE, packet)
            else:
                for raw in raws:
                    await self.send(job.node, job.node_id, PacketCode.P2P_MESSAGE, raw)
            sent += len(raws)
            last_hash = page_last or last_hash
            cursor = page.next_cursor
            if not follow or cursor is None or sent >= config.raw_max_envelopes:
                break
        complete = encode_complete(
            request.request_id, last_hash or NO_HASH, cursor, config.complete_form
        )
        await self.send(job.node, job.node_id, REQUEST_COMPLETE, complete)


def direct_id(payload: bytes) -> bytes:
    """The ID to answer a non-envelope 126 payload with: its item 0 if that looks like a
    MessagesRequest ID (so a refused direct request is matched by its sender), else the
    payload's keccak."""
    with contextlib.suppress(DecodeError):
        item, _ = rlp.decode_prefix(payload)
        if isinstance(item, list) and item and isinstance(item[0], bytes) and len(item[0]) == 32:
            return item[0]
    return keccak256(payload)


def in_bloom(raw: bytes, bloom: Bloom) -> bool:
    try:
        return bloom_matches(bloom, topic_to_bloom(Envelope.decode(raw).topic))
    except HushError:  # a stored row that no longer decodes is not served
        return False
