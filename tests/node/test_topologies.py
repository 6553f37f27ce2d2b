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


async def until_markers(
    subscription: Subscription, markers: set[bytes], timeout: float = 10
) -> list[OpenedMessage]:
    """What the subscription delivers before it has delivered every marker (event-driven: no
    "nothing more within a settle time"). A node sends each peer its envelopes in the order it
    pooled them, and each link delivers in order: a marker a node posts after it pooled X comes
    after any copy of X it sends."""
    received: list[OpenedMessage] = []
    waiting = set(markers)
    async with asyncio.timeout(timeout):
        while waiting:
            message = await subscription.get()
            assert message is not None
            if message.envelope_hash in waiting:
                waiting.discard(message.envelope_hash)
            else:
                received.append(message)
    return received


async def post(node: Node, payload: bytes, ttl: int = 30) -> bytes:
    key = node.keys.add_sym_key(SECRET)
    return await node.post(PostRequest(payload, TOPIC, sym_key_id=key, ttl=ttl, pow_target=0.02))


async def check_everyone_gets_everything_once(nodes: list[Node]) -> None:
    # Every other node listens; node 3 can't read the messages but must relay them anyway.
    listeners = {i: listen(node) for i, node in enumerate(nodes) if i != 3}
    hashes = [await post(nodes[i], f"from {i}".encode()) for i in (0, len(nodes) - 1, 5)]
    await wait_for(lambda: all(all(h in n.pool for h in hashes) for n in nodes), timeout=10)
    # Then every node posts a marker: a duplicate would be delivered before the last of them.
    markers = {await post(node, f"marker {i}".encode()) for i, node in enumerate(nodes)}
    for index, subscription in listeners.items():
        received = await until_markers(subscription, markers)
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
    # A marker posted at b after the connection: b would have sent the expired envelope first.
    marker = await post(b, b"marker")
    assert await until_markers(late, {marker}) == []
    assert sent not in c.pool


async def test_light_node_does_not_relay(make_node: NodeFactory) -> None:
    source, light, sink = await make_node(), await make_node(light=True), await make_node()
    await connect(source, light)
    await connect(light, sink)
    relayed = await post(source, b"through the light node?")
    await wait_for(lambda: relayed in light.pool)
    own = await post(light, b"the light node's own")
    # `own` was pooled after `relayed` and the link delivers in order: a relayed copy would have
    # reached the sink first (no sleep needed). With `source` as the stem peer, `own` reaches
    # the sink only once the stem's embargo releases it (1 s + Exp(1 s)).
    await wait_for(lambda: own in sink.pool, timeout=20)
    assert relayed not in sink.pool
