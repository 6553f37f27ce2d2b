"""`hush history` through `main(argv)`, against a real node (JSON-RPC on loopback) and a real
archive node, both on a loop in another thread (main runs its own loop)."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Coroutine, Iterator
from contextlib import AsyncExitStack
from typing import Any, TypeVar

import pytest

from hush.archive.store import ArchivedEnvelope
from hush.cli.history import parse_time
from hush.cli.main import main
from hush.crypto.symmetric import SymmetricKey
from hush.errors import UsageError
from hush.node import Node
from hush.rpc import RpcConfig, RpcServer, ShhApi
from hush.shh.filters import Filter
from hush.shh.message import wrap
from hush.types import Topic

from .helpers import PASSWORD, archive_node, node_config

_T = TypeVar("_T")
TOPIC = Topic(bytes.fromhex("0badcafe"))


class Servers:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.stack = AsyncExitStack()

    def run(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(30)

    def close(self) -> None:
        self.run(self.stack.aclose())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def servers() -> Iterator[Servers]:
    started = Servers()
    yield started
    started.close()


def test_parse_time() -> None:
    assert parse_time("now", 1000) == 1000
    assert parse_time("12345", 1000) == 12345
    assert parse_time("10m", 1000) == 400
    assert parse_time("1d", 100) == 0
    assert parse_time("2026-12-01T00:00:00", 0) == 1796083200
    with pytest.raises(UsageError, match="invalid time"):
        parse_time("yesterday", 0)


def test_hush_history_catches_up(
    servers: Servers, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    now = int(time.time())
    key = SymmetricKey(os.urandom(32))
    rows = [
        ArchivedEnvelope.of(wrap(b"h%d" % i, TOPIC, now - 5000 + i, os.urandom, sym_key=key))
        for i in range(250)
    ]

    async def start() -> tuple[str, str, Node]:
        archive, server = await servers.stack.enter_async_context(
            archive_node(str(tmp_path / "archive.sqlite"))
        )
        server.store.put(rows)
        node = await servers.stack.enter_async_context(Node(node_config(listen=False)))
        rpc = RpcServer(node, RpcConfig(), api=ShhApi(node))
        await rpc.start("127.0.0.1", 0)
        servers.stack.push_async_callback(rpc.stop)
        return archive.enode, rpc.url, node

    enode, url, node = servers.run(start())
    filter_id = node.install_filter(Filter(sym_key=key, topics=frozenset([TOPIC])))
    argv = ["history", "--rpc", url, "--server", enode, "--from", "2h", "--topic", "0x0badcafe"]
    code = main([*argv, "--limit", "100", "--password", PASSWORD, "--json"], standalone_mode=False)
    assert code == 0
    totals = json.loads(capsys.readouterr().out)
    assert (totals["pages"], totals["envelopes"], totals["error"]) == (3, 250, None)
    assert len(node.filter_messages(filter_id)) == 250
    code = main([*argv, "--password", "wrong"], standalone_mode=False)
    assert code != 0
    assert "failed to decrypt the request" in capsys.readouterr().err
