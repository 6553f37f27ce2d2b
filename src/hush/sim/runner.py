"""Run a scenario on real hush nodes over the memory transport, under the virtual clock.

Every node is a real `hush.node.Node` (the cores, relay policy and node code `hush node` runs)
on a `hush.net.memory.MemoryNetwork`, seeded, started by `hush.testing.MemoryCluster`; the whole
run is one `hush.vclock.run_virtual`, so it replays exactly from the scenario's seed. Relay
modes: `push` (hush's `BroadcastPolicy()`), `geth` (`GETH_TICK`), `mix` (a seeded
`geth_fraction` of the nodes on geth's tick). Light nodes (fleet leaves) run `light = true`
with a bloom of their filters' topics.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import random
import resource
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hush.crypto.symmetric import SymmetricKey
from hush.enode import Enode
from hush.net.memory import MemoryNetwork
from hush.node import GETH_TICK, Node, PostRequest, Subscription
from hush.node.relay import BroadcastPolicy
from hush.shh.filters import Filter
from hush.shh.topic import aggregate_blooms, topic_to_bloom
from hush.sim.catchup import Archives, CatchUp
from hush.sim.measure import Tap
from hush.sim.scenario import Scenario
from hush.sim.topologies import Topology, build
from hush.sim.workloads import Plan, plan
from hush.testing import EPOCH, MemoryCluster
from hush.testing.cluster import enode_of
from hush.types import Topic
from hush.vclock import run_virtual

if TYPE_CHECKING:
    from hush.sim.parallel import Worker

__all__ = [
    "COLLECT_EVERY",
    "RunTrace",
    "collect_periodically",
    "collector_for_simulation",
    "run_scenario",
    "simulate",
]

Progress = Callable[[float, float, int], None]
"""progress(virtual seconds done, virtual seconds total, posts so far)."""


@dataclass(slots=True)
class RunTrace:
    """Everything a run recorded, for `hush.sim.results`."""

    scenario: Scenario
    topology: Topology
    plan: Plan
    geth_nodes: frozenset[int]
    taps: list[Tap]
    published: list[tuple[float, int, int, bytes]]
    """(virtual time, publisher, post index, envelope hash)."""
    deliveries: list[tuple[float, int, int]]
    """(virtual time, node, post index)."""
    pool_sizes: list[tuple[float, float, int]]
    """(virtual time, mean, max) pooled envelopes per node."""
    arrivals: list[dict[bytes, tuple[float, int | None, bytes]]]
    """Per node, each envelope's first arrival: (virtual time, the node it came from or None
    if posted there, topic)."""
    topic_names: list[bytes]
    bytes_carried: int
    virtual_seconds: float
    churn: list[tuple[float, int, bool]]
    """(virtual time, node, back online): when churning nodes went offline and came back."""
    skews: list[float]
    """Each node's clock skew, seconds."""
    stem_nodes: frozenset[int]
    """Nodes that send their own posts through a one-hop stem."""
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    peak_rss_mb: float = 0.0
    loop_events: int = 0
    archive_servers: tuple[int, ...] = ()
    catch_ups: list[CatchUp] = field(default_factory=list)
    """Churning nodes' history fetches from the archive servers (`hush.sim.catchup`)."""
    held: frozenset[bytes] = frozenset()
    """Envelope hashes the archive servers committed."""
    parallel: dict[str, Any] | None = None
    """A run on more than one process: its partition and barrier figures (`hush.sim.parallel`)."""


def _churners(
    scenario: Scenario, topology: Topology, rng: random.Random, keep: tuple[int, ...] = ()
) -> list[int]:
    population = [i for i in range(topology.nodes) if i not in keep]  # keep: archive servers
    count = round(scenario.churn.fraction * len(population))
    return sorted(rng.sample(population, count)) if count else []


async def _churn(
    index: int,
    scenario: Scenario,
    topology: Topology,
    nodes: dict[int, Node],
    rng: random.Random,
    log: list[tuple[float, int, bool]],
    offline: set[int],
    back: Callable[[int, float], None] | None = None,
    gone: Callable[[int], None] | None = None,
) -> None:
    """Node `index` goes offline (every link dropped, on both sides: nobody redials; `gone`
    hears of it first) and comes back (the dialling side of each edge to a node that is online
    adds its static peer again; one offline now gets the edge back when it returns), for ever."""
    loop = asyncio.get_running_loop()
    mine = [(a, b) for a, b in topology.edges if index in (a, b)]
    while True:
        await asyncio.sleep(rng.expovariate(1 / scenario.churn.online))
        down = loop.time()
        if gone is not None:
            gone(index)  # its mail-server fetch in flight stops (hush.sim.catchup)
        log.append((down, index, False))
        offline.add(index)
        for a, b in mine:
            await nodes[a].remove_peer(nodes[b].enode)
        await asyncio.sleep(rng.expovariate(1 / scenario.churn.offline))
        log.append((loop.time(), index, True))
        offline.discard(index)
        for a, b in mine:
            if a not in offline and b not in offline:
                nodes[a].add_peer(nodes[b].enode)
        if back is not None:
            back(index, down)  # mail-server catch-up (hush.sim.catchup)


async def simulate(
    scenario: Scenario, progress: Progress | None, part: Worker | None = None
) -> RunTrace:
    """Run the scenario; with `part`, only that worker's nodes (`hush.sim.parallel`): its
    trace then holds its own nodes' records, and deliveries by envelope hash in `part`."""
    loop = asyncio.get_running_loop()
    rng = random.Random(scenario.seed)
    spec = scenario.topology
    topology = build(
        spec.kind,
        spec.nodes,
        rng,
        degree=spec.degree,
        attach=spec.attach,
        light=spec.light,
        uplinks=spec.uplinks,
    )
    work = plan(scenario.workload, topology.nodes, topology.light, rng)
    if scenario.relay == "geth":
        geth = frozenset(range(topology.nodes))
    elif scenario.relay == "mix":
        geth = frozenset(
            rng.sample(range(topology.nodes), round(scenario.geth_fraction * topology.nodes))
        )
    else:
        geth = frozenset()
    keys = [SymmetricKey(rng.randbytes(32)) for _ in range(work.topics)]
    names = [Topic(rng.randbytes(4)) for _ in range(work.topics)]
    taps = [Tap(i) for i in range(topology.nodes)]
    network_seed = scenario.seed if part is None else part.network_seed(scenario.seed)
    network = MemoryNetwork(seed=network_seed, model=scenario.links.model(), rlpx=scenario.rlpx)
    if part is not None:
        part.attach(network)
    here = range(topology.nodes) if part is None else sorted(part.nodes)
    degree_max = max((len(n) for n in topology.neighbours()), default=1)
    published: list[tuple[float, int, int, bytes]] = []
    deliveries: list[tuple[float, int, int]] = []
    pool_sizes: list[tuple[float, float, int]] = []
    index_of: dict[bytes, int] = {}
    offline_log: list[tuple[float, int, bool]] = []
    stem_nodes: set[int] = set()
    archives = Archives(scenario, topology, [tuple(names[t] for t in w) for w in work.interests])
    async with (
        archives,
        MemoryCluster(
            network,
            seed=scenario.seed,
            observers=lambda i: (taps[i], *archives.observers(i)),
            max_peers=degree_max + 2,
            max_peers_per_ip=degree_max + 2,
        ) as cluster,
    ):
        nodes: dict[int, Node] = {}
        skews = [
            rng.uniform(-scenario.skew.seconds, scenario.skew.seconds)
            if scenario.skew.seconds
            else 0.0
            for _ in range(topology.nodes)
        ]
        for i in here:
            cluster.epoch = EPOCH + skews[i]  # this node's wall clock, off by its skew
            options: dict[str, Any] = archives.node_config(i, degree_max + 2)
            if i in geth:
                options["stem"] = False  # geth has no stem
            elif scenario.stem is not None:
                options["stem"] = scenario.stem
            if part is not None:
                options["index"] = i
            node = await cluster.add_node(light=i in topology.light, **options)
            if node.config.stem:
                stem_nodes.add(i)
            node.relay_policy = GETH_TICK if i in geth else BroadcastPolicy()
            archives.attach(i, node)
            if i in topology.light:
                wanted = [topic_to_bloom(names[t]) for t in work.interests[i]]
                if wanted:
                    await node.set_bloom(bytes(aggregate_blooms(*wanted)))
            nodes[i] = node
        for tap in taps:
            tap.counted = False  # the handshakes' status packets are not the workload's traffic
        # Dials start at seeded times over one geth tick, so each link's 300 ms ticker gets
        # its own phase, as in a network whose peers connected at different times (§6.1).
        enodes = [  # parsed (key checked) once each
            Enode.parse(nodes[i].enode) if i in nodes else enode_of(scenario.seed, i)
            for i in range(topology.nodes)
        ]
        if part is not None and any(enodes[i] != enode_of(scenario.seed, i) for i in nodes):
            raise RuntimeError("a node's identity differs from the one the other workers expect")
        for a, b in topology.edges:
            delay = rng.uniform(0, 0.3)  # drawn for every edge, in every worker
            if a in nodes:
                loop.call_later(delay, nodes[a].add_peer, enodes[b])
        watches = dict(zip(nodes, cluster.watches, strict=True))
        for edge in topology.edges:  # both sessions of every link up (`cluster.connected`)
            for one, other in (edge, edge[::-1]):
                if one in watches:
                    active, peer_id = watches[one].active, enodes[other].node_id
                    await watches[one].wait(functools.partial(set.__contains__, active, peer_id))
        if part is not None:
            await part.agree()  # every worker's sessions are up: start at the same instant
        for tap in taps:
            tap.counted = True
            tap.first.clear()

        async def consume(i: int, subscription: Subscription) -> None:
            async for message in subscription:
                if part is not None:  # resolved after the merge (posts of other workers)
                    part.delivered.append((loop.time(), i, bytes(message.envelope_hash)))
                    continue
                m = index_of.get(bytes(message.envelope_hash))
                if m is not None:
                    deliveries.append((loop.time(), i, m))

        readers = [
            asyncio.create_task(
                consume(
                    i, nodes[i].subscribe(Filter(sym_key=keys[t], topics=frozenset({names[t]})))
                )
            )
            for i in nodes
            for t in work.interests[i]
        ]
        start = loop.time()
        duration = max(scenario.duration, work.posts[-1].at + 1 if work.posts else 0.0)

        async def sample() -> None:
            while True:
                sizes = [len(node.pool) for node in nodes.values()]
                pool_sizes.append((loop.time() - start, sum(sizes) / len(sizes), max(sizes)))
                if progress is not None:
                    progress(loop.time() - start, duration, len(published))
                await asyncio.sleep(scenario.sample_every)

        sampler = asyncio.create_task(sample())
        collector = asyncio.create_task(collect_periodically())
        churners = _churners(scenario, topology, rng, archives.indices)
        offline: set[int] = set()
        churn_tasks = [
            asyncio.create_task(
                _churn(
                    i,
                    scenario,
                    topology,
                    nodes,
                    random.Random(rng.random()),
                    offline_log,
                    offline,
                    archives.back,
                    archives.gone,
                )
            )
            for i in churners
        ]
        key_ids: dict[tuple[int, int], str] = {}
        spare = SymmetricKey(rng.randbytes(32))
        for m, post in enumerate(work.posts):
            mine = post.publisher in nodes
            if mine:
                await asyncio.sleep(max(0.0, start + post.at - loop.time()))
            topic_index = post.topic
            key = keys[topic_index] if topic_index >= 0 else spare
            topic = names[topic_index] if topic_index >= 0 else Topic(rng.randbytes(4))
            payload = m.to_bytes(4, "big")[: post.payload] + rng.randbytes(max(0, post.payload - 4))
            if not mine:
                continue  # another worker posts it (both drew its randomness)
            node = nodes[post.publisher]
            slot = (post.publisher, topic_index)
            if slot not in key_ids:
                key_ids[slot] = node.add_sym_key(key.secret)
            request = PostRequest(
                payload=payload,
                topic=topic,
                sym_key_id=key_ids[slot],
                ttl=post.ttl,
                pow_target=0.002,
                pow_time=1.0,
            )
            at = loop.time() - start
            envelope_hash = bytes(await node.post(request))
            index_of[envelope_hash] = m
            published.append((at, post.publisher, m, envelope_hash))
        await asyncio.sleep(max(0.0, start + duration - loop.time()))
        virtual = loop.time() - start
        sampler.cancel()
        collector.cancel()
        for task in churn_tasks:
            task.cancel()
        for reader in readers:
            reader.cancel()
        await archives.finish(start)
        ids = {enode.node_id: i for i, enode in enumerate(enodes)}
        arrivals = [
            {
                h: (t - start, ids.get(source) if source is not None else None, topic)
                for h, (t, source, topic) in tap.first.items()
            }
            for tap in taps
        ]
        deliveries[:] = [(t - start, i, m) for t, i, m in deliveries]
        offline_log[:] = [(t - start, i, up) for t, i, up in offline_log]
        trace = RunTrace(
            scenario,
            topology,
            work,
            geth,
            taps,
            published,
            deliveries,
            pool_sizes,
            arrivals,
            [bytes(n) for n in names],
            network.bytes_carried,
            virtual,
            offline_log,
            skews,
            frozenset(stem_nodes),
            archive_servers=archives.indices,
            catch_ups=archives.records,
            held=archives.held(),
        )
        if part is not None:
            for tap in taps:
                tap.counted = False  # the end of the run: taps stop while the workers agree on it
            part.delivered[:] = [(t - start, i, h) for t, i, h in part.delivered]
            await part.finish(trace)  # (a child worker hands its share over and leaves there)
        return trace


# A simulation allocates millions of long-lived objects (pooled entries, known marks, timers) and
# next to no reference cycles. With CPython's default thresholds (700, 10, 10) the collector took
# 12-27 % of a large run re-scanning them; with (50,000, 20, 100) still 6 % of a 1,000 x 1,000
# worker (3.7 CPU s: 112 young and 9 middle collections, none full), which found 511 cyclic
# objects, all made before the run. A collection also lands in one worker's barrier window and
# not the other's (the critical path of `hush.sim.parallel`). So the collector is off for the
# run, and a full collection comes every `COLLECT_EVERY` virtual seconds (at the same virtual
# instant in every worker of a parallel run): what the run's few cycles hold (4,700-18,000
# objects over a shipped example, its nodes' shutdown included) is freed, in a long run too.
COLLECT_EVERY = 300.0


@contextlib.contextmanager
def collector_for_simulation() -> Iterator[None]:
    """The cyclic collector off for the run (`collect_periodically` collects); as it was after.

    What was made meanwhile goes to the oldest generation unscanned (`gc.freeze` then
    `gc.unfreeze`: two list splices): turned back on with it all still young, the collector's
    first young collection would walk every object of the run (1.1 s after a 1,000 x 300
    worker's run); the next full collection sees them, as it sees any old object."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.unfreeze()
        if enabled:
            gc.enable()


async def collect_periodically(every: float = COLLECT_EVERY) -> None:
    """A full cyclic collection every `every` (virtual) seconds, for ever."""
    while True:
        await asyncio.sleep(every)
        gc.collect()


def run_scenario(scenario: Scenario, progress: Progress | None = None) -> RunTrace:
    """Run `scenario` to the end (deterministic from its seed); wall time and peak RSS too.
    With `scenario.workers` > 1, on that many processes (`hush.sim.parallel`)."""
    if scenario.workers > 1:
        from hush.sim.parallel import run_parallel  # noqa: PLC0415

        return run_parallel(scenario, progress)
    wall, cpu = time.perf_counter(), time.process_time()
    with collector_for_simulation():
        trace: RunTrace = run_virtual(simulate(scenario, progress))
    trace.wall_seconds = time.perf_counter() - wall
    trace.cpu_seconds = time.process_time() - cpu
    trace.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return trace
