"""The history client against a real hush archive node on loopback: a client node that was
offline for a simulated day catches up, page by page, each envelope once, into its filters."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import replace

import pytest

from hush.archive.client import HistoryClient, HistoryQuery
from hush.archive.page import Page, PageQuery
from hush.archive.store import ArchivedEnvelope, EnvelopeStore
from hush.crypto.symmetric import SymmetricKey
from hush.errors import UsageError
from hush.node import Node
from hush.shh.filters import Filter
from hush.shh.message import wrap
from hush.types import EnvelopeHash, Topic

from .helpers import archive_node, node_config, password_key

TOPICS = [Topic(i.to_bytes(4, "big")) for i in range(1, 21)]


def a_day_of_history(now: int, key: SymmetricKey, count: int) -> list[ArchivedEnvelope]:
    """`count` envelopes spread over the last 24 hours, round-robin over 20 topics."""
    rows = []
    for i in range(count):
        sent = now - 86400 + i * 86400 // count
        envelope = wrap(b"msg %d" % i, TOPICS[i % 20], sent, os.urandom, sym_key=key, ttl=60)
        rows.append(ArchivedEnvelope.of(envelope))
    return rows


@pytest.mark.parametrize(("parallel", "pages"), [(1, 5), (2, 6)])
async def test_offline_for_a_day_catches_up(store_url: str, parallel: int, pages: int) -> None:
    """parallel 1: 70+70+70+70+20; 2: each half of the day 70+70+10."""
    now = int(time.time())
    key = SymmetricKey(os.urandom(32))
    async with archive_node(store_url) as (server_node, server):
        server.store.put(a_day_of_history(now, key, 1200))
        wanted = frozenset(TOPICS[:5])  # 300 envelopes
        async with Node(node_config(listen=False)) as client_node:
            filter_id = client_node.install_filter(Filter(sym_key=key, topics=wanted))
            client = HistoryClient(client_node.deliver_archived)
            seen = []
            query = HistoryQuery(
                now - 86400, now, tuple(wanted), 70, sym_key=password_key(), parallel=parallel
            )
            result = await client.fetch(server_node.enode, query, lambda r: seen.append(r.pages))
            assert result.error is None, result.error
            assert (result.envelopes, result.duplicates, result.filtered) == (300, 0, 0)
            assert result.pages == pages and seen == list(range(pages + 1))
            assert result.cursor is None  # the last page carried none
            messages = client_node.filter_messages(filter_id)
            assert sorted(m.payload for m in messages) == sorted(
                b"msg %d" % i for i in range(1200) if TOPICS[i % 20] in wanted
            )


async def test_requests_to_the_node_key_and_errors(store_url: str) -> None:
    now = int(time.time())
    key = SymmetricKey(os.urandom(32))
    async with archive_node(store_url) as (server_node, server):
        server.store.put(a_day_of_history(now, key, 40))
        delivered = []
        client = HistoryClient(lambda envelope, _: delivered.append(envelope))
        result = await client.fetch(server_node.enode, HistoryQuery(now - 86400, now))
        assert result.error is None and result.envelopes == 40 and result.pages == 1
        wrong = HistoryQuery(now - 86400, now, sym_key=SymmetricKey(os.urandom(32)))
        result = await client.fetch(server_node.enode, wrong)
        assert result.error == "failed to decrypt the request" and result.envelopes == 0
        with pytest.raises(UsageError, match="limit"):
            await client.fetch(server_node.enode, HistoryQuery(0, 1, limit=1001))
        raw = await client.fetch(server_node.enode, HistoryQuery(now - 86400, now, mode="raw"))
        assert raw.envelopes == 40  # wnode's form: single 127s (a hush server still sends 125)
        assert len(delivered) == 80


class _BarrierStore:
    """The real store; its first two page queries wait for each other (a broken barrier, if
    the client asked one at a time, fails the request with an internal error)."""

    def __init__(self, store: EnvelopeStore) -> None:
        self.store = store
        self.barrier = threading.Barrier(2, timeout=20)
        self.calls = 0

    def page(self, query: PageQuery, max_bytes: int = 0) -> Page:
        self.calls += 1
        if self.calls <= 2:
            self.barrier.wait()
        return self.store.page(query, max_bytes)

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)


async def test_slices_are_asked_for_at_once(store_url: str) -> None:
    now = int(time.time())
    key = SymmetricKey(os.urandom(32))
    async with archive_node(store_url) as (server_node, server):
        server.store.put(a_day_of_history(now, key, 400))
        server.store = _BarrierStore(server.store)  # type: ignore[assignment]
        client = HistoryClient(lambda envelope, _: None)
        query = HistoryQuery(
            now - 86400, now, limit=50, sym_key=password_key(), timeout=30, parallel=2
        )
        result = await client.fetch(server_node.enode, query)
        assert result.error is None, result.error
        assert result.envelopes == 400 and result.pages == 8 and result.cursor is None  # 2 × 4


@pytest.mark.parametrize("parallel", [1, 2])
async def test_stopped_at_max_envelopes_the_cursor_misses_nothing(
    store_url: str, parallel: int
) -> None:
    """The cap falls inside a page: the cursor goes on above what was dropped (it used to be the
    page's, past the dropped envelopes), and above the newest unfinished slice."""
    now = int(time.time())
    key = SymmetricKey(os.urandom(32))
    async with archive_node(store_url) as (server_node, server):
        server.store.put(a_day_of_history(now, key, 200))
        delivered: list[EnvelopeHash] = []
        client = HistoryClient(lambda _, h: delivered.append(h))
        query = HistoryQuery(
            now - 86400, now, limit=20, sym_key=password_key(), max_envelopes=30, parallel=parallel
        )
        result = await client.fetch(server_node.enode, query)
        assert result.envelopes == 30 and result.cursor is not None
        rest = await client.fetch(
            server_node.enode, replace(query, cursor=result.cursor, max_envelopes=1000)
        )
        assert rest.error is None and rest.cursor is None
        assert len(set(delivered) | rest.hashes) == 200  # nothing missed (some fetched twice)
