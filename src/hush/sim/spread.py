"""First-arrival propagation of one envelope through a graph under a relay policy's per-hop
timing (simulation.md §6.1): the engine behind `hush sim darkness`.

Running a thousand real nodes for every (graph, source) pair of a darkness estimate would take
hours, and what the adversary of §6.1 sees is only the first copy each node receives: its time
and its sender. First arrivals under a FIFO per-hop timing come from a time-dependent Dijkstra
(a heap of arrival events), so this engine computes exactly those, with per-hop timing that
replicates the real relay policies (`hush.node.relay`): geth's 300 ms per-peer tick with a fixed
random phase per link, push relay forwarding on arrival, synchronous unit hops for validation.
The real-node runner (`hush.sim.runner`) and tests/sim check the per-hop timing against real
nodes at small N. Known-peer suppression never changes a first arrival, so it is ignored.

**Extension point.** A relay policy is a `SpreadPolicy`: a name, a one-line description and
`spread(graph, rng)`, which returns the per-graph `Spread` state (per-link phases, a stem peer
per node, …). A `Spread` says what a node sends when it first holds an envelope (`relay`), and
what the source sends when it posts (`post`); `post` may hold the source's flood back until a
copy comes back to it or until a timer (an event the source sends itself) fires — the shape of
a one-hop stem. `register_policy(policy)` adds it to `POLICIES`, and `hush sim darkness
--policy NAME` measures it.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from hush.errors import UsageError

__all__ = [
    "GETH_TICK_SECONDS",
    "POLICIES",
    "Graph",
    "Post",
    "Propagation",
    "Spread",
    "copies_received",
    "SpreadPolicy",
    "policy_named",
    "propagate",
    "register_policy",
]

GETH_TICK_SECONDS = 0.3
"""geth 1.9's transmissionCycle (whisper-v6.md §3.7)."""

Send = tuple[float, int]
"""(arrival time at the receiver, receiver)."""


@dataclass(frozen=True, slots=True)
class Graph:
    """Adjacency lists and the fixed one-way latency of every directed link (`latency[u][k]`
    is the latency from u to `neighbours[u][k]`)."""

    neighbours: tuple[tuple[int, ...], ...]
    latency: tuple[tuple[float, ...], ...]

    @property
    def nodes(self) -> int:
        return len(self.neighbours)

    @classmethod
    def build(
        cls,
        nodes: int,
        edges: Iterable[tuple[int, int]],
        rng: random.Random,
        latency: tuple[float, float] = (0.02, 0.12),
    ) -> Graph:
        """Latency drawn U(low, high) once per directed link (§6.1: U(20, 120) ms)."""
        adjacency: list[list[int]] = [[] for _ in range(nodes)]
        for a, b in edges:
            adjacency[a].append(b)
            adjacency[b].append(a)
        low, high = latency
        return cls(
            tuple(tuple(n) for n in adjacency),
            tuple(tuple(rng.uniform(low, high) for _ in n) for n in adjacency),
        )


@dataclass(frozen=True, slots=True)
class Post:
    """What the source does when it posts: the copies it sends at once, and whether its own
    flood waits for the first copy that comes back to it (or a timer event sent to itself)."""

    sends: Sequence[Send]
    flood_on_echo: bool = False


class Spread(Protocol):
    """One policy's per-hop timing on one graph."""

    @property
    def beta(self) -> float:
        """Mean seconds per hop (the graph-aware estimator's slope, §6.2)."""
        ...

    def post(self, source: int) -> Post:
        """The source posts at time 0."""
        ...

    def relay(self, node: int, held_at: float, sender: int | None) -> Iterable[Send]:
        """`node` first holds the envelope at `held_at`, from `sender` (None: its own timer)."""
        ...


class SpreadPolicy(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    def spread(self, graph: Graph, rng: random.Random) -> Spread: ...


@dataclass(frozen=True, slots=True)
class Propagation:
    """First arrivals of one envelope: `times[v]` (seconds after the post; inf: never) and
    `senders[v]` (who sent v its first copy; −1 for the source and for unreached nodes)."""

    times: list[float]
    senders: list[int]


def copies_received(spread: Spread, graph: Graph, run: Propagation) -> list[int] | None:
    """Copies of the envelope each node receives (first ones included) under known-peer
    suppression: u sends to v at its departure time unless v's copy reached u before then (u
    then marks v known; this covers u's own first sender too). None for a policy whose spread
    has no `departure(node, k, held_at)` (a flood with per-link departures)."""
    departure = getattr(spread, "departure", None)
    if departure is None:
        return None
    times = run.times
    index = [{v: k for k, v in enumerate(row)} for row in graph.neighbours]
    copies = [0] * graph.nodes
    for u, row in enumerate(graph.neighbours):
        if not math.isfinite(times[u]):
            continue
        for k, v in enumerate(row):
            leaves = departure(u, k, times[u])
            back = index[v][u]
            if math.isfinite(times[v]):
                arrives_back = departure(v, back, times[v]) + graph.latency[v][back]
                if arrives_back <= leaves:
                    continue
            copies[v] += 1
    return copies


def propagate(spread: Spread, nodes: int, source: int) -> Propagation:
    """Time-dependent Dijkstra from `source` under `spread`'s timing."""
    times = [math.inf] * nodes
    senders = [-1] * nodes
    done = [False] * nodes
    post = spread.post(source)
    times[source] = 0.0
    heap: list[tuple[float, int, int]] = []
    for at, to in post.sends:
        heapq.heappush(heap, (at, to, source))
    if not post.flood_on_echo:
        done[source] = True
        for at, to in spread.relay(source, 0.0, None):
            heapq.heappush(heap, (at, to, source))
    relay, push, pop = spread.relay, heapq.heappush, heapq.heappop
    while heap:
        at, node, sender = pop(heap)
        if done[node]:
            continue
        done[node] = True
        if node != source:
            times[node] = at
            senders[node] = sender
        for arrive, to in relay(node, at, None if sender == node else sender):
            if not done[to] and (arrive < times[to] or to == source):
                push(heap, (arrive, to, node))
    return Propagation(times, senders)


@dataclass(frozen=True, slots=True)
class _SyncSpread:
    graph: Graph
    beta: float = 1.0

    def post(self, source: int) -> Post:
        return Post(())

    def relay(self, node: int, held_at: float, sender: int | None) -> Iterable[Send]:
        return [(held_at + 1.0, v) for v in self.graph.neighbours[node] if v != sender]


@dataclass(frozen=True, slots=True)
class _SyncPolicy:
    name: str = "sync"
    description: str = "synchronous flooding, one time unit per hop (the validation case)"

    def spread(self, graph: Graph, rng: random.Random) -> Spread:
        return _SyncSpread(graph)


@dataclass(frozen=True, slots=True)
class _TickSpread:
    graph: Graph
    phases: tuple[tuple[float, ...], ...]
    tick: float
    beta: float

    def post(self, source: int) -> Post:
        return Post(())

    def departure(self, node: int, k: int, held_at: float) -> float:
        """When `node`, holding the envelope since `held_at`, sends it to its k-th neighbour."""
        return held_at + (self.phases[node][k] - held_at) % self.tick

    def relay(self, node: int, held_at: float, sender: int | None) -> Iterable[Send]:
        tick = self.tick
        return [
            (held_at + (phase - held_at) % tick + latency, v)
            for v, phase, latency in zip(
                self.graph.neighbours[node],
                self.phases[node],
                self.graph.latency[node],
                strict=True,
            )
            if v != sender
        ]


def _mean_latency(graph: Graph) -> float:
    flat = [lat for row in graph.latency for lat in row]
    return sum(flat) / len(flat) if flat else 0.0


@dataclass(frozen=True, slots=True)
class _GethPolicy:
    """geth's per-peer ticker: the link u→v sends at the next tick of its own fixed phase
    φ_uv ~ U(0, 300 ms) (set when the peer connected), then the link's latency."""

    name: str = "geth"
    description: str = "geth 1.9's 300 ms per-peer tick, fixed random phase per link"
    tick: float = GETH_TICK_SECONDS

    def spread(self, graph: Graph, rng: random.Random) -> Spread:
        phases = tuple(tuple(rng.uniform(0, self.tick) for _ in n) for n in graph.neighbours)
        return _TickSpread(graph, phases, self.tick, self.tick / 2 + _mean_latency(graph))


@dataclass(frozen=True, slots=True)
class _PushSpread:
    graph: Graph
    beta: float

    def post(self, source: int) -> Post:
        return Post(())

    def departure(self, node: int, k: int, held_at: float) -> float:
        return held_at

    def relay(self, node: int, held_at: float, sender: int | None) -> Iterable[Send]:
        return [
            (held_at + latency, v)
            for v, latency in zip(
                self.graph.neighbours[node], self.graph.latency[node], strict=True
            )
            if v != sender
        ]


@dataclass(frozen=True, slots=True)
class _PushPolicy:
    """hush's push relay (`BroadcastPolicy()`): an idle link forwards on arrival, so a lone
    envelope's hop costs the link latency only."""

    name: str = "push"
    description: str = "hush's push relay: forward on arrival (latency only per hop)"

    def spread(self, graph: Graph, rng: random.Random) -> Spread:
        return _PushSpread(graph, _mean_latency(graph))


@dataclass(frozen=True, slots=True)
class _LiteSpread:
    """One-hop stem (§5 item 1) over geth ticks: the source sends its envelope at once to its
    fixed stem peer only, and floods on the ticks once a copy comes back or its embargo fires."""

    ticks: _TickSpread
    stems: tuple[int, ...]
    embargo: float
    beta: float

    def post(self, source: int) -> Post:
        graph = self.ticks.graph
        k = self.stems[source]
        stem, latency = graph.neighbours[source][k], graph.latency[source][k]
        return Post(((latency, stem), (self.embargo, source)), flood_on_echo=True)

    def relay(self, node: int, held_at: float, sender: int | None) -> Iterable[Send]:
        return self.ticks.relay(node, held_at, sender)


@dataclass(frozen=True, slots=True)
class _LitePolicy:
    name: str = "lite"
    description: str = "one-hop stem to a fixed peer, then geth ticks on echo (embargo 2 s)"
    embargo: float = 2.0

    def spread(self, graph: Graph, rng: random.Random) -> Spread:
        ticks = _GethPolicy().spread(graph, rng)
        assert isinstance(ticks, _TickSpread)
        stems = tuple(rng.randrange(len(n)) for n in graph.neighbours)
        return _LiteSpread(ticks, stems, self.embargo, ticks.beta)


POLICIES: dict[str, SpreadPolicy] = {}
"""Relay policies by name, for `hush sim darkness --policy`."""


def register_policy(policy: SpreadPolicy) -> None:
    """Make `policy` measurable by name (replaces one of the same name)."""
    POLICIES[policy.name] = policy


for _policy in (_SyncPolicy(), _GethPolicy(), _PushPolicy(), _LitePolicy()):
    register_policy(_policy)


def policy_named(name: str) -> SpreadPolicy:
    try:
        return POLICIES[name]
    except KeyError:
        raise UsageError(
            f"unknown relay policy {name!r}: choose one of {', '.join(sorted(POLICIES))}"
        ) from None
