"""A whole discovering network in one process: discv4 over the in-memory datagram network, real
`Node`s over `hush.net.memory`, run under `hush.vclock`'s virtual time (issue 12's few-hundred
node test, and `benchmarks/discovery_network.py`).

One bootnode (discovery only), `shh` real nodes (a `hush.testing.MemoryCluster`: seeded keys,
`LoopClock`s, inline sealing) whose peer source is a `DialPolicy` over their own `Discovery`,
and `others` nodes that run discovery and a devp2p listener speaking only `eth/63` (geth
without `--shh`), which count every handshake that reaches them. Every timer is geth's default
(the node's 5 s peer-count look, discv4's 500 ms request timeout, the dial policy's 30 dials a
minute): in virtual time they cost nothing to wait for. `discover` waits (in virtual seconds)
until every shh node has `target` shh peers, then posts one message from the first shh node
and waits until every other shh node's filter has it, and reports what happened.

Seeded randomness throughout: for tests and simulations only.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

from hush.clock import Clock, LoopClock
from hush.crypto import PrivateKey, SymmetricKey
from hush.enode import Enode
from hush.errors import DisconnectReason
from hush.net import P2PConfig
from hush.net.discovery.datagram import MemoryDatagramNetwork
from hush.net.discovery.dialing import DialConfig, DialPolicy
from hush.net.discovery.service import Discovery, DiscoveryConfig
from hush.net.discovery.store import DiscoveryState
from hush.net.memory import LinkModel, LogNormal, MemoryNetwork
from hush.net.transport import PeerLink
from hush.node import Node, PostRequest, Subscription
from hush.shh.filters import Filter
from hush.testing import EPOCH, MemoryCluster, seeded_random
from hush.types import NodeID, RandomBytes, Topic

__all__ = ["LINKS", "DiscoveryRun", "discover"]

_TOPIC = Topic(b"\xd1\x5c\x00\x01")
_SECRET = bytes(range(32))
_ETH_ONLY = P2PConfig(client_id="eth-only", capabilities=(("eth", 63, 17),))
LINKS = LinkModel(LogNormal(median=0.05, sigma=0.5), bandwidth=1_000_000)
"""TCP links as `benchmarks/network50.py` has them (datagrams are delivered at once)."""


@dataclass(slots=True)
class DiscoveryRun:
    shh_peers: list[int] = field(default_factory=list)
    """Each (remaining) shh node's shh peers at the end, just before the message."""
    converged_at: float | None = None
    """Virtual seconds from the start until every shh node had `target` shh peers."""
    handshakes: Counter[tuple[NodeID, NodeID]] = field(default_factory=Counter)
    """(dialler, eth-only node) → handshakes that reached the eth-only node."""
    other_ids: set[NodeID] = field(default_factory=set)
    useless_known: int = 0
    """shh nodes whose negative cache holds at least one node."""
    dials: int = 0
    """Candidates the shh nodes' dial policies handed out."""
    rejoined_at: float | None = None
    """After `churn` shh nodes left: when every remaining shh node had `target` shh peers again
    (virtual seconds from the start)."""
    left_short: int = 0
    """Remaining shh nodes below `target` once the stopped nodes' links were gone."""
    reached: int = 0
    """shh nodes (besides the poster; the remaining ones after churn) whose filter got it."""
    delivered_in: float | None = None
    """Virtual seconds from the post until the last of them had it (of those that did)."""
    datagrams: int = 0
    virtual_seconds: float = 0.0


async def discover(
    *,
    shh: int,
    others: int,
    seed: int = 0,
    target: int = 6,
    limit: float = 900.0,
    churn: int = 0,
    hold: float = 0.0,
    dials: DialConfig | None = None,
    links: LinkModel | None = None,
) -> DiscoveryRun:
    """Run the network (under `hush.vclock`: `run_virtual(discover(...))`); `limit` bounds each
    wait in virtual seconds (a network that doesn't converge reports how far it got). Once it
    converged, `churn` shh nodes stop; the rest, their peers gone, dial again (from tables that
    still hold the eth-only nodes and the stopped ones) until each has `target` shh peers
    again; then `hold` more virtual seconds pass before the peers are counted and the message
    is posted."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    datagrams = MemoryDatagramNetwork()
    network = MemoryNetwork(seed=seed, model=links or LINKS)
    run = DiscoveryRun()
    policies: list[DialPolicy] = []
    discoveries: list[Discovery] = []
    dial_config = dials or DialConfig()

    def discovery(key: PrivateKey, host: str, tcp_port: int, clock: Clock, index: int) -> Discovery:
        bootnodes = (boot.enode,) if index else ()
        config = DiscoveryConfig(host=host, port=tcp_port or 30301, bootnodes=bootnodes)
        random_bytes = seeded_random(seed * 1_000_003 + 500_000 + index)
        return Discovery(
            key,
            tcp_port,
            config,
            clock=clock,
            random_bytes=random_bytes,
            open_endpoint=datagrams.open,
        )

    def policy_for(index: int, clock: Clock, random_bytes: RandomBytes) -> dict[str, object]:
        policy = DialPolicy(None, DiscoveryState(), dial_config, clock=clock)
        policies.append(policy)
        return {"peer_source": policy}

    async with AsyncExitStack() as stack:
        clock = LoopClock(EPOCH, loop)
        boot_key = PrivateKey.generate(seeded_random(seed * 1_000_003 + 999_999))
        boot = discovery(boot_key, network.host(), 0, clock, 0)
        await stack.enter_async_context(boot)
        for index in range(others):
            await stack.enter_async_context(
                await _eth_only(network, discovery, clock, seed, index, run)
            )
        cluster = await stack.enter_async_context(
            MemoryCluster(network, seed=seed, node_options=policy_for, target_peers=target)
        )
        for index in range(shh):
            node = await cluster.add_node()
            assert node.listen_port is not None
            host = Enode.parse(node.enode).ip
            found = discovery(node.node_key, host, node.listen_port, node.clock, others + index + 1)
            await stack.enter_async_context(found)
            policies[index].nodes = found
            node.discovery = found
            discoveries.append(found)
        nodes = list(cluster.nodes)

        def shh_peers(node: Node) -> int:
            return sum("shh/6" in peer.capabilities for peer in node.peers())

        async def until(condition: Callable[[], bool]) -> bool:
            try:
                async with asyncio.timeout(limit):
                    while not condition():
                        await asyncio.sleep(1.0)  # virtual; node.peers() is not free
            except TimeoutError:
                return False
            return True

        if await until(lambda: all(shh_peers(n) >= target for n in nodes)):
            run.converged_at = loop.time() - started
        if churn:
            for node, found, policy in zip(
                nodes[-churn:], discoveries[-churn:], policies[-churn:], strict=True
            ):
                policy.close()
                await node.stop()
                await found.stop()
            gone = {node.node_key.node_id for node in nodes[-churn:]}
            del nodes[-churn:]
            await until(lambda: not any(p.node_id in gone for n in nodes for p in n.peers()))
            run.left_short = sum(1 for n in nodes if shh_peers(n) < target)
            if await until(lambda: all(shh_peers(n) >= target for n in nodes)):
                run.rejoined_at = loop.time() - started
        await asyncio.sleep(hold)
        run.shh_peers = [shh_peers(n) for n in nodes]
        run.useless_known = sum(1 for p in policies if p.state.useless)
        run.dials = sum(p.dials for p in policies)

        subscriptions = [
            node.subscribe(Filter(sym_key=SymmetricKey(_SECRET), topics=frozenset({_TOPIC})))
            for node in nodes[1:]
        ]
        key_id = nodes[0].keys.add_sym_key(_SECRET)
        posted = loop.time()
        await nodes[0].post(
            PostRequest(b"found you", _TOPIC, sym_key_id=key_id, ttl=60, pow_target=0.002)
        )

        async def arrival(subscription: Subscription) -> None:
            message = await subscription.get()
            if message is not None and message.payload == b"found you":
                run.reached += 1
                run.delivered_in = loop.time() - posted  # the last one's, in the end

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(limit):
                await asyncio.gather(*(arrival(s) for s in subscriptions))
        # Stop offering candidates and let the dials under way end before the nodes go.
        for policy in policies:
            policy.close()
        await until(lambda: all(policy.in_flight == 0 for policy in policies))
        run.datagrams = datagrams.sent
        run.virtual_seconds = loop.time() - started
    return run


async def _eth_only(
    network: MemoryNetwork,
    discovery: Callable[[PrivateKey, str, int, Clock, int], Discovery],
    clock: Clock,
    seed: int,
    index: int,
    run: DiscoveryRun,
) -> AsyncExitStack:
    """Discovery plus a devp2p listener without shh, counting the handshakes that reach it."""
    random_bytes = seeded_random(seed * 1_000_003 + 700_000 + index)
    key = PrivateKey.generate(random_bytes)
    run.other_ids.add(key.node_id)

    def admit(node_id: NodeID, inbound: bool) -> DisconnectReason | None:
        run.handshakes[(node_id, key.node_id)] += 1
        return None

    async def on_link(link: PeerLink) -> None:
        return None

    transport = network.transport()
    listening = await transport.listen(
        key, transport.host, 0, _ETH_ONLY, on_link, admit, random_bytes
    )
    stack = AsyncExitStack()

    async def close() -> None:
        listening.close()
        await listening.wait_closed()

    stack.push_async_callback(close)
    found = discovery(key, transport.host, listening.address[1], clock, index + 1)
    await found.start()
    stack.push_async_callback(found.stop)
    return stack
