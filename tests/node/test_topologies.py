"""Multi-hop relaying over real TCP: a 10-node line and a 10-node random mesh (loopback only).

Every message must reach every matching filter exactly once, relayed by nodes that can't read it
too; nothing is delivered or relayed after it expires; a light node does not relay.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time

from hush.crypto import SymmetricKey
from hush.node import Node, PostRequest, Subscription
from hush.shh.filters import Filter
from hush.shh.message import OpenedMessage
from hush.types import Topic

from .conftest import NodeFactory, connect, wait_for

TOPIC = Topic(b"\x0f\x0e\x0d\x0c")
SECRET = bytes(range(100, 132))


def listen(node: Node) -> Subscription:
    return node.subscribe(Filter(sym_key=SymmetricKey(SECRET), topics=frozenset({TOPIC})))


async def drain(subscription: Subscription, settle: float = 0.3) -> list[OpenedMessage]:
    received: list[OpenedMessage] = []
    while True:
        try:
            async with asyncio.timeout(settle):
                message = await subscription.get()
        except TimeoutError:
            return received
        assert message is not None
        received.append(message)


async def post(node: Node, payload: bytes, ttl: int = 30) -> bytes:
    key = node.keys.add_sym_key(SECRET)
    return await node.post(PostRequest(payload, TOPIC, sym_key_id=key, ttl=ttl, pow_target=0.02))


async def check_everyone_gets_everything_once(nodes: list[Node]) -> None:
    # Every other node listens; node 3 can't read the messages but must relay them anyway.
    listeners = {i: listen(node) for i, node in enumerate(nodes) if i != 3}
    hashes = [await post(nodes[i], f"from {i}".encode()) for i in (0, len(nodes) - 1, 5)]
    await wait_for(lambda: all(all(h in n.pool for h in hashes) for n in nodes), timeout=10)
    for index, subscription in listeners.items():
        received = await drain(subscription)
        assert sorted(m.envelope_hash for m in received) == sorted(hashes), f"node {index}"


async def test_ten_node_line(make_node: NodeFactory) -> None:
    nodes = [await make_node() for _ in range(10)]
    for left, right in itertools.pairwise(nodes):
        await connect(left, right)
    await check_everyone_gets_everything_once(nodes)


async def test_ten_node_random_mesh(make_node: NodeFactory) -> None:
    rng = random.Random(7)
    nodes = [await make_node() for _ in range(10)]
    edges = {(i, i + 1) for i in range(9)}  # a spanning line keeps it connected…
    while len(edges) < 20:  # …and random chords make it a mesh with cycles
        i, j = sorted(rng.sample(range(10), 2))
        edges.add((i, j))
    for i, j in sorted(edges):
        await connect(nodes[i], nodes[j])
    await check_everyone_gets_everything_once(nodes)


async def test_nothing_delivered_or_relayed_after_expiry(make_node: NodeFactory) -> None:
    now = [1_800_000_000.0]

    class Clock:
        def time(self) -> float:
            return now[0]

        def monotonic(self) -> float:
            return time.monotonic()

    a, b, c = [await make_node() for _ in range(3)]
    for node in (a, b, c):
        node.clock = Clock()
    await connect(a, b)
    sent = await post(a, b"short-lived", ttl=5)
    await wait_for(lambda: sent in b.pool)
    now[0] += 7  # the envelope has expired everywhere
    await wait_for(lambda: sent not in a.pool and sent not in b.pool)  # an expiry cycle
    late = listen(c)
    await connect(b, c)
    assert await drain(late, settle=0.5) == []
    assert sent not in c.pool


async def test_light_node_does_not_relay(make_node: NodeFactory) -> None:
    source, light, sink = await make_node(), await make_node(light=True), await make_node()
    await connect(source, light)
    await connect(light, sink)
    relayed = await post(source, b"through the light node?")
    await wait_for(lambda: relayed in light.pool)
    own = await post(light, b"the light node's own")
    await wait_for(lambda: own in sink.pool)
    await asyncio.sleep(0.2)
    assert relayed not in sink.pool
