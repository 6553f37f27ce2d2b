"""First-arrival propagation of one envelope through a graph under a relay policy's per-hop
timing (simulation.md §6.1): the engine behind `hush sim darkness`.

Running a thousand real nodes for every (graph, source) pair of a darkness estimate would take
hours, and what the adversary of §6.1 sees is only the first copy each node receives: its time
and its sender. First arrivals under a FIFO per-hop timing come from a time-dependent Dijkstra
(a heap of arrival events), so this engine computes exactly those, with per-hop timing that
replicates the real relay policies (`hush.node.relay`): geth's 300 ms per-peer tick with a fixed
random phase per link, push relay forwarding on arrival, synchronous unit hops for validation,
and hush's one-hop stem for the source's own post (`stem`, `lite`: `hush.node.stem`'s rules and
embargo draw) with every other node on geth's tick.
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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from hush.errors import UsageError
from hush.node.stem import DEFAULT_MEAN_EMBARGO, Stem, StemConfig

__all__ = [
    "GETH_TICK_SECONDS",
    "LITE",
    "POLICIES",
    "STEM",
    "STEM_MEAN_EMBARGO",
    "Graph",
    "Post",
    "Propagation",
    "Spread",
    "copies_received",
    "SpreadPolicy",
    "StemSpread",
    "policy_named",
    "propagate",
    "register_policy",
    "stem_embargo",
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


SourceFlood = Callable[[float, int | None], Iterable[Send]]
"""The source's own relay once released: (release time, who sent the echo; None: its timer)."""


@dataclass(frozen=True, slots=True)
class Post:
    """What the source does when it posts: the copies it sends at once, whether its own
    flood waits for the first copy that comes back to it (or a timer event sent to itself),
    and how it floods then (`flood`; None: `Spread.relay`, as any node relays)."""

    sends: Sequence[Send]
    flood_on_echo: bool = False
    flood: SourceFlood | None = None


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
    `senders[v]` (who sent v its first copy; −1 for the source and for unreached nodes);
    `released`: when the source's own flood began (0 without a stem; inf: never)."""

    times: list[float]
    senders: list[int]
    source: int = -1
    released: float = 0.0


def copies_received(spread: Spread, graph: Graph, run: Propagation) -> list[int] | None:
    """Copies of the envelope each node receives (first ones included) under known-peer
    suppression: u sends to v at its departure time unless v's copy reached u before then (u
    then marks v known; this covers u's own first sender too). None for a policy whose spread
    has no `departure(node, k, held_at)` (a flood with per-link departures). A stem source's
    links leave by `source_departure(source, k, released)` where the spread has one."""
    departure = getattr(spread, "departure", None)
    if departure is None:
        return None
    source_departure = getattr(spread, "source_departure", None)
    times = run.times
    index = [{v: k for k, v in enumerate(row)} for row in graph.neighbours]

    def leaves(u: int, k: int) -> float:
        if u == run.source and source_departure is not None:
            return float(source_departure(u, k, run.released))
        return float(departure(u, k, times[u]))

    copies = [0] * graph.nodes
    for u, row in enumerate(graph.neighbours):
        if not math.isfinite(times[u]):
            continue
        for k, v in enumerate(row):
            sent = leaves(u, k)
            if not math.isfinite(sent):
                continue
            back = index[v][u]
            if math.isfinite(times[v]) and leaves(v, back) + graph.latency[v][back] <= sent:
                continue
            copies[v] += 1
    return copies


def propagate(spread: Spread, nodes: int, source: int) -> Propagation:
    """Time-dependent Dijkstra from `source` under `spread`'s timing."""
    times = [math.inf] * nodes
    senders = [-1] * nodes
    done = [False] * nodes
    post = spread.post(source)
    flood = post.flood or (lambda at, sender: spread.relay(source, at, sender))
    times[source] = 0.0
    released = math.inf
    heap: list[tuple[float, int, int]] = []
    for at, to in post.sends:
        heapq.heappush(heap, (at, to, source))
    if not post.flood_on_echo:
        done[source] = True
        released = 0.0
        for at, to in flood(0.0, None):
            heapq.heappush(heap, (at, to, source))
    relay, push, pop = spread.relay, heapq.heappush, heapq.heappop
    while heap:
        at, node, sender = pop(heap)
        if done[node]:
            continue
        done[node] = True
        from_ = None if sender == node else sender
        if node == source:
            released = at
            sends = flood(at, from_)
        else:
            times[node] = at
            senders[node] = sender
            sends = relay(node, at, from_)
        for arrive, to in sends:
            if not done[to] and (arrive < times[to] or to == source):
                push(heap, (arrive, to, node))
    return Propagation(times, senders, source, released)


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


STEM_MEAN_EMBARGO = DEFAULT_MEAN_EMBARGO
"""The one-hop stem's mean embargo, seconds."""


def stem_embargo(rng: random.Random, mean: float = STEM_MEAN_EMBARGO) -> float:
    """One embargo, drawn by the real core (`hush.node.stem.Stem.embargo`: mean/2 fixed plus
    Exp(mean/2), cut at 10 × mean) from `rng`'s bytes."""
    return Stem(rng.randbytes, StemConfig(mean_embargo=mean)).embargo()


@dataclass(frozen=True, slots=True)
class StemSpread:
    """The one-hop stem of `hush.node.stem` / `stem_relay` (simulation.md §5 item 1) in a
    network of geth-tick relays: the source sends its post at once to its stem peer only
    (`stems[source]`, an index into its neighbours), holds it from everyone else until a copy
    comes back from any peer or its embargo (`embargoes[source]`) ends, and then relays it as
    it relays anything: `push_source` — hush's default push relay, at once to every peer that
    has not sent it the envelope (`BroadcastPolicy()`); else on its own geth ticks, as in
    benchmarks/darkness_stem.py where every node runs `GETH_TICK`. Every other node is geth.

    One message per source: each node's embargo is drawn once per graph. `with_stem` gives the
    same network with one source's stem peer and embargo replaced (the intersection attack's
    later posts)."""

    ticks: _TickSpread
    stems: tuple[int, ...]
    embargoes: tuple[float, ...]
    push_source: bool
    beta: float

    def post(self, source: int) -> Post:
        graph = self.ticks.graph
        k = self.stems[source]
        stem, latency = graph.neighbours[source][k], graph.latency[source][k]
        flood: SourceFlood | None = None
        if self.push_source:

            def flood(at: float, sender: int | None) -> Iterable[Send]:
                return self._push(source, at, sender)

        return Post(((latency, stem), (self.embargoes[source], source)), True, flood)

    def _push(self, source: int, at: float, sender: int | None) -> Iterable[Send]:
        graph = self.ticks.graph
        stem = graph.neighbours[source][self.stems[source]]
        return [
            (at + latency, v)
            for v, latency in zip(graph.neighbours[source], graph.latency[source], strict=True)
            if v not in (sender, stem)
        ]

    def relay(self, node: int, held_at: float, sender: int | None) -> Iterable[Send]:
        return self.ticks.relay(node, held_at, sender)

    def departure(self, node: int, k: int, held_at: float) -> float:
        return self.ticks.departure(node, k, held_at)

    def source_departure(self, source: int, k: int, released: float) -> float:
        """When the source sends to its k-th neighbour: the stem peer at once, the others
        once released (inf: never released)."""
        if k == self.stems[source]:
            return 0.0
        if not math.isfinite(released) or self.push_source:
            return released
        return self.ticks.departure(source, k, released)

    def stem_peer(self, source: int) -> int:
        return self.ticks.graph.neighbours[source][self.stems[source]]

    def with_stem(self, source: int, k: int, embargo: float) -> StemSpread:
        stems, embargoes = list(self.stems), list(self.embargoes)
        stems[source], embargoes[source] = k, embargo
        return StemSpread(self.ticks, tuple(stems), tuple(embargoes), self.push_source, self.beta)


@dataclass(frozen=True, slots=True)
class _StemPolicy:
    name: str
    description: str
    push_source: bool
    mean_embargo: float = STEM_MEAN_EMBARGO

    def spread(self, graph: Graph, rng: random.Random) -> Spread:
        ticks = _GethPolicy().spread(graph, rng)
        assert isinstance(ticks, _TickSpread)
        stems = tuple(rng.randrange(len(n)) for n in graph.neighbours)
        embargoes = tuple(stem_embargo(rng, self.mean_embargo) for _ in graph.neighbours)
        return StemSpread(ticks, stems, embargoes, self.push_source, ticks.beta)


STEM = _StemPolicy(
    "stem",
    "hush's default one-hop stem (1 s + Exp(1 s) embargo, release on echo, then push) among geth",
    push_source=True,
)
LITE = _StemPolicy(
    "lite",
    "the one-hop stem with the source on geth's tick too (benchmarks/darkness_stem.py)",
    push_source=False,
)


POLICIES: dict[str, SpreadPolicy] = {}
"""Relay policies by name, for `hush sim darkness --policy`."""


def register_policy(policy: SpreadPolicy) -> None:
    """Make `policy` measurable by name (replaces one of the same name)."""
    POLICIES[policy.name] = policy


for _policy in (_SyncPolicy(), _GethPolicy(), _PushPolicy(), STEM, LITE):
    register_policy(_policy)


def policy_named(name: str) -> SpreadPolicy:
    try:
        return POLICIES[name]
    except KeyError:
        raise UsageError(
            f"unknown relay policy {name!r}: choose one of {', '.join(sorted(POLICIES))}"
        ) from None
