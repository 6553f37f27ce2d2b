"""A node stops at once whatever its timer loops are doing (3.11's wait_for loses a cancellation
that arrives as its event is set: a node with a held post then never finished stopping)."""

from __future__ import annotations

import asyncio
import os

from hush.node import Node, NodeConfig, PostRequest
from hush.types import Topic


async def test_stop_with_held_own_posts_finishes() -> None:
    # The race is in the timing of the stem's random embargo against the stop: without the fix
    # about half of these runs hang.
    for _ in range(12):
        node = Node(NodeConfig(listen=False, datadir=None))  # the defaults: the stem is on
        await node.start()
        key = node.add_sym_key(os.urandom(32))
        for target in (0.2, 8.0):  # held by the stem (no peer yet)
            request = PostRequest(b"hi", Topic(b"\0\0\0\1"), sym_key_id=key, pow_target=target)
            await node.post(request)
        async with asyncio.timeout(5):  # without the fix: never returns
            await node.stop()
