"""30 nodes on loopback with real UDP and TCP, one bootnode, half of them speaking shh.

The shh nodes are real `Node`s whose peer source is the dial policy over discovery; the others
run discovery and a devp2p listener that speaks only `eth/63` (geth without `--shh`). Every shh
node must end with ≥ 6 shh peers, found by itself from the one bootnode; no shh node dials a
non-shh node twice (the 24 h negative cache); a message posted at one shh node reaches all.
"""

from __future__ import annotations

import asyncio
import gc
import os
from collections import Counter
from contextlib import AsyncExitStack

from hush.crypto import PrivateKey, SymmetricKey
from hush.discovery.v4.protocol import Discv4Config
from hush.errors import DisconnectReason
from hush.net import P2PConfig
from hush.net.discovery import DialConfig, DialPolicy, Discovery, DiscoveryConfig, DiscoveryState
from hush.net.transport import PeerLink, TcpTransport
from hush.node import Node, NodeConfig, PostRequest
from hush.shh.filters import Filter
from hush.types import NodeID, Topic

from .test_service import wait_for

SHH_NODES = 15
OTHER_NODES = 15
TOPIC = Topic(b"\x01\x02\x03\x04")
SECRET = bytes(range(32))
PROTOCOL = Discv4Config(request_timeout=1.0, bond_wait=0.1, packet_rate=1e5, packet_burst=1e5)
FAST_DIALS = DialConfig(dials_per_minute=600.0, dial_burst=10.0, failed_backoff=1.0)


def _config() -> NodeConfig:
    return NodeConfig(
        datadir=None,
        listen_host="127.0.0.1",
        listen_port=0,
        min_pow=0.01,
        pow_processes=1,
        send_interval=0.005,
        target_peers=6,
        # the node looks at its peer count every 5 s (0.5 s at most when peers come and go);
        # a test can't wait that long
        source_interval=0.2,
        source_gap=0.05,
    )


def _discovery(key: PrivateKey, tcp_port: int, boot: Discovery | None) -> Discovery:
    bootnodes = (boot.enode,) if boot is not None else ()
    return Discovery(
        key,
        tcp_port,
        DiscoveryConfig(port=0, bootnodes=bootnodes, protocol=PROTOCOL, lookup_gap=0.2),
    )


async def _eth_only_node(
    stack: AsyncExitStack, boot: Discovery, dialled: Counter[tuple[NodeID, NodeID]]
) -> Discovery:
    """discovery plus a devp2p listener without shh, counting who completes a handshake."""
    key = PrivateKey.generate(os.urandom)

    def admit(node_id: NodeID, inbound: bool) -> DisconnectReason | None:
        dialled[(node_id, key.node_id)] += 1
        return None

    async def on_link(link: PeerLink) -> None:
        return None

    eth = P2PConfig(client_id="eth-only", capabilities=(("eth", 63, 17),))
    listening = await TcpTransport().listen(key, "127.0.0.1", 0, eth, on_link, admit, os.urandom)

    async def close() -> None:
        listening.close()
        await listening.wait_closed()

    stack.push_async_callback(close)
    discovery = _discovery(key, listening.address[1], boot)
    await stack.enter_async_context(discovery)
    return discovery


async def _shh_node(stack: AsyncExitStack, boot: Discovery) -> tuple[Node, DialPolicy]:
    policy = DialPolicy(None, DiscoveryState(), FAST_DIALS)
    node = await stack.enter_async_context(Node(_config(), peer_source=policy))
    assert node.listen_port is not None
    discovery = _discovery(node.node_key, node.listen_port, boot)
    await stack.enter_async_context(discovery)
    policy.nodes = discovery
    return node, policy


async def test_thirty_nodes_find_their_shh_peers() -> None:
    dialled: Counter[tuple[NodeID, NodeID]] = Counter()
    async with AsyncExitStack() as stack:
        boot = _discovery(PrivateKey.generate(os.urandom), 0, None)
        await stack.enter_async_context(boot)
        others = [await _eth_only_node(stack, boot, dialled) for _ in range(OTHER_NODES)]
        shh = [await _shh_node(stack, boot) for _ in range(SHH_NODES)]
        nodes = [node for node, _ in shh]

        def shh_peers(node: Node) -> int:
            return sum("shh/6" in peer.capabilities for peer in node.peers())

        try:
            await wait_for(lambda: all(shh_peers(n) >= 6 for n in nodes), timeout=60)
        except TimeoutError:
            raise AssertionError(sorted(shh_peers(n) for n in nodes)) from None
        # non-shh nodes were tried (they are in the tables) but never twice by the same node
        other_ids = {d.key.node_id for d in others}
        assert dialled and max(dialled.values()) == 1
        assert {target for _, target in dialled} <= other_ids
        useless = [policy for _, policy in shh if policy.state.useless]
        assert useless  # the negative cache was used

        subscriptions = [
            node.subscribe(Filter(sym_key=SymmetricKey(SECRET), topics=frozenset({TOPIC})))
            for node in nodes[1:]
        ]
        key_id = nodes[0].keys.add_sym_key(SECRET)
        await nodes[0].post(
            PostRequest(b"found you", TOPIC, sym_key_id=key_id, ttl=30, pow_target=0.02)
        )
        async with asyncio.timeout(10):
            for subscription in subscriptions:
                message = await subscription.get()
                assert message is not None and message.payload == b"found you"
        # Shut down with no handshake half done: stop offering, let the dials under way end.
        for _, policy in shh:
            policy.close()
        await wait_for(lambda: all(policy.in_flight == 0 for _, policy in shh))
    # Refused handshakes close in the background (a Disconnect, then a linger): let them finish
    # before the loop goes, rather than leave sockets to the garbage collector.
    current = asyncio.current_task()
    await wait_for(lambda: not (asyncio.all_tasks() - {current}), timeout=5)
    gc.collect()  # a leaked socket warns here, in this test, not in whichever test runs next
