"""The history client against a real hush archive node on loopback: a client node that was
offline for a simulated day catches up, page by page, each envelope once, into its filters."""

from __future__ import annotations

import os
import time

import pytest

from hush.archive.client import HistoryClient, HistoryQuery
from hush.archive.store import ArchivedEnvelope
from hush.crypto.symmetric import SymmetricKey
from hush.errors import UsageError
from hush.node import Node
from hush.shh.filters import Filter
from hush.shh.message import wrap
from hush.types import Topic

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


async def test_offline_for_a_day_catches_up(store_url: str) -> None:
    now = int(time.time())
    key = SymmetricKey(os.urandom(32))
    async with archive_node(store_url) as (server_node, server):
        server.store.put(a_day_of_history(now, key, 1200))
        wanted = frozenset(TOPICS[:5])  # 300 envelopes
        async with Node(node_config(listen=False)) as client_node:
            filter_id = client_node.install_filter(Filter(sym_key=key, topics=wanted))
            client = HistoryClient(client_node.deliver_archived)
            seen = []
            query = HistoryQuery(now - 86400, now, tuple(wanted), limit=70, sym_key=password_key())
            result = await client.fetch(server_node.enode, query, lambda r: seen.append(r.pages))
            assert result.error is None, result.error
            assert (result.envelopes, result.duplicates, result.filtered) == (300, 0, 0)
            assert result.pages == 5 and seen == [0, 1, 2, 3, 4, 5]  # 70+70+70+70+20
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
