"""The history client: ask an archive server for what was missed, deliver it to local filters
(archive.md §1.4, §1.5, §1.7).

It opens its own devp2p session to the server, with a throwaway key (so the server need not be a
peer of the node, and the node's own session with it is never disturbed), announces an empty
bloom (no gossip), and sends requests on 126:

* `mode="v2"` (hush and status-go ≥ 2020 servers): Status RLP v2 with the topic list (exact, no
  bloom false positives) and Batch set; 127 carries lists; every page ends with 125, whose
  cursor is followed until the server gives none. `mode="v1"`: the 2018–2019 form (bloom only).
* `mode="direct"` (hush and status-im/whisper servers): a direct `MessagesRequest` (dialect E),
  neither encrypted, signed nor sealed (no PoW cost), with a random 32-byte ID; bloom only, so
  the topics are checked here; batched 127s and 125 as for v2.
* `mode="raw"` (geth `wnode -mailserver`): `lower ‖ upper ‖ bloom`, one envelope per 127 and no
  125: the request is complete once no 127 came for `idle_timeout` seconds.

Following the cursor from the start, the window may be cut into `parallel` slices of time, each
its own cursor chain, asked for at once over the one session (a reader task hands each 125 to its
request by ID); stopped early (`max_envelopes`), the cursor returned is where nothing newer was
missed.

Windows overlap: `overlap` seconds (the shhext default is TTL + 20 s, archive.md §1.7) move the
lower bound earlier, so an envelope that reached the server after the previous window was
fetched, though sent inside it, still comes; a shared `RecentHashes` keeps what was already
delivered from coming twice across requests (bounded, oldest forgotten first).

Requests are signed with the session key and encrypted with the server's password key if given,
else to the server's node key (from its enode), and sealed to `pow_target`. Delivered envelopes
are checked against the request (range, topics), deduplicated by hash, and bounded in count
(`max_envelopes`); a page that does not end within `timeout` is reported as expired.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from hush import rlp
from hush.archive.complete import RequestComplete, RequestFailed, decode_complete
from hush.archive.cursor import Cursor
from hush.archive.request import (
    encode_direct_request,
    encode_raw_request,
    encode_status_v1,
    encode_status_v2,
)
from hush.archive.server import REQUEST_COMPLETE
from hush.clock import SYSTEM_CLOCK, Clock
from hush.crypto.keys import PrivateKey
from hush.crypto.symmetric import SymmetricKey
from hush.enode import Enode
from hush.errors import DecodeError, DisconnectReason, HushError, UsageError
from hush.metrics.archive import ArchiveStats
from hush.net import P2PConfig, PeerDisconnected, dial
from hush.net.transport import PeerLink, Transport
from hush.shh import packets
from hush.shh.envelope import Envelope
from hush.shh.message import wrap
from hush.shh.packets import PacketCode, Status
from hush.shh.pow import NonceSearch, target_bits
from hush.shh.topic import EMPTY_BLOOM, FULL_BLOOM, aggregate_blooms, topic_to_bloom
from hush.types import EnvelopeHash, RandomBytes, Topic

__all__ = ["DEFAULT_OVERLAP", "HistoryClient", "HistoryQuery", "HistoryResult", "RecentHashes"]

_REQUEST_TTL = 50  # wnode's
_ZERO_TOPIC = Topic(bytes(4))
_MAX_NONCES = 1 << 26
_MODES = ("v2", "v1", "direct", "raw")
DEFAULT_OVERLAP = 50 + 20
"""Seconds windows overlap: geth's default TTL (50 s) + Status's 20 s."""


class RecentHashes:
    """The hashes of envelopes delivered lately, at most `capacity` (oldest forgotten first):
    deduplication across history requests, bounded."""

    def __init__(self, capacity: int = 200_000):
        self.capacity = capacity
        self._hashes: dict[EnvelopeHash, None] = {}

    def __len__(self) -> int:
        return len(self._hashes)

    def __contains__(self, envelope_hash: object) -> bool:
        return envelope_hash in self._hashes

    def add(self, envelope_hash: EnvelopeHash) -> None:
        hashes = self._hashes
        hashes[envelope_hash] = None
        while len(hashes) > self.capacity:
            del hashes[next(iter(hashes))]


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    lower: int
    upper: int
    topics: tuple[Topic, ...] = ()
    """Empty: every topic."""
    limit: int = 1000
    cursor: Cursor | None = None
    follow_cursor: bool = True
    sym_key: SymmetricKey | None = None
    """The server's password key; None: encrypt to the server's node key."""
    mode: str = "v2"
    """"v2" or "v1" (Status RLP: paged, batched, 125), "direct" (dialect E: like v2 without
    encryption or PoW), or "raw" (geth wnode: single 127s, no 125)."""
    timeout: float = 10.0
    """Seconds a page may take to complete."""
    idle_timeout: float = 2.0
    """raw mode: seconds without a 127 that end the request."""
    pow_target: float = 0.2
    max_envelopes: int = 100_000
    """At most this many are delivered (and their hashes kept, for deduplication)."""
    overlap: int = 0
    """Seconds the lower bound is moved earlier (see the module's notes); the answer says
    which lower bound was asked for (`HistoryResult.lower`)."""
    parallel: int = 1
    """Paged modes following the cursor from the start: the window is cut into this many
    slices, each a cursor chain of its own, requested at once over the one session (a hush
    server answers 2 requests of a peer at a time; `shhext_requestMessages` asks for 2): a
    page's query and request sealing overlap the other's transfer, and round trips halve on a
    slow link."""


@dataclass(slots=True)
class HistoryResult:
    request_id: bytes = b""
    """The first request's envelope hash."""
    cursor: Cursor | None = None
    """Where to go on, if the server had more and the cursor was not followed."""
    last_envelope_hash: bytes | None = None
    pages: int = 0
    envelopes: int = 0
    """New envelopes delivered."""
    duplicates: int = 0
    filtered: int = 0
    """Envelopes outside the request's range or topics (bloom false positives): dropped."""
    error: str | None = None
    expired: bool = False
    lower: int = 0
    """The lower bound asked for, `overlap` included."""
    hashes: set[EnvelopeHash] = field(default_factory=set, repr=False)


def _bloom(topics: tuple[Topic, ...]) -> bytes:
    return aggregate_blooms(*(topic_to_bloom(t) for t in topics)) if topics else FULL_BLOOM


class HistoryClient:
    """Fetches history from archive servers; `deliver(envelope, hash)` gets each new one."""

    def __init__(
        self,
        deliver: Callable[[Envelope, EnvelopeHash], None],
        *,
        random_bytes: RandomBytes = os.urandom,
        clock: Clock = SYSTEM_CLOCK,
        client_id: str = "hush-history",
        stats: ArchiveStats | None = None,
        recent: RecentHashes | None = None,
        transport: Transport | None = None,
    ):
        self.transport = transport
        """Where the session to the server is dialled (a simulation's memory network, say);
        None: a TCP connection of its own."""
        self.stats = stats
        """Where each page's outcome is counted (`NodeStats.archive`: hush_history_*)."""
        self._deliver = deliver
        self.recent = recent
        """Shared by every fetch: envelopes delivered by an earlier one are not delivered again."""
        self._random_bytes = random_bytes
        self._clock = clock
        self._p2p = P2PConfig(client_id=client_id, capabilities=(("shh", 6, 128),))

    async def fetch(
        self,
        server: str | Enode,
        query: HistoryQuery,
        progress: Callable[[HistoryResult], None] | None = None,
    ) -> HistoryResult:
        if query.mode not in _MODES:
            raise UsageError(f"unknown history mode {query.mode!r} (v2, v1, direct or raw)")
        if not 1 <= query.limit <= 1000:
            raise UsageError("limit must be 1..1000")
        if query.lower > query.upper:
            raise UsageError("from must not be after to")
        enode = Enode.parse(server) if isinstance(server, str) else server
        if query.overlap:
            query = replace(query, lower=max(0, query.lower - query.overlap), overlap=0)
        key = PrivateKey.generate(self._random_bytes)
        try:
            connection: PeerLink
            if self.transport is not None:
                connection = await self.transport.dial(
                    key, enode, self._p2p, lambda _id, _inbound: None, self._random_bytes
                )
            else:
                connection = await dial(key, enode, self._p2p, random_bytes=self._random_bytes)
        except (PeerDisconnected, OSError, HushError) as exc:
            raise UsageError(f"cannot reach the archive server: {exc}") from exc
        result = HistoryResult(lower=query.lower)
        try:
            await connection.send_message(
                "shh", PacketCode.STATUS, packets.encode_status(Status(bloom=EMPTY_BLOOM))
            )
            session = _Session(self, connection, key, enode, query, result, progress)
            await session.run()
        except PeerDisconnected as exc:
            result.error = f"the archive server disconnected: {exc}"
            if self.stats is not None:
                self.stats.history("failed")
        finally:
            with contextlib.suppress(HushError, OSError):
                await connection.disconnect(DisconnectReason.REQUESTED)
            connection.close()
        return result


class _Session:
    """One fetch over one connection: a reader task takes every packet (127s delivered, 125s
    handed to the request waiting for that ID); one coroutine per cursor chain asks for its
    pages."""

    def __init__(
        self,
        client: HistoryClient,
        connection: PeerLink,
        key: PrivateKey,
        server: Enode,
        query: HistoryQuery,
        result: HistoryResult,
        progress: Callable[[HistoryResult], None] | None,
    ):
        self.client = client
        self.connection = connection
        self.key = key
        self.server = server
        self.query = query
        self.result = result
        self.progress = progress
        self.topics = set(query.topics)
        self._waiting: dict[bytes, asyncio.Future[RequestComplete | None]] = {}
        self._dropped: int | None = None
        """The newest `sent` not delivered because `max_envelopes` was reached."""

    async def run(self) -> None:
        query = self.query
        if query.mode == "raw":
            request_id, request = await self._request(None, query.lower, query.upper)
            self._started(request_id)
            await self.connection.send_message("shh", PacketCode.P2P_REQUEST, request)
            asked = self.client._clock.monotonic()
            await self._read_raw()
            self._count(asked)
            return
        reader = asyncio.create_task(self._read_loop())
        try:
            slices = self._slices()
            cursors: list[Cursor | None] = [query.cursor] * len(slices)
            chains = [
                asyncio.create_task(self._chain(index, lower, upper, cursors))
                for index, (lower, upper) in enumerate(slices)
            ]
            pending = set(chains)
            try:
                while pending:
                    done, _ = await asyncio.wait(
                        [reader, *pending], return_when=asyncio.FIRST_COMPLETED
                    )
                    if reader in done:
                        reader.result()  # the connection failed: raises (it never returns)
                    for task in done:
                        pending.discard(task)
                        task.result()  # a chain's own error (no PoW nonce found): raises
            finally:
                for chain in pending:
                    chain.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
            self.result.cursor = self._resume_at(cursors)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, PeerDisconnected):
                await reader

    def _resume_at(self, cursors: list[Cursor | None]) -> Cursor | None:
        """Where to go on: the newest of the unfinished slices' cursors and, if envelopes were
        dropped for `max_envelopes`, a key just above the newest of those (the cursor is
        exclusive). Everything newer was delivered; resuming the whole window there refetches
        some of what an older slice delivered (deduplicated) and misses nothing."""
        points = [cursor for cursor in cursors if cursor is not None]
        if self._dropped is not None:
            sent = self._dropped
            above = (
                Cursor(sent + 1, EnvelopeHash(bytes(32)))
                if sent < 0xFFFFFFFF
                else Cursor(sent, EnvelopeHash(b"\xff" * 32))
            )
            points.append(above)
        return max(points) if points else None

    def _slices(self) -> list[tuple[int, int]]:
        """The window cut into `parallel` slices of `sent`, newest first (disjoint: `sent` is
        whole seconds)."""
        query = self.query
        count = max(1, query.parallel)
        span = query.upper - query.lower + 1
        if query.cursor is not None or not query.follow_cursor or span < count:
            return [(query.lower, query.upper)]
        bounds = [query.lower + span * i // count for i in range(count + 1)]
        return [(bounds[i], bounds[i + 1] - 1) for i in reversed(range(count))]

    def _started(self, request_id: bytes) -> None:
        if not self.result.request_id:
            self.result.request_id = request_id
            self._report()

    async def _chain(
        self, index: int, lower: int, upper: int, cursors: list[Cursor | None]
    ) -> None:
        """One slice, page by page; `cursors[index]` is where it stopped (None: finished)."""
        query = self.query
        result = self.result
        cursor = cursors[index]
        while result.error is None:
            request_id, request = await self._request(cursor, lower, upper)
            self._started(request_id)
            answer: asyncio.Future[RequestComplete | None] = (
                asyncio.get_running_loop().create_future()
            )
            self._waiting[request_id] = answer
            try:
                await self.connection.send_message("shh", PacketCode.P2P_REQUEST, request)
                asked = self.client._clock.monotonic()
                try:
                    async with asyncio.timeout(query.timeout):
                        complete = await answer
                except TimeoutError:
                    result.expired = True
                    result.error = "request expired: no answer from the archive server in time"
                    complete = None
            finally:
                self._waiting.pop(request_id, None)
            self._count(asked)
            if complete is None:
                return
            result.pages += 1
            if complete.last_envelope_hash != bytes(32):
                result.last_envelope_hash = complete.last_envelope_hash
            cursors[index] = cursor = complete.cursor
            self._report()
            if cursor is None or not query.follow_cursor or self._full():
                return

    def _count(self, asked: float) -> None:
        """One page answered, failed or expired (hush_history_requests_total)."""
        stats = self.client.stats
        if stats is not None:
            result = self.result
            outcome = "expired" if result.expired else "failed" if result.error else "completed"
            stats.history(outcome, self.client._clock.monotonic() - asked)

    async def _request(self, cursor: Cursor | None, lower: int, upper: int) -> tuple[bytes, bytes]:
        """The request's ID and its 126 payload."""
        query = self.query
        bloom = _bloom(query.topics)
        if query.mode == "direct":
            request_id = self.client._random_bytes(32)
            direct = encode_direct_request(request_id, lower, upper, query.limit, cursor, bloom)
            return request_id, direct
        if query.mode == "raw":
            payload = encode_raw_request(lower, upper, bloom)
        elif query.mode == "v1":
            payload = encode_status_v1(lower, upper, bloom, query.limit, cursor, True)
        else:
            payload = encode_status_v2(
                lower, upper, bloom, list(query.topics), query.limit, cursor, True
            )
        now = int(self.client._clock.time())
        public_key = None if query.sym_key is not None else b"\x04" + self.server.node_id
        envelope = wrap(
            payload,
            _ZERO_TOPIC,
            now,
            self.client._random_bytes,
            ttl=_REQUEST_TTL,
            sym_key=query.sym_key,
            public_key=public_key,
            signer=self.key,
        )
        if query.pow_target > 0:
            bits = target_bits(query.pow_target, len(envelope.data), envelope.ttl)
            search = NonceSearch(envelope.short_rlp())
            found = await asyncio.to_thread(search.find, 0, _MAX_NONCES, bits)
            if found is None:
                raise UsageError("could not reach the request's PoW target")
            envelope = envelope.with_nonce(found.nonce)
        return envelope.hash, packets.encode_envelope_packet(envelope)

    async def _read_loop(self) -> None:
        """Every packet of a paged fetch: 127s delivered, each 125 to its request (an unknown
        ID: an earlier request's late answer, ignored); an invalid 125 or a refusal ends the
        fetch with its error."""
        while True:
            _, code, payload = await self.connection.read_message()
            if code == PacketCode.P2P_MESSAGE:
                self._received(payload)
            elif code == REQUEST_COMPLETE:
                try:
                    answer = decode_complete(payload)
                except DecodeError as exc:
                    self._fail(f"invalid request-complete from the server: {exc}")
                    continue
                waiting = self._waiting.get(answer.request_id)
                if waiting is None or waiting.done():
                    continue
                if isinstance(answer, RequestFailed):
                    self.result.error = self.result.error or answer.error
                    waiting.set_result(None)
                else:
                    waiting.set_result(answer)

    def _fail(self, error: str) -> None:
        self.result.error = self.result.error or error
        for waiting in self._waiting.values():
            if not waiting.done():
                waiting.set_result(None)

    async def _read_raw(self) -> None:
        """geth's wnode sends no completion: the request ends when 127s stop coming."""
        wait = self.query.timeout
        while True:
            try:
                async with asyncio.timeout(wait):
                    _, code, payload = await self.connection.read_message()
            except TimeoutError:
                break
            if code == PacketCode.P2P_MESSAGE:
                self._received(payload)
                wait = self.query.idle_timeout
                self._report()
            elif code == REQUEST_COMPLETE:  # a hush server answering a raw request
                with contextlib.suppress(DecodeError):
                    answer = decode_complete(payload)
                    if isinstance(answer, RequestFailed):
                        self.result.error = answer.error
                    break
        self.result.pages = 1

    def _received(self, payload: bytes) -> None:
        """A 127: a list of envelopes (batched) or one envelope."""
        try:
            items = rlp.split_list(payload)
            # An envelope's first item is its expiry (a byte string); a batch's is an envelope.
            raws = items if not items or items[0][0] >= 0xC0 else [payload]
            envelopes = [Envelope.decode(raw) for raw in raws]
        except DecodeError:
            self.result.filtered += 1
            return
        query = self.query
        result = self.result
        for envelope in envelopes:
            if not query.lower <= envelope.sent <= query.upper or (
                self.topics and envelope.topic not in self.topics
            ):
                result.filtered += 1
                continue
            envelope_hash = envelope.hash
            recent = self.client.recent
            if envelope_hash in result.hashes or (recent is not None and envelope_hash in recent):
                result.duplicates += 1
                continue
            if self._full():
                result.filtered += 1
                if self._dropped is None or envelope.sent > self._dropped:
                    self._dropped = envelope.sent
                continue
            result.hashes.add(envelope_hash)
            if recent is not None:
                recent.add(envelope_hash)
            result.envelopes += 1
            self.client._deliver(envelope, envelope_hash)

    def _full(self) -> bool:
        return self.result.envelopes >= self.query.max_envelopes

    def _report(self) -> None:
        if self.progress is not None:
            self.progress(self.result)
