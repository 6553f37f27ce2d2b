"""The multi-hop stem (simulation.md §5 item 2; `hush.node.stem_hops`) in the first-arrival
engine: `hush sim darkness --policy hops` (all nodes hush), `hops25` / `hops50` (a quarter /
half of the nodes hush, the rest geth), `hops-tick` (all hush, fluffing on geth's tick).

What it replicates, rule by rule, from the real node (`node/stem_hops.py`, `node/stem_relay.py`,
`node/pool_keeper.py`):

* **Routes**: each hush node's epoch state is a real `StemHops` (the node's own code, fed the
  graph's seeded random bytes): diffuser with probability q = 0.2 (node-level), two relays among
  its hush peers, one route per inbound edge (and one for its own posts), never back the way it
  came when there is another choice. A graph is one epoch: every message of a darkness run sees
  the same routes (epochs last ≈ 10 min; a propagation lasts seconds).
* **Stem hops** go at once (link latency only) on `hushstem`, and only between hush peers. A
  node that forwards one holds it for its fail-safe: exponential, mean `HopsConfig.fail_safe`
  (Prop. 3 sizing, ≈ 1.7 s), drawn again on every visit (`hold` re-arms). When it fires before
  the node pooled the envelope, the node fluffs it. A diffuser (or a node whose only relay is
  the way it came) fluffs at once. A stem copy reaching a node that has it pooled ends there
  (`seen`) — this includes the source.
* **The source** pools its post at once but holds it (the one-hop `Stem`'s embargo table) until
  the first `messages` copy comes back (the echo, from any peer) or its embargo fires: with the
  multi-hop stem `HopsConfig.source_floor` (1.5 s) + Exp(`source_embargo`, 0.2 s); without hush
  peers the one-hop stem's own embargo (1 s + Exp(1 s)), the post going as a normal `messages` packet to one stem
  peer drawn uniformly from all peers (by the real `Stem`); each cut at 10× its mean.
  A multi-hop post is relayed U(0, `HopsConfig.echo_delay`) s after its first echo, a one-hop
  one at once.
* **Fluff** is the node's normal relay: hush's push relay (the default `BroadcastPolicy`: an
  idle link forwards on arrival, latency only) on hush nodes, geth's 300 ms per-link tick with a
  fixed phase on geth nodes (and on every node with `hops-tick`). A fluffing node sends to every
  peer but the one whose `messages` copy it pooled (that peer is known); a stem fluff marks no
  peer known (`keeper.add`), so the stem predecessor gets a copy too.
* **Spies** log the first copy of either kind; with black holes (`with_spies(spies, True)`)
  they drop every stem hop they get but relay fluff copies normally, so only fail-safes and the
  source's embargo rescue such a message.

Two clocks per node: `times` (the first copy, stem or fluff: what a spy logs, and what the
darkness engine's reach uses) and `delivered` (when it entered the node's pool: what a user on
that node sees; a stem node gets its copy before it can read it). The propagation is its own
event-driven Dijkstra with three event kinds (stem hop, fluff copy, timer): a stem node must
relay again when its fluff copy arrives, which `spread.propagate`'s "relay once, on the first
copy" cannot express. `post(source)` runs it, and `relay` replays the resulting first-arrival
tree, so `spread.propagate` returns exactly the same times and senders.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from hush.sim.spread import GETH_TICK_SECONDS, Graph, Post, Send, register_policy
from hush.types import EnvelopeHash, NodeID

if TYPE_CHECKING:
    from hush.node.stem_hops import HopsConfig

__all__ = ["HopsPolicy", "HopsRun", "HopsSpread", "HOPS_POLICIES"]

_STEM, _FLOOD, _TIMER = 0, 1, 2  # event kinds; at equal times a stem hop is handled first
_FLUFF = -1  # a route that says "fluff it"
_OWN = -1  # the route key of a node's own posts
_HORIZON = 3600.0  # seconds: events later than this are dropped (a stuck stem would show)


@dataclass(frozen=True, slots=True)
class HopsRun:
    """One message: `times[v]`/`senders[v]` of v's first copy (stem or fluff; the source: 0 and
    −1), `delivered[v]` (seconds until v pooled it; inf: never), `released` (when the
    source's hold ended: echo or embargo) and every stem hop sent, as (time, inbound, node,
    relay), the inbound −1 for the source's own post."""

    source: int
    times: list[float]
    senders: list[int]
    delivered: list[float]
    released: float
    stem_hops: list[tuple[float, int, int, int]]


@dataclass(slots=True)
class HopsSpread:
    """One graph's epoch under the multi-hop stem (see the module docstring)."""

    graph: Graph
    hush: tuple[bool, ...]
    diffuser: tuple[bool, ...]
    routes: tuple[dict[int, int], ...]
    """Per node: inbound peer (`_OWN` for own posts) → next stem relay (`_FLUFF`: fluff)."""
    stem_peer: tuple[int, ...]
    """The one-hop stem peer of a hush node without hush peers (−1 otherwise)."""
    phases: tuple[tuple[float, ...], ...]
    tick: tuple[bool, ...]
    """Whether a node fluffs on geth's tick (else push)."""
    fail_safe: float
    source_embargo: float
    source_floor: float
    one_hop_embargo: float | None
    """Mean embargo of the one-hop fallback (None: the node's own, 1 s + Exp(1 s))."""
    echo_delay: float
    seed: int
    beta: float
    posters: frozenset[int] | None = None
    """Who posts the measured messages (None: every honest node; partial deployment: the hush
    nodes, as the targets ask how dark a hush user is)."""
    black_holes: frozenset[int] = frozenset()
    _latency: tuple[dict[int, float], ...] = ()
    _kids: list[list[Send]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self._latency:
            g = self.graph
            self._latency = tuple(
                dict(zip(g.neighbours[u], g.latency[u], strict=True)) for u in range(g.nodes)
            )

    def with_spies(self, spies: frozenset[int], black_holes: bool) -> HopsSpread:
        """darkness's hook: the same epoch with `spies` as black holes (or this one)."""
        if not black_holes:
            return self
        return replace(self, black_holes=spies, _kids=[])

    # -- the Spread protocol: post runs the message, relay replays its first-arrival tree ---------

    def post(self, source: int) -> Post:
        run = self.run(source)
        kids: list[list[Send]] = [[] for _ in run.times]
        for v, (at, sender) in enumerate(zip(run.times, run.senders, strict=True)):
            if sender >= 0:
                kids[sender].append((at, v))
        self._kids = kids
        return Post(())

    def relay(self, node: int, held_at: float, sender: int | None) -> Iterable[Send]:
        return self._kids[node]

    # -- the engine --------------------------------------------------------------------------

    def _embargo(self, mean: float | None, floor: float, seed: int) -> float:
        from hush.node.stem import Stem  # noqa: PLC0415 (the node stack loads only when used)

        stem = Stem(random.Random(seed).randbytes)
        stem.post(EnvelopeHash(b""), NodeID(b""), 0.0, mean, floor)
        due = stem.get_timer()
        assert due is not None
        return due

    def run(self, source: int) -> HopsRun:
        graph = self.graph
        n = graph.nodes
        neighbours, latency, phases = graph.neighbours, graph.latency, self.phases
        routes, hush, tick, black = self.routes, self.hush, self.tick, self.black_holes
        link = self._latency
        cycle = GETH_TICK_SECONDS
        times = [math.inf] * n
        senders = [-1] * n
        pooled = [math.inf] * n  # the source's entry: when its hold ended
        deadline = [math.inf] * n
        visits = [0] * n
        hops: list[tuple[float, int, int, int]] = []
        # Fail-safe draws per node and message, fixed whatever the event order (so a run with
        # black holes pairs with the one without); a re-hold draws from the same stream.
        draws = random.Random(self.seed * 1_000_003 + source)
        rate = 1 / self.fail_safe
        first_hold = [draws.expovariate(rate) for _ in range(n)]
        echo_delay, echoed = 0.0, False
        heap: list[tuple[float, int, int, int]] = []
        push, pop = heapq.heappush, heapq.heappop

        def flood(v: int, at: float, known: int) -> None:
            ticks = tick[v]
            for w, lat, phase in zip(neighbours[v], latency[v], phases[v], strict=True):
                if w != known and pooled[w] == math.inf:
                    leaves = at + (phase - at) % cycle if ticks else at
                    push(heap, (leaves + lat, _FLOOD, w, v))

        times[source] = 0.0
        if hush[source]:
            relay = routes[source].get(_OWN)
            if relay is not None:
                hops.append((0.0, _OWN, source, relay))
                push(heap, (link[source][relay], _STEM, relay, source))
                mean: float | None = self.source_embargo
                floor, echo_delay = self.source_floor, self.echo_delay
            else:
                peer = self.stem_peer[source]
                if peer >= 0:
                    push(heap, (link[source][peer], _FLOOD, peer, source))
                mean, floor = self.one_hop_embargo, 0.0
            at = self._embargo(mean, floor, self.seed * 1_000_033 + source)
            push(heap, (at, _TIMER, source, source))
        else:
            pooled[source] = 0.0
            flood(source, 0.0, -1)
        while heap:
            at, kind, v, u = pop(heap)
            if at > _HORIZON:
                break
            if kind != _TIMER and times[v] == math.inf:
                times[v], senders[v] = at, u
            if v == source:
                # An echo (a `messages` copy) or the embargo ends the hold; a stem copy back
                # finds the post pooled and stops.
                if kind == _FLOOD and echo_delay > 0:
                    if not echoed:
                        echoed = True
                        push(heap, (at + draws.uniform(0, echo_delay), _TIMER, v, v))
                elif kind != _STEM and pooled[v] == math.inf:
                    pooled[v] = at
                    flood(v, at, u if kind == _FLOOD else -1)
                continue
            if pooled[v] != math.inf:
                continue
            if kind == _FLOOD:
                pooled[v] = at
                flood(v, at, u)
            elif kind == _STEM:
                if v in black:
                    continue
                relay = routes[v][u]
                if relay == _FLUFF:
                    pooled[v] = at
                    flood(v, at, -1)
                    continue
                hops.append((at, u, v, relay))
                push(heap, (at + link[v][relay], _STEM, relay, v))
                visits[v] += 1
                hold = first_hold[v] if visits[v] == 1 else draws.expovariate(rate)
                deadline[v] = at + hold
                push(heap, (deadline[v], _TIMER, v, v))
            elif at == deadline[v]:  # the current fail-safe (a re-hold superseded older ones)
                pooled[v] = at
                flood(v, at, -1)
        released, pooled[source] = pooled[source], 0.0
        return HopsRun(source, times, senders, pooled, released, hops)


@dataclass(frozen=True, slots=True)
class HopsPolicy:
    """The multi-hop stem on a graph where a fraction `hush_fraction` of the nodes (drawn per
    graph) run hush with `--stem hops` and the rest are geth."""

    name: str = "hops"
    description: str = (
        "multi-hop stem (node/stem_hops.py): q = 0.2, 2 relays, per-inbound-edge routes, "
        "fail-safe ≈ 1.7 s, source hold 1.5 s + Exp(0.2 s), echo delay U(0, 0.3 s); all hush, push fluff"
    )
    hush_fraction: float = 1.0
    fluff_tick: bool = False
    """Hush nodes fluff on geth's 300 ms tick too (the node's `GETH_TICK` relay policy)."""
    hops: HopsConfig | None = None
    """The stem's parameters (None: the real node's defaults, `HopsConfig()`)."""
    one_hop_embargo: float | None = None
    """Mean exponential embargo of the one-hop fallback (None: the node's `Stem` default)."""

    def spread(self, graph: Graph, rng: random.Random) -> HopsSpread:
        # The node stack loads only when a hops policy runs (`hush --help` stays cheap).
        from hush.node.stem import Stem  # noqa: PLC0415
        from hush.node.stem_hops import HopsConfig, StemHops  # noqa: PLC0415

        config = self.hops or HopsConfig()
        n = graph.nodes
        hush_count = round(self.hush_fraction * n)
        chosen = set(range(n)) if hush_count >= n else set(rng.sample(range(n), hush_count))
        hush = tuple(v in chosen for v in range(n))
        phases = tuple(
            tuple(rng.uniform(0, GETH_TICK_SECONDS) for _ in row) for row in graph.neighbours
        )
        ids = [NodeID(v.to_bytes(4, "big")) for v in range(n)]  # sorted as the indices
        index = {node_id: v for v, node_id in enumerate(ids)}
        routes: list[dict[int, int]] = []
        diffuser: list[bool] = []
        stem_peer: list[int] = []
        for v, row in enumerate(graph.neighbours):
            table: dict[int, int] = {}
            peers = sorted(w for w in row if hush[w]) if hush[v] else []
            is_diffuser = False
            one_hop = -1
            if peers:
                state = StemHops(rng.randbytes, config)
                peer_ids: Sequence[NodeID] = [ids[w] for w in peers]
                for inbound in [_OWN, *peers]:
                    route = state.route(None if inbound == _OWN else ids[inbound], peer_ids, 0.0)
                    table[inbound] = _FLUFF if route is None else index[route]
                is_diffuser = state.diffuser
            elif hush[v] and row:
                chosen_id = Stem(rng.randbytes).stem_peer([ids[w] for w in sorted(row)], 0.0)
                assert chosen_id is not None
                one_hop = index[chosen_id]
            routes.append(table)
            diffuser.append(is_diffuser)
            stem_peer.append(one_hop)
        tick = tuple(self.fluff_tick or not h for h in hush)
        flat = [lat for row in graph.latency for lat in row]
        mean_latency = sum(flat) / len(flat) if flat else 0.0
        ticking = sum(tick) / n if n else 0.0
        return HopsSpread(
            graph=graph,
            hush=hush,
            diffuser=tuple(diffuser),
            routes=tuple(routes),
            stem_peer=tuple(stem_peer),
            phases=phases,
            tick=tick,
            fail_safe=config.fail_safe,
            source_embargo=config.source_embargo,
            source_floor=config.source_floor,
            echo_delay=config.echo_delay,
            one_hop_embargo=self.one_hop_embargo,
            seed=rng.getrandbits(63),
            beta=mean_latency + ticking * GETH_TICK_SECONDS / 2,
            posters=None if hush_count >= n else frozenset(chosen),
        )


HOPS_POLICIES = (
    HopsPolicy(),
    HopsPolicy(
        name="hops-tick",
        description="multi-hop stem as `hops`, every node fluffing on geth's 300 ms tick",
        fluff_tick=True,
    ),
    HopsPolicy(
        name="hops25",
        description=(
            "multi-hop stem on 25 % hush nodes (one-hop stem without hush peers, push fluff), "
            "75 % geth 300 ms tick; messages from hush nodes"
        ),
        hush_fraction=0.25,
    ),
    HopsPolicy(
        name="hops50",
        description=(
            "multi-hop stem on 50 % hush nodes (one-hop stem without hush peers, push fluff), "
            "50 % geth 300 ms tick; messages from hush nodes"
        ),
        hush_fraction=0.5,
    ),
)

for _policy in HOPS_POLICIES:
    register_policy(_policy)
