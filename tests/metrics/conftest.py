"""Helpers for metrics tests: real loopback nodes that carry a NodeStats, envelopes to send."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack

import pytest
from node.conftest import config

from hush.crypto import SymmetricKey
from hush.metrics import NodeStats
from hush.node import Node
from hush.sealer import Sealer
from hush.shh import packets
from hush.shh.envelope import Envelope
from hush.shh.message import wrap
from hush.types import Topic

TOPIC = Topic(b"\x0a\x0b\x0c\x0d")
KEY = SymmetricKey(bytes(range(7, 39)))

StatsNodeFactory = Callable[..., Awaitable[tuple[Node, NodeStats]]]


@pytest.fixture
async def stats_node() -> AsyncIterator[StatsNodeFactory]:
    """Start a loopback node observed by a fresh NodeStats; stopped after the test."""
    async with AsyncExitStack() as stack:

        async def factory(**overrides: object) -> tuple[Node, NodeStats]:
            stats = NodeStats()
            node = await stack.enter_async_context(Node(config(**overrides), observers=[stats]))
            return node, stats

        yield factory


def sealed(
    sent: float,
    pow_target: float = 0.05,
    ttl: int = 50,
    topic: Topic = TOPIC,
    payload: bytes = b"x",
) -> Envelope:
    envelope = wrap(payload, topic, int(sent), os.urandom, sym_key=KEY, ttl=ttl)
    with Sealer(processes=1) as sealer:
        return sealer.seal(envelope, pow_target, 5)


def messages(*envelopes: Envelope) -> bytes:
    return packets.encode_messages([e.encode() for e in envelopes])
