"""The one-hop stem over real TCP on loopback, towards plain flooding peers (hush with
`stem=False`, relaying as geth does): the post reaches the stem peer first and only, comes back
from another peer (the echo), and only then does the poster relay it to the rest."""

from __future__ import annotations

import asyncio

from hush.crypto import SymmetricKey
from hush.node import Node, PostRequest
from hush.node.hooks import NodeObserver
from hush.node.stem import Stem, StemConfig
from hush.shh.filters import Filter
from hush.shh.pool import AddOutcome, AddStatus
from hush.types import NodeID, Topic

from .conftest import NodeFactory, config, connect

KEY = SymmetricKey(bytes(range(90, 122)))
TOPIC = Topic(b"tcp\x00")


class _Order(NodeObserver):
    """The poster's view, in order: ("sent", peer) per bundle, ("echo", peer) per copy back."""

    def __init__(self) -> None:
        self.events: list[tuple[str, NodeID]] = []

    def bundle_sent(self, node_id: NodeID, envelopes: int) -> None:
        self.events.append(("sent", node_id))

    def envelope_received(self, outcome: AddOutcome, source: NodeID | None, local: bool) -> None:
        if outcome.status is AddStatus.DUPLICATE and source is not None:
            self.events.append(("echo", source))


async def test_stem_post_reaches_one_flooding_peer_then_echoes_then_relays(
    make_node: NodeFactory,
) -> None:
    order = _Order()
    async with Node(config(), observers=(order,)) as poster:
        f1, f2, f3 = [await make_node(stem=False) for _ in range(3)]
        for peer in (f1, f2, f3):
            await connect(poster, peer)
        await connect(f1, f2)  # f1 relays to f2, f2 echoes to the poster; f3 is a leaf
        ids = [n.node_key.node_id for n in (f1, f2, f3)]
        relay = poster._stem
        assert relay is not None
        # Injected randomness: zero bytes draw the longest embargo (10 min), so only the echo
        # can release the envelope within this test; f1 is made the stem peer.
        relay.stem = Stem(bytes, StemConfig(mean_embargo=60.0))
        assert relay.stem.stem_peer([ids[0]], 0.0) == ids[0]
        subscriptions = [
            n.subscribe(Filter(sym_key=KEY, topics=frozenset({TOPIC}))) for n in (f1, f2, f3)
        ]
        key_id = poster.add_sym_key(KEY.secret)
        request = PostRequest(
            payload=b"via the stem", topic=TOPIC, sym_key_id=key_id, pow_target=0.01
        )
        envelope_hash = await poster.post(request)
        assert order.events == [("sent", ids[0])]  # at once, one packet, one peer
        assert envelope_hash in relay.stem
        for subscription in subscriptions:
            message = await asyncio.wait_for(subscription.get(), 10)
            assert message is not None and message.payload == b"via the stem"
        async with asyncio.timeout(10):
            while ("sent", ids[2]) not in order.events:
                await asyncio.sleep(0.01)
        assert envelope_hash not in relay.stem
        echo = order.events.index(("echo", ids[1]))
        assert 0 < echo < order.events.index(("sent", ids[2]))  # the echo, then the relay
        assert ("sent", ids[1]) not in order.events  # f2 sent it back: it knows it already
        # What the flooding peers got is the very envelope posted (nothing new on the wire).
        assert f3.envelope(envelope_hash) == poster.envelope(envelope_hash)
