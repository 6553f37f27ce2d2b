"""The server under load, deterministically: a query held on its reader thread does not stall the
peer's read loop (its next request is answered meanwhile), and a request that waited past the
queue deadline is answered "server busy"."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from hush.archive.page import Page, PageQuery
from hush.archive.request import encode_raw_request
from hush.archive.server import ArchiveConfig
from hush.archive.store import ArchivedEnvelope, SqlStore
from hush.shh.envelope import Envelope

from .helpers import (
    PASSWORD,
    archive_node,
    exchange,
    geth_envelopes,
    raw_peer,
    read_reply,
    request_envelope,
)

GETH = [Envelope.decode(raw) for raw in geth_envelopes()]
LOWER = min(e.sent for e in GETH)


class HeldStore:
    """A real store whose page queries wait for `release` (on the server's reader thread)."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self.release = threading.Event()
        self.entered = threading.Event()

    def page(self, query: PageQuery, max_bytes: int = 0) -> Page:
        self.entered.set()
        assert self.release.wait(30)
        return self._store.page(query, max_bytes)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


async def test_a_held_query_does_not_stall_the_peer(store_url: str) -> None:
    async with archive_node(store_url) as (node, server):
        server.store.put([ArchivedEnvelope.of(e) for e in GETH])
        held = HeldStore(server.store)  # type: ignore[arg-type]
        server.store = held  # type: ignore[assignment]
        connection = await raw_peer(node)
        now = int(time.time())
        first = request_envelope(encode_raw_request(LOWER, 0xFFFFFFFF), now)
        await connection.send_message("shh", 126, first.encode())
        await asyncio.get_running_loop().run_in_executor(None, held.entered.wait, 10)
        # The first query is held on its thread; the peer's next packets are still read: a second
        # request is served up to its own query (held too), a third is refused at admission.
        second = request_envelope(encode_raw_request(LOWER, 0xFFFFFFFF), now)
        await connection.send_message("shh", 126, second.encode())
        third = request_envelope(encode_raw_request(LOWER, 0xFFFFFFFF), now)
        messages, done = await exchange(connection, third.encode())
        assert messages == [] and done.endswith(b"too many concurrent requests")
        assert third.hash in done
        held.release.set()
        # Both replies run at once now: count their 127s across both 125s.
        first_part, done_a = await read_reply(connection)
        second_part, done_b = await read_reply(connection)
        assert len(first_part) + len(second_part) == 2 * len(GETH)
        assert {done_a[2:34], done_b[2:34]} == {first.hash, second.hash}
        connection.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return self.now


async def test_a_request_past_the_queue_deadline_is_answered_busy(store_url: str) -> None:
    config = ArchiveConfig(password=PASSWORD, queue_deadline=5.0)
    async with archive_node(store_url, config) as (node, server):
        clock = Clock()
        server.clock = clock
        for task in server._tasks:  # no workers yet: the request waits in the queue
            task.cancel()
        server._tasks = []
        connection = await raw_peer(node)
        request = request_envelope(encode_raw_request(LOWER, 0xFFFFFFFF), int(time.time()))
        await connection.send_message("shh", 126, request.encode())
        while server._queue.empty():
            await asyncio.sleep(0.01)
        clock.now += 6.0  # past the deadline
        await server.start()
        messages, done = await read_reply(connection)
        assert messages == [] and done.endswith(b"server busy") and request.hash in done
        connection.close()
